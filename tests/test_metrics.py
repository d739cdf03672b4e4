"""Tests for mathsynth.evaluate.metrics (estimators) and mathsynth.evaluate.breakdown (aggregation)."""

from __future__ import annotations

import doctest
import itertools
import math
import random
import time
from collections import Counter
from fractions import Fraction

import pytest

from mathsynth.evaluate import breakdown, metrics
from mathsynth.evaluate.breakdown import compute_metrics, problem_metrics
from mathsynth.evaluate.metrics import ks_for, maj_at_k, pass_at_k


# ---------------------------------------------------------------- brute-force references
def brute_pass(n: int, c: int, k: int) -> Fraction:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(samples[i] for i in s) for s in subsets), len(subsets))


def brute_vote(keys, verdicts) -> Fraction:
    """Score of one subset's plurality vote, with exact uniform tie-splitting."""
    votes = Counter("<gold>" if v else key for key, v in zip(keys, verdicts, strict=True)
                    if v or key is not None)
    if not votes:
        return Fraction(0)
    top = max(votes.values())
    leaders = [cls for cls, cnt in votes.items() if cnt == top]
    return Fraction(1, len(leaders)) if "<gold>" in leaders else Fraction(0)


def brute_maj(keys, verdicts, k: int) -> Fraction:
    subsets = list(itertools.combinations(range(len(keys)), k))
    total = sum(brute_vote([keys[i] for i in s], [verdicts[i] for i in s]) for s in subsets)
    return total / len(subsets)


def random_config(rng: random.Random, n: int):
    """Random samples: some correct (their key may collide with a wrong key: it must not matter),
    a few wrong classes of varied size, some with no answer."""
    n_classes = rng.randint(1, 4)
    keys, verdicts = [], []
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            keys.append(rng.choice(["gold", "w0", None])), verdicts.append(True)
        elif r < 0.5:
            keys.append(None), verdicts.append(False)
        else:
            keys.append(f"w{min(int(rng.expovariate(0.8)), n_classes - 1)}"), verdicts.append(False)
    return keys, verdicts


# ---------------------------------------------------------------- pass@k
def test_pass_at_k_matches_brute_force():
    for n in range(1, 11):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(float(brute_pass(n, c, k)), abs=1e-12), (n, c, k)


def test_pass_at_k_large_n_matches_exact_combinatorics():
    for n, c, k in [(256, 1, 128), (256, 3, 255), (200, 17, 64), (1000, 5, 500), (64, 0, 64), (64, 64, 1)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)


@pytest.mark.parametrize("args", [(3, 1, 4), (3, 1, 0), (0, 0, 1), (3, 4, 1), (3, -1, 1)])
def test_pass_at_k_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        pass_at_k(*args)


def test_ks_for():
    assert ks_for(1) == [1]
    assert ks_for(2) == [1, 2]
    assert ks_for(5) == [1, 2, 4, 5]
    assert ks_for(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    with pytest.raises(ValueError):
        ks_for(0)


# ---------------------------------------------------------------- maj@k
def test_maj_at_k_matches_brute_force_random():
    rng = random.Random(1234)
    checked = 0
    for _ in range(300):
        n = rng.randint(1, 10)
        keys, verdicts = random_config(rng, n)
        for k in range(1, n + 1):
            expected = float(brute_maj(keys, verdicts, k))
            assert maj_at_k(keys, verdicts, k) == pytest.approx(expected, abs=1e-9), (keys, verdicts, k)
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("keys,verdicts", [
    # many tiny wrong classes (ties with several classes at once)
    (["g", "g", "a", "b", "c", "d", "e", "f", "h", "i"], [True, True] + [False] * 8),
    (["g", "a", "b", "c", "d", "e", "f", "h", "i", "j"], [True] + [False] * 9),
    # one dominant wrong class
    (["g", "g", "g", "a", "a", "a", "a", "a", "a", None], [True] * 3 + [False] * 7),
    # two big wrong classes tying with gold
    (["g", "g", "g", "a", "a", "a", "b", "b", "b", None], [True] * 3 + [False] * 7),
    # only non-voters besides gold
    (["g", None, None, None, None, None], [True] + [False] * 5),
    # correct samples whose key is None or equal to a wrong key still count as gold
    ([None, "a", "a", "a", "b", "b"], [True, True, False, False, False, False]),
])
def test_maj_at_k_matches_brute_force_edge_cases(keys, verdicts):
    for k in range(1, len(keys) + 1):
        assert maj_at_k(keys, verdicts, k) == pytest.approx(float(brute_maj(keys, verdicts, k)), abs=1e-9)


def test_maj_at_k_simple_values_and_errors():
    assert maj_at_k(["a", "b"], [False, False], 2) == 0.0
    assert maj_at_k(["g"] * 4, [True] * 4, 3) == 1.0
    assert maj_at_k(["g", "w"], [True, False], 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        maj_at_k(["g"], [True], 2)
    with pytest.raises(ValueError):
        maj_at_k(["g"], [True], 0)
    with pytest.raises(ValueError):
        maj_at_k(["g", "h"], [True], 1)


def test_maj_at_1_is_fraction_correct():
    # A lone sample wins iff it is correct: a wrong answer loses, a non-answer scores 0.
    rng = random.Random(7)
    for _ in range(100):
        n = rng.randint(1, 40)
        keys, verdicts = random_config(rng, n)
        assert maj_at_k(keys, verdicts, 1) == pytest.approx(sum(verdicts) / n, abs=1e-12)


def test_maj_at_k_large_n_is_a_probability_and_consistent():
    rng = random.Random(99)
    for _ in range(20):
        n = 256
        keys, verdicts = random_config(rng, n)
        values = [maj_at_k(keys, verdicts, k) for k in ks_for(n)]
        assert all(0.0 <= v <= 1.0 for v in values)
        # k = N is deterministic: the plurality of all samples
        assert values[-1] == pytest.approx(float(brute_vote(keys, verdicts)), abs=1e-9)


def test_maj_at_k_medium_n_matches_exact_hypergeometric_sum():
    """N=40 is too big for subset enumeration; enumerate vote-count vectors with exact integers."""
    rng = random.Random(5)
    for _ in range(3):
        keys, verdicts = random_config(rng, 40)
        c = sum(verdicts)
        wrong = Counter(key for key, v in zip(keys, verdicts, strict=True) if not v and key is not None)
        sizes = list(wrong.values())
        z = len(keys) - c - sum(sizes)
        for k in (2, 7, 16, 33):
            total = Fraction(0)
            for counts in itertools.product(*(range(min(s, k) + 1) for s in [c, *sizes])):
                rest = k - sum(counts)
                if rest < 0 or rest > z:
                    continue
                ways = math.comb(z, rest)
                for cnt, size in zip(counts, [c, *sizes], strict=True):
                    ways *= math.comb(size, cnt)
                a, top = counts[0], max(counts[1:], default=0)
                if a > 0 and a >= top:
                    total += Fraction(ways, 1 + sum(1 for b in counts[1:] if b == a))
            expected = total / math.comb(len(keys), k)
            assert maj_at_k(keys, verdicts, k) == pytest.approx(float(expected), abs=1e-9)


def test_maj_at_k_performance_n256():
    rng = random.Random(3)
    keys = ["gold"] * 60 + [None] * 20
    verdicts = [True] * 60 + [False] * 20
    for i in range(40):                       # 40 wrong classes, sizes 1..~20, 176 samples
        size = 1 + int(rng.expovariate(0.25))
        keys += [f"w{i}"] * size
    keys = keys[:256] + [f"tail{j}" for j in range(256 - len(keys))]
    verdicts += [False] * (256 - len(verdicts))
    assert len(keys) == 256
    start = time.perf_counter()
    for k in ks_for(256):
        maj_at_k(keys, verdicts, k)
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------- invariants
def test_estimator_invariants():
    rng = random.Random(11)
    for _ in range(200):
        n = rng.randint(1, 64)
        keys, verdicts = random_config(rng, n)
        c = sum(verdicts)
        ks = ks_for(n)
        passes = [pass_at_k(n, c, k) for k in ks]
        assert passes[0] == pytest.approx(c / n)                    # pass@1 estimate == pass_ratio
        assert all(x <= y + 1e-12 for x, y in itertools.pairwise(passes))   # non-decreasing in k
        assert passes[-1] == float(c > 0)                          # pass@N == oracle
        for k in ks:
            assert maj_at_k(keys, verdicts, k) <= pass_at_k(n, c, k) + 1e-9   # needs a correct sample


# ---------------------------------------------------------------- aggregation
def record(rid, verdicts, keys, meta=None, greedy=None):
    rec = {"id": rid, "verdicts": verdicts, "extracted": list(keys), "keys": list(keys), "other": 1}
    if meta is not None:
        rec["meta"] = meta
    if greedy is not None:
        rec["greedy"] = greedy
    return rec


def test_problem_metrics_values():
    rec = record("p", [True, False, False, False], ["4", "5", "5", None],
                 greedy={"verdict": False, "extracted": None, "key": None})
    m = problem_metrics(rec, [1, 2, 4])
    assert (m["n"], m["c"], m["no_answer"], m["first"], m["greedy"], m["greedy_no_answer"]) == (4, 1, 1, 1.0, 0.0, 1.0)
    assert m["pass@N"] == 1.0 and m["pass_ratio@N"] == 0.25
    assert m["pass@k"]["2"] == pytest.approx(0.5)
    assert m["maj@k"]["4"] == 0.0                       # "5" x2 beats gold x1
    assert m["maj@k"]["2"] == pytest.approx(float(brute_maj(rec["keys"], rec["verdicts"], 2)))
    with pytest.raises(ValueError):
        problem_metrics(record("bad", [True, False], ["1"]), [1])


def test_problem_metrics_falls_back_to_extracted_for_keys():
    rec = {"id": "p", "verdicts": [True, False, False], "extracted": ["1", "2", "2"]}
    assert problem_metrics(rec, [3])["maj@k"]["3"] == 0.0
    rec = {"id": "p", "verdicts": [True, False], "keys": ["1", None]}
    assert problem_metrics(rec, [1])["no_answer"] == 1
    with pytest.raises(ValueError):
        problem_metrics({"id": "p", "verdicts": [True]}, [1])


def test_compute_metrics_overall_and_breakdowns():
    recs = [
        record("a", [True, True, False, False], ["1", "1", "2", None], {"level": 1, "subject": "Algebra", "steps": 2}),
        record("b", [False, False, False, False], ["3", "3", None, None], {"level": 1, "subject": "Geometry"}),
        record("c", [True, False, False, False], ["5", "6", "6", "7"], {"level": 3, "subject": "Algebra", "steps": 4}),
        record("d", [True, True, True, True], ["8"] * 4, {"level": None, "subject": "Algebra", "steps": 2}),
    ]
    m = compute_metrics(recs)
    assert set(m) == {"overall", "by_level", "by_subject", "by_steps", "step_fit"}
    o = m["overall"]
    assert o["n_problems"] == 4 and o["n_samples"] == 4
    assert o["pass@1_source"] == "first_sample" and o["pass@1"] == 0.75
    assert "greedy_no_answer_rate" not in o
    assert list(o["pass@k"]) == ["1", "2", "4"] == list(o["maj@k"])
    assert o["pass@N"] == 0.75
    assert o["pass_ratio@N"] == pytest.approx((0.5 + 0 + 0.25 + 1) / 4)
    assert o["pass@k"]["1"] == pytest.approx(o["pass_ratio@N"])
    assert o["pass@k"]["4"] == pytest.approx(o["pass@N"])
    assert o["no_answer_rate"] == pytest.approx(3 / 16)
    expected_maj4 = (1.0 + 0.0 + 0.0 + 1.0) / 4                      # "c": "6" x2 beats gold x1
    assert o["maj@k"]["4"] == pytest.approx(expected_maj4)
    expected_maj2 = sum(float(brute_maj(r["keys"], r["verdicts"], 2)) for r in recs) / 4
    assert o["maj@k"]["2"] == pytest.approx(expected_maj2)

    assert list(m["by_level"]) == ["1", "3", "unknown"]
    lvl1 = m["by_level"]["1"]
    assert lvl1["n_problems"] == 2 and lvl1["pass@N"] == 0.5 and lvl1["no_answer_rate"] == pytest.approx(3 / 8)
    assert m["by_level"]["unknown"]["pass@1"] == 1.0
    assert list(m["by_subject"]) == ["Algebra", "Geometry"]
    assert m["by_subject"]["Algebra"]["n_problems"] == 3
    assert list(m["by_steps"]) == ["2", "4", "unknown"]
    assert m["by_steps"]["unknown"]["n_problems"] == 1 and m["by_steps"]["unknown"]["pass@N"] == 0.0
    for section in ("overall",):
        for value in [m[section]["pass@1"], *m[section]["pass@k"].values(), *m[section]["maj@k"].values()]:
            assert 0.0 <= value <= 1.0


def test_compute_metrics_greedy_and_missing_meta():
    g_ok = {"verdict": True, "extracted": "1", "key": "1"}
    g_none = {"verdict": False, "extracted": None, "key": None}
    recs = [record("a", [False, True], ["2", "1"], greedy=g_ok), record("b", [True, True], ["1", "1"], greedy=g_none)]
    m = compute_metrics(recs)
    assert set(m) == {"overall"}                        # no meta -> no breakdowns
    assert m["overall"]["pass@1_source"] == "greedy"
    assert m["overall"]["pass@1"] == 0.5
    assert m["overall"]["greedy_no_answer_rate"] == 0.5
    # one record without greedy -> fall back to the first sample everywhere
    recs[1].pop("greedy")
    m = compute_metrics(iter(recs))
    assert m["overall"]["pass@1_source"] == "first_sample" and m["overall"]["pass@1"] == 0.5


def test_compute_metrics_differing_n_and_explicit_ks():
    recs = [record("a", [True] * 3 + [False] * 5, ["1"] * 3 + ["2"] * 5, {"level": 2}),
            record("b", [False, True], ["0", "1"], {"level": 2})]
    m = compute_metrics(recs)
    assert m["overall"]["n_samples"] == {"min": 2, "max": 8}
    assert list(m["overall"]["pass@k"]) == ["1", "2"]
    assert m["overall"]["pass_ratio@N"] == pytest.approx((3 / 8 + 1 / 2) / 2)
    m = compute_metrics(recs, ks=[4, 1, 2, 2])          # k=4 exceeds the smallest N: dropped
    assert list(m["overall"]["maj@k"]) == ["1", "2"]
    assert m["by_level"]["2"]["n_samples"] == {"min": 2, "max": 8}
    with pytest.raises(ValueError):
        compute_metrics(recs, ks=[0])


def test_compute_metrics_rejects_empty_input():
    with pytest.raises(ValueError, match="no sample records"):
        compute_metrics([])
    with pytest.raises(ValueError):
        compute_metrics([record("a", [], [])])


def test_doctests():
    for module in (metrics, breakdown):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_maj_at_k_large_n_no_overflow():
    """N=2500 overflows float binomials; the log-scaled DP must still match exact integers."""
    c, w1, w2, z, k = 600, 700, 500, 700, 60
    total = Fraction(0)
    for a in range(1, k + 1):
        for b1 in range(min(a, k - a) + 1):
            for b2 in range(min(a, k - a - b1) + 1):
                ways = math.comb(c, a) * math.comb(w1, b1) * math.comb(w2, b2) * math.comb(z, k - a - b1 - b2)
                total += Fraction(ways, 1 + (b1 == a) + (b2 == a))
    expected = float(total / math.comb(c + w1 + w2 + z, k))
    keys = ["g"] * c + ["x"] * w1 + ["y"] * w2 + [None] * z
    verdicts = [True] * c + [False] * (w1 + w2 + z)
    assert maj_at_k(keys, verdicts, k) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert 0.0 <= maj_at_k(keys, verdicts, len(keys) // 2) <= 1.0


def test_error_types_and_step_fit_on_real_answers():
    """Error shares come from the real step checker; the step fit recovers a known per-step accuracy."""
    from mathsynth.evaluate.errors import fit_step_accuracy

    def rec(rid, comps, verdicts, extracted, steps):
        return {"id": rid, "meta": {"steps": steps}, "completions": comps, "verdicts": verdicts,
                "extracted": extracted, "keys": extracted}

    recs = [
        rec("a", ["3 * 4 = 12, 12 + 5 = 17. The answer is: 17.", "3 * 4 = 12, 12 + 5 = 18. The answer is: 18."],
            [True, False], ["17", "18"], 2),
        rec("b", ["10 - 4 = 6. The answer is: 6.", "Not sure."], [False, False], ["6", None], 3),
    ]
    m = compute_metrics(recs)
    assert m["overall"]["errors"] == {"correct": 0.25, "calculation": 0.25, "reasoning": 0.25, "truncated": 0.0,
                                      "no_answer": 0.25}
    assert m["by_steps"]["2"]["errors"]["calculation"] == 0.5
    assert sum(m["by_steps"]["3"]["errors"].values()) == 1.0
    # exact per-step accuracy 0.8: 25 samples per problem, 20 right at 1 step and 16 = 25 * 0.8**2 at 2
    pts = [(s, 20 if s == 1 else 16, 25) for s in (1, 2) for _ in range(50)]
    fit = fit_step_accuracy(pts)
    assert abs(fit["acc_step"] - 0.8) < 1e-4 and fit["rmse"] < 1e-4
    assert fit_step_accuracy([(2, 0, 4)]) is None
