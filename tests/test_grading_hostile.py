"""Hostile model outputs: every one returns within a bounded time, is graded wrong, runs nothing."""

from __future__ import annotations

import time

import pytest

from mathsynth.grading import Grader, extract_with_rule, grade, is_equivalent

TIMEOUT = 2.0
# A call may also wait for a replacement worker to start (a fresh interpreter importing sympy).
BOUND = TIMEOUT + 8.0


@pytest.fixture(scope="module")
def grader():
    with Grader(workers=2, timeout=TIMEOUT) as g:
        yield g


def _timed(fn, *args, **kwargs):
    t0 = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - t0


HUGE_EXPRESSIONS = [
    "10^10^10",
    "9^9^9^9",
    "10^{10^{10}}",
    "2^{2^{2^{100}}}",
    "10^{10^{8}}",
    "1000000!",
    "(10^{100})!",
    "10!!!!",
    "\\frac{1}{0}",
    "0^{-1}",
    "\\infty - \\infty",
    "nan",
]


@pytest.mark.parametrize("pred", HUGE_EXPRESSIONS)
def test_huge_expressions_are_bounded_and_wrong(grader, pred):
    verdicts, dt = _timed(grader.equivalent_many, [("5", pred)])
    assert verdicts == [False]
    assert dt < BOUND, f"{pred!r} took {dt:.1f}s"


def _code_strings(marker):
    return [
        f"__import__('os').system('touch {marker}')",
        f"eval(\"__import__('os').system('touch {marker}')\")",
        f"exec('import os; os.system(\"touch {marker}\")')",
        f"(lambda: __import__('os').system('touch {marker}'))()",
        f"().__class__.__base__.__subclasses__()  # touch {marker}",
        f"$\\text{{__import__('os').system('touch {marker}')}}$",
        f"\\boxed{{__import__('os').system('touch {marker}')}}",
    ]


def test_python_code_is_never_executed(grader, tmp_path):
    marker = tmp_path / "pwned"
    codes = _code_strings(marker)
    verdicts, dt = _timed(grader.equivalent_many, [("0", c) for c in codes])
    assert verdicts == [False] * len(codes)
    responses = [f"The answer is: {c}" for c in codes] + [f"\\boxed{{{c}}}" for c in codes]
    results, dt2 = _timed(grader.grade_many, [("0", r) for r in responses], benchmark="math")
    assert not any(r.correct for r in results)
    assert not is_equivalent("0", codes[0])
    assert not grade("0", responses[0]).correct
    assert dt + dt2 < 2 * BOUND
    assert not marker.exists()


def test_one_megabyte_strings(grader):
    big = "x" * 1_000_000
    digits = "1" * 1_000_000
    cases = [
        ("5", big),
        ("5", digits),  # last_number extracts a 10**6-digit number: length guard
        ("5", "\\boxed{" + big + "}"),
        ("5", "The answer is " + big),
        ("5", "#### " + digits),
    ]
    results, dt = _timed(grader.grade_many, cases)
    assert [r.correct for r in results] == [False] * len(cases)
    assert dt < 10.0
    # A long response whose final answer is short is still graded normally.
    (ok,), dt = _timed(grader.grade_many, [("5", "blah " * 200_000 + "The answer is 5")])
    assert ok.correct and dt < 5.0
    assert grader.equivalent_many([("5", big)]) == [False]
    assert grader.stats["too_long"] >= 4


def test_ten_thousand_nested_braces(grader):
    nested = "{" * 10_000 + "5" + "}" * 10_000
    responses = [
        "\\boxed{" + nested + "}",
        "\\boxed{" + "{" * 10_000 + "5",  # unbalanced
        "The answer is $\\frac" + "{1}" * 10_000 + "$",
        "\\frac{" * 10_000,
    ]
    for r in responses:
        (res,), dt = _timed(grader.grade_many, [("5", r)], benchmark="math")
        assert not res.correct
        assert dt < BOUND


def test_deep_nesting_reaches_math_verify_and_is_bounded():
    # With the length guard lifted the parser itself sees 3,000 nested braces / fractions.
    with Grader(workers=1, timeout=TIMEOUT, max_len=100_000) as g:
        preds = ["{" * 3000 + "5" + "}" * 3000, "\\frac{1}{" * 3000 + "2" + "}" * 3000,
                 "\\sqrt{" * 3000 + "2" + "}" * 3000]
        for p in preds:
            verdicts, dt = _timed(g.equivalent_many, [("7", p)])
            assert verdicts == [False]
            assert dt < BOUND


@pytest.mark.parametrize("response", [
    "\\boxed{",
    "so the answer is \\boxed{5",
    "\\boxed{\\frac{1}{2}",
    "The answer is $\\boxed{5",
    "\\boxed{5} and then \\boxed{",
])
def test_unbalanced_boxed_is_wrong(grader, response):
    assert extract_with_rule(response, benchmark="math") == (None, None)
    (res,), dt = _timed(grader.grade_many, [("5", response)], benchmark="math")
    assert not res.correct and res.extracted is None
    assert dt < 1.0


def test_stuck_worker_is_killed_and_pool_keeps_working(grader):
    pool = grader._pool
    restarted = pool.stats["workers_restarted"]
    timeouts = grader.stats["timeouts"]
    t0 = time.monotonic()
    out = pool.run([("sleep", (60,)), ("sleep", (0,)), ("equiv", ("1", "1", 1))], timeout=1.0)
    assert time.monotonic() - t0 < 5.0
    assert out[0] == ("timeout", None)
    assert out[1] == ("ok", True) and out[2] == ("ok", True)
    assert pool.stats["workers_restarted"] == restarted + 1
    assert grader.stats["timeouts"] == timeouts + 1
    # The replacement worker serves real work.
    assert grader.equivalent_many([("2\\sqrt{2}", "\\sqrt{8}"), ("\\sqrt{2}", "\\sqrt{3}")]) == [True, False]


def test_crashed_worker_is_replaced(grader):
    pool = grader._pool
    crashes = grader.stats["crashes"]
    out = pool.run([("crash", (3,)), ("pid", ())], timeout=5.0)
    assert out[0] == ("crash", None) and out[1][0] == "ok"
    assert grader.stats["crashes"] == crashes + 1
    assert grader.equivalent_many([("x^2", "x\\cdot x")]) == [True]


def test_timeout_verdict_is_wrong_and_cached(monkeypatch):
    # Inject a worker task that hangs in place of the real comparison: the parent kills the
    # worker, the verdict is "wrong", and the same pair is not re-run (verdict cache).
    with Grader(workers=1, timeout=1.0) as g:
        real_submit = g._pool.submit

        def hanging_submit(op, args, *, timeout, group=None):
            return real_submit("sleep", (60,), timeout=timeout, group=group)

        monkeypatch.setattr(g._pool, "submit", hanging_submit)
        t0 = time.monotonic()
        # symbolic (letters), so no in-process fast path decides it: it must go to a worker
        assert g.equivalent_many([("x^2+1", "1+x^2")] * 3) == [False] * 3
        assert g.equivalent_many([("x^2+1", "1 + x^2")]) == [False]
        assert time.monotonic() - t0 < BOUND
        stats = g.stats
        assert stats["worker_calls"] == 1 and stats["timeouts"] == 1
        assert stats["workers_restarted"] == 1 and stats["cache_hits"] == 3
        monkeypatch.undo()
        assert g.equivalent_many([("\\sqrt{5}", "\\sqrt{5}"), ("x", "2x")]) == [True, False]


def test_none_and_non_string_predictions(grader):
    assert grader.equivalent_many([("5", None), ("5", "")]) == [False, False]  # type: ignore[list-item]
    assert not is_equivalent("5", None)  # type: ignore[arg-type]
    assert not grade("5", "").correct
