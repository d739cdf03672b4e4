"""Equivalence tables (gold, prediction, expected), fast-path agreement with math-verify, keys."""

from __future__ import annotations

import pytest

from mathsynth.grading import Grader, GradeResult, answer_key, grade, is_equivalent
from mathsynth.grading.equivalence import fast_verdict, normalize, prepare_gold, to_latex_env


@pytest.fixture(scope="module")
def grader():
    with Grader(workers=2, timeout=5.0) as g:
        yield g


CASES = {
    "integers_commas_units_dollars": [
        ("1000", "1,000", True),
        ("1000", "1{,}000", True),
        ("1000", "\\$1,000", True),
        ("1000", "$1000", True),
        ("1000", "1000.0", True),
        ("1000", "100", False),
        ("1,000", "1,001", False),
        ("27648", "27,648", True),
        ("5", "5\\text{ cm}", True),
        ("15\\mbox{ cm}^2", "15", True),
        ("12", "12 \\text{inches}", True),
        ("\\$18.90", "18.90", True),
        ("\\$18.90", "18.9", True),
        ("18.90", "19.80", False),
        ("-5", "−5", True),  # unicode minus
        ("007", "7", True),
        ("7", "-7", False),
    ],
    "fractions_vs_decimals": [
        ("\\frac{1}{2}", "0.5", True),
        ("\\frac12", "1/2", True),
        ("\\dfrac{3}{4}", "0.75", True),
        ("\\frac{2}{4}", "\\frac{1}{2}", True),
        ("-\\frac{1}{2}", "\\frac{-1}{2}", True),
        ("\\frac{3}{2}", "1.5", True),
        ("\\frac{3}{2}", "\\frac{2}{3}", False),
        ("\\frac{1}{3}", "0.333333", True),  # math-verify compares decimals at 6 places
        ("\\frac{1}{3}", "0.33", False),
        ("2\\frac{1}{2}", "2.5", True),  # mixed number
        ("0.1", "\\frac{1}{10}", True),
        ("\\frac{11}{36}", "\\frac{11}{35}", False),
    ],
    "radicals": [
        ("2\\sqrt{2}", "\\sqrt{8}", True),
        ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
        ("\\sqrt{2}", "2^{1/2}", True),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True),
        ("16 \\sqrt{3}", "16\\sqrt3", True),
        ("\\sqrt{3}", "\\sqrt{2}", False),
        ("1+2\\sqrt{3}", "1+\\sqrt{12}", True),
        ("1+2\\sqrt{3}", "2+\\sqrt{3}", False),
    ],
    "pi": [
        ("2\\pi", "\\pi \\cdot 2", True),
        ("\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", True),
        ("\\pi", "3.14", False),
        ("6\\pi", "6 \\pi", True),
        ("\\frac{\\pi}{3}", "\\frac{\\pi}{6}", False),
    ],
    "intervals_and_unions": [
        ("(1,2)", "(1, 2)", True),
        ("[1,2)", "[1, 2)", True),
        ("[1,2)", "(1,2]", False),
        ("(5,\\infty)", "\\left(5, \\infty\\right)", True),
        ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", True),
        ("(-\\infty, 2) \\cup (3, \\infty)", "(3, \\infty) \\cup (-\\infty, 2)", True),
        ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 2] \\cup (3, \\infty)", False),
        ("(2,12) \\cup (12,102)", "(2,102)", False),
    ],
    "sets_and_solution_lists": [
        ("-2,1", "1,-2", True),
        ("-2,1", "1, -2", True),
        ("\\{1,2,3\\}", "\\{3,2,1\\}", True),
        ("1,2", "1,3", False),
        ("-2,1", "-2", False),
    ],
    "tuples": [
        ("(15,-29)", "(15, -29)", True),
        ("(15,-29)", "(-29,15)", False),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", True),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{3})", False),
        ("(1,2,3)", "(1, 2, 3)", True),
    ],
    "matrices": [
        ("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
         "\\begin{pmatrix}-1&0\\\\0&-1\\end{pmatrix}", True),
        ("\\begin{pmatrix} -18 \\\\ -49 \\\\ 96 \\end{pmatrix}",
         "\\begin{bmatrix} -18 \\\\ -49 \\\\ 96 \\end{bmatrix}", True),
        ("\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}",
         "\\begin{pmatrix} 0.2 \\\\ -3.6 \\end{pmatrix}", True),
        ("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
         "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", False),
    ],
    "degrees": [
        ("30^\\circ", "30", True),
        ("76^\\circ", "76^{\\circ}", True),
        ("30", "30°", True),
        ("45^\\circ", "135^\\circ", False),
    ],
    "percents": [
        ("50\\%", "50", True),  # math-verify accepts the bare number ...
        ("50\\%", "0.5", True),  # ... and the fraction
        ("50\\%", "50\\%", True),
        ("50\\%", "40\\%", False),
        ("10\\%", "\\frac{1}{10}", True),
    ],
    "text_answers": [
        ("\\text{Monday}", "Monday", True),
        ("\\text{Monday}", "\\text{monday}", True),
        ("\\text{Evelyn}", "Evelyn", True),
        ("\\text{Monday}", "\\text{Tuesday}", False),
        ("\\text{east}", "\\text{west}", False),
    ],
    "multiple_choice": [
        ("\\text{(C)}", "C", True),
        ("C", "(C)", True),
        ("B", "\\textbf{(B)}", True),
        ("A", "B", False),
        ("\\text{(A)}", "\\text{(D)}", False),
    ],
    "expressions_and_equations": [
        ("x^5 - x^4 + x^3 - x^2 + x - 1", "x^5-x^4+x^3-x^2+x-1", True),
        ("x^2+1", "1+x^2", True),
        ("6+9i", "9i+6", True),
        ("1+2i", "1-2i", False),
        ("x=5", "5", True),
        ("y = 2x + 3", "y=2x+3", True),
        ("2x+3", "2x+4", False),
    ],
    "spacing_and_delimiters": [
        ("3", "\\left.3\\right.", True),  # math-verify alone parses nothing here
        ("1000", "1\\,000", True),  # thin-space thousands separator
        ("1000", "1\\!000", True),
        ("\\frac{1}{2}", "\\displaystyle\\frac{1}{2}", True),
        ("5", "", False),
        ("5", "   ", False),
    ],
}
TABLE = [(cat, g, p, e) for cat, rows in CASES.items() for g, p, e in rows]


@pytest.mark.parametrize(("category", "gold", "pred", "expected"), TABLE,
                         ids=[f"{c}:{g}|{p}" for c, g, p, _ in TABLE])
def test_equivalence_table(grader, category, gold, pred, expected):
    assert grader.equivalent_many([(gold, pred)]) == [expected]


def test_whole_table_in_one_batch_and_cache(grader):
    pairs = [(g, p) for _, g, p, _ in TABLE]
    expected = [e for *_, e in TABLE]
    assert grader.equivalent_many(pairs) == expected
    before = grader.stats["cache_hits"]
    assert grader.equivalent_many(pairs) == expected
    assert grader.stats["cache_hits"] - before >= len([p for p in pairs if p[1].strip()]) - 1


# Numeric pairs the fast path decides; each must match math-verify run on the raw strings.
FAST_AGREEMENT = [
    ("1000", "1,000"), ("1000", "1000.0"), ("1000", "\\$1000"), ("5", "5\\text{ cm}"),
    ("30^\\circ", "30"), ("\\frac{1}{2}", "0.5"), ("\\frac{3}{4}", "3/4"), ("-\\frac{1}{2}", "-0.5"),
    ("10", "10.0"), ("2.5", "5/2"), ("0", "-0"), ("007", "7"), ("3", "4"), ("0.25", "0.3"),
    ("\\frac{1}{3}", "0.34"), ("123456789", "123456789.0"), ("1.50", "1.5"), ("-7", "7"),
    ("\\$18.90", "18.9"), ("12", "12.5"), ("1/2", "2/4"), ("\\frac12", "\\frac{1}{2}"),
]


@pytest.mark.parametrize(("gold", "pred"), FAST_AGREEMENT)
def test_fast_path_agrees_with_math_verify(gold, pred):
    from math_verify import parse, verify

    fast = fast_verdict(prepare_gold(gold), normalize(pred))
    assert fast is not None, "expected the fast path to decide this pair"
    assert fast == verify(parse(to_latex_env(gold)), parse(to_latex_env(pred)))


# Decimals near a value, percentages and rational constants are decided exactly now (see
# tests/test_grading_traps.py and tests/test_grading_notations.py).
@pytest.mark.parametrize(("gold", "pred"), [
    ("2\\frac{1}{2}", "2.5"),  # mixed numbers: defer
    ("\\sqrt{4}", "2"),
])
def test_fast_path_defers_when_unsure(gold, pred):
    assert fast_verdict(prepare_gold(gold), normalize(pred)) is None


def _mv_verdict(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    return verify(parse(to_latex_env(prepare_gold(gold))), parse(to_latex_env(normalize(pred))))


# Expressions in single-letter variables, "\pm" pairs and mixed numbers that the evaluator in
# mathsynth.grading.numeric calls different without sympy; math-verify must agree on each.
FAST_DIFFERENT = [
    ("6r^2-4r-24", "6r^5-4r-24"), ("x^5-x^4+x^3-x^2+x-1", "-x^5-x^4+x^3-x^2+x-1"),
    ("\\frac{11+9a}{20}", "\\frac{11+9a}{26}"), ("(a+5)(b+2)", "(a+5)(b+0)"), ("2k+2", "2k+3"),
    ("p-q", "-p-q"), ("4", "x^2"), ("x^2", "4"), ("x+1", "y+1"), ("n^{2}+1", "n^{3}+1"),
    ("2^x", "x^2"), ("\\sqrt{x^2+1}", "x+1"), ("\\frac{1}{2x}", "\\frac{x}{2}"),
    ("1/2x", "\\frac{x}{2}"),  # implicit products bind tighter than "/": 1/(2x)
    ("(x,y,1)", "(x,y,2)"), ("\\{x,1\\}", "\\{x,2\\}"), ("x, y", "x, z"),
    ("3\\pm 2\\sqrt{2}", "8\\pm 2\\sqrt{2}"), ("1\\pm\\sqrt{19}", "-1\\pm\\sqrt{19}"),
    ("\\{1\\pm\\sqrt{5},-2\\}", "\\{1\\pm\\sqrt{5},-7\\}"), ("(3,\\frac{\\pi}{2})", "3\\pm 2\\sqrt{2}"),
    ("\\pm 2", "2"), ("2", "\\pm 2"), ("x\\pm 1", "x+1"), ("\\{1,2\\}", "\\{1,3\\}"),
    ("1\\frac{4}{5}", "-1\\frac{4}{5}"), ("137\\frac{1}{2}", "37"),
    ("2(3)", "6"),  # math-verify reads an integer times a positive rational as a mixed number: 5
    ("[\\frac{\\pi^2}{8},\\frac{5\\pi^2}{4}]", "[\\frac{\\pi^2}{8},\\frac{0\\pi^2}{4}]"),
]


@pytest.mark.parametrize(("gold", "pred"), FAST_DIFFERENT)
def test_fast_path_rejects_expressions_like_math_verify(gold, pred):
    assert fast_verdict(prepare_gold(gold), normalize(pred)) is False
    assert _mv_verdict(gold, pred) is False


# Forms the fast path must leave to math-verify (its verdict in the third column): equal
# expressions, and forms math-verify reads specially (function calls, units, differentials,
# mixed numbers, empty intervals, float cancellation, e, "ab" names). Equations, "i" and spacing
# after control words ("\\pm 2") are decided now: see tests/test_grading_fastpaths.py.
MUST_DEFER = [
    ("x^2-1", "(x-1)(x+1)", True), ("x^2+1", "1+x^2", True), ("2\\sqrt{x}", "\\sqrt{4x}", True),
    ("\\frac{1}{2x}", "1/2x", True), ("1/2\\pi", "\\frac{1}{2\\pi}", True),
    ("x\\pm 1", "\\{x+1,x-1\\}", True),
    ("\\pm 2", "-2,2", True), ("2(3)", "5", True), ("2\\frac{1}{2}", "\\frac{5}{2}", True),
    ("-1\\frac{4}{5}", "-\\frac{9}{5}", True),
    ("(3,1]", "(5,2]", True), ("2m", "2", True),
    ("ab", "ba", True), ("\\pi(2)^2", "\\pi(2)\\cdot\\pi(2)", True), ("x(3)", "3x", False),
    ("dx", "xd", False), ("e^2", "e\\cdot e", True),
    ("(x,1)", "(x,2)", False), ("x", "\\frac{2x}{2}", False),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), MUST_DEFER)
def test_fast_path_defers_on_special_forms(gold, pred, expected):
    assert fast_verdict(prepare_gold(gold), normalize(pred)) is None
    assert _mv_verdict(gold, pred) is expected


def test_clearly_different_never_contradicts_the_tables():
    from mathsynth.grading.numeric import clearly_different

    for _, gold, pred, expected in TABLE:
        if clearly_different(prepare_gold(gold), normalize(pred)):
            assert not expected, (gold, pred)


KEYS = [
    (["1,000", "1000", "1000.0", "$1000", "\\$1{,}000", "1000."], "1000"),
    (["\\frac{1}{2}", "\\dfrac{1}{2}", "0.5", "1/2", "2/4"], "1/2"),
    (["-3", "−3", "-3.00"], "-3"),
    (["30^\\circ", "30", "30°"], "30"),
    (["\\left( 1, 2 \\right)", "(1,2)", "( 1 , 2 )"], "(1,2)"),
    (["\\text{(B)}", "(B)"], "(B)"),
]


@pytest.mark.parametrize(("variants", "key"), KEYS)
def test_answer_key_groups_obvious_equals(variants, key):
    assert {answer_key(v) for v in variants} == {key}


def test_answer_key_none_and_distinct():
    assert answer_key(None) is None
    assert answer_key("3") != answer_key("4")
    assert answer_key("50\\%") != answer_key("50")


def test_module_level_functions():
    assert is_equivalent("1000", "1,000")
    assert is_equivalent("2\\sqrt{2}", "\\sqrt{8}")
    assert not is_equivalent("2", "3")
    assert not is_equivalent("2", "x" * 5000)  # length guard
    r = grade("\\frac{3}{4}", "So $\\boxed{\\dfrac{3}{4}}$.", benchmark="math")
    assert r == GradeResult(correct=True, extracted="\\dfrac{3}{4}", rule="boxed", key="3/4")
    assert grade("5", "I don't know.") == GradeResult(False, None, None, None)


def test_grade_many(grader):
    items = [
        ("72", "48 + 24 = 72\n#### 72"),
        ("72", "The answer is: 70"),
        ("\\frac{\\pi}{2}", "angle is $\\boxed{\\frac{1}{2}\\pi}$"),
        ("5", "no idea"),
        ("18", "Janet earns 9 * 2 = $18 dollars"),
    ]
    res = grader.grade_many(items, benchmark="gsm8k")
    assert [r.correct for r in res] == [True, False, True, False, True]
    assert [r.rule for r in res] == ["gsm8k_hash", "answer_is", "boxed", None, "last_number"]
    assert res[1].key == "70" and res[3].key is None
    stats = grader.stats
    for k in ("cache_hits", "fast_path_hits", "timeouts", "workers_restarted", "items"):
        assert k in stats
