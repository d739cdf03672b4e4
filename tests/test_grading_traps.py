"""False-positive traps: different values must never be graded equal, least of all through rounding.

Each row is (gold, prediction, who else gets it wrong). ``mv``: plain math-verify
(``verify(parse("$g$"), parse("$p$"))``, math-verify 0.9) calls the pair equal; ``float``: comparing
the two values as Python floats does. Several come from math-verify's issue tracker
(huggingface/Math-Verify#14: ``\\frac{1}{2004!}`` vs ``\\frac{1}{2006!}``, ``\\frac{1}{2^{99}}`` vs
``\\frac{1}{2^{98}}``, ``\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}`` vs ``\\frac{1}{3 \\cdot 2^{2006}}``;
#21: ``0.0000001`` vs ``0.0000002``). Their causes: math-verify rounds both sides to 6 decimals
whenever one is a float, and compares constants by ``evalf(chop=True)``, which calls all tiny
differences 0. Ours compares such values exactly (:mod:`mathsynth.grading.exact`,
:mod:`mathsynth.grading.values`) and re-checks math-verify's "equal" on constants to 60 digits.
"""

from __future__ import annotations

import pytest

from mathsynth.grading import Grader, grade, is_equivalent

MV, FLOAT = "mv", "float"

TRAPS = [
    # tiny values: math-verify's evalf(chop=True) makes their difference 0
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", MV),
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", MV),
    ("\\frac{\\sqrt{2}}{2^{99}}", "\\frac{\\sqrt{2}}{2^{98}}", MV),
    ("\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}", "\\frac{1}{3 \\cdot 2^{2006}}", MV),
    ("\\frac{1}{100!}", "\\frac{1}{101!}", MV),
    ("10^{-20}", "2\\cdot 10^{-20}", MV),
    ("\\frac{1}{2^{60}}", "\\frac{1}{2^{61}}", MV),
    ("\\frac{1}{3^{40}}", "\\frac{1}{3^{41}}", MV),
    ("e^{-50}", "e^{-51}", MV),
    ("\\frac{e^{-60}}{2}", "\\frac{e^{-60}}{3}", MV),
    ("\\frac{\\pi}{10^{20}}", "\\frac{\\pi}{10^{21}}", MV),
    ("\\sqrt{2}\\cdot 10^{-30}", "\\sqrt{3}\\cdot 10^{-30}", MV),
    ("\\frac{1}{10^{16}}", "0", ""),
    ("\\frac{1}{2^{99}}", "0", ""),
    # two decimals rounded to 6 places by math-verify
    ("0.0000001", "0.0000002", MV),
    ("0.000001", "0.0000014", MV),
    ("1.0000001", "1.0000002", MV),
    ("3.1415926", "3.1415929", MV),
    ("2.0000004", "2.0000001", MV),
    ("0.1234564", "0.1234561", MV),
    ("1", "1.0000001", ""),
    ("10", "10.0000001", ""),
    ("1.2345674", "1.2345679", ""),
    # a decimal that is not the exact value correctly rounded (wrong past the 6th digit)
    ("\\frac{1}{3}", "0.3333331", MV),
    ("\\frac{1}{7}", "0.1428572", MV),
    ("\\sqrt{2}", "1.4142139", MV),
    ("\\pi", "3.1415929", MV),
    ("\\frac{2}{3}", "0.666666", ""),
    ("\\frac{1}{3}", "0.33", ""),
    ("\\frac{1}{1000000}", "0.000000", ""),
    # large powers and factorials: equal as floats, different as numbers
    ("2^{100}", "2^{100}+1", FLOAT),
    ("100!", "100!+1", FLOAT),
    ("10^{20}", "10^{20}+1", FLOAT),
    ("10^{30}+1", "1.0\\times10^{30}", MV),
    ("2^{64}", "18446744073709551617", FLOAT),
    ("12345678901234567890", "12345678901234567891", FLOAT),
    ("9007199254740993", "9007199254740992", FLOAT),
    ("2^{53}", "2^{53}+1", FLOAT),
    ("2^{1000}", "2^{1000}+1", FLOAT),
    ("10^{100}", "10^{100}+10^{80}", FLOAT),
    ("\\frac{10^{20}+1}{10^{20}}", "1", FLOAT),
    ("20!", "2432902008176640001", FLOAT),
    ("25!", "1.5511210043\\times10^{25}", ""),
    ("123456789", "123456788", ""),
    ("1234567", "1234568", ""),
    ("1.5\\times10^{-8}", "1.6\\times10^{-8}", ""),
    # reciprocals and sign errors
    ("-\\frac{1}{2}", "\\frac{1}{2}", ""),
    ("\\frac{2}{3}", "\\frac{3}{2}", ""),
    ("\\frac{1}{\\sqrt{2}}", "\\sqrt{2}", ""),
    ("-\\sqrt{3}", "\\sqrt{3}", ""),
    ("2-\\sqrt{3}", "\\sqrt{3}-2", ""),
    ("(-1,2)", "(1,-2)", ""),
    ("-5", "5", ""),
    ("\\frac{1}{5}", "5", ""),
    ("0.2", "5", ""),
    ("-0.25", "0.25", ""),
    ("\\frac{-3}{4}", "\\frac{3}{4}", ""),
    ("x^{-1}", "x", ""),
    ("-x", "x", ""),
    ("\\frac{a}{b}", "\\frac{b}{a}", ""),
    ("3\\pm\\sqrt{2}", "3+\\sqrt{2}", ""),
    ("\\pm 2", "2", ""),
    # order, notation look-alikes
    ("[1,2)", "(1,2]", ""),
    ("3:4", "4:3", ""),
    ("(3,4)", "(4,3)", ""),
    ("2\\frac{1}{2}", "1", ""),
    ("1,000", "1.000", ""),
    ("1000", "1,5", ""),
    ("12:00", "1:00", ""),
    ("4:30", "2:15", MV),
    ("5\\%", "0.06", ""),
    ("5\\%", "0.5", ""),
    ("50\\%", "0.05", ""),
    # words: two values, hedges, value-changing words
    ("42", "42 or 43", ""),
    ("43", "42 or 43", ""),
    ("42", "5 cakes and 42 cookies", ""),
    ("42", "not 42", ""),
    ("40", "at least 40", ""),
    ("40", "more than 40", ""),
    ("4", "2 squared", ""),
    ("4", "4 squared", ""),
    ("6", "the square of 6", ""),
    ("2", "2 pi", ""),
    ("5", "5!", ""),
    ("5", "5! ways", ""),
    ("1", "one of them", ""),
    ("24", "2 dozen", ""),
    ("10", "half of 10", ""),
    ("42", "42 cookies for two days", ""),
    ("42", "42 (6 * 7)", ""),
    ("1", "x=1 or x=2", ""),
]

# Near-equal values that *are* right (so the traps above are not passed by calling all near pairs
# different): exact equalities and correct roundings.
CONTROLS = [
    ("\\sqrt{17}", "4.123105625617661"), ("\\frac{1}{3}", "0.333333"), ("\\frac{1}{3}", "0.3333333"),
    ("\\pi", "3.141593"), ("2^{100}", "1267650600228229401496703205376"), ("20!", "2432902008176640000"),
    ("\\frac{1}{2^{10}}", "0.0009765625"), ("10^{-20}", "\\frac{1}{10^{20}}"), ("0.1+0.2", "0.3"),
    ("1.5\\times10^{-8}", "0.000000015"), ("\\frac{1}{100!}", "\\frac{1}{100!}"),
]


@pytest.fixture(scope="module")
def grader():
    with Grader(workers=2, timeout=10.0) as g:
        yield g


def test_enough_traps():
    assert len(TRAPS) >= 60
    assert sum(who == MV for *_, who in TRAPS) >= 20


@pytest.mark.parametrize(("gold", "pred", "who"), TRAPS, ids=[f"{g}|{p}" for g, p, _ in TRAPS])
def test_trap_is_wrong(grader, gold, pred, who):
    assert grader.equivalent_many([(gold, pred)]) == [False]


def test_traps_are_wrong_in_both_directions(grader):
    assert grader.equivalent_many([(p, g) for g, p, _ in TRAPS]) == [False] * len(TRAPS)


def test_traps_module_functions():
    for gold, pred, _ in TRAPS[:12]:
        assert not is_equivalent(gold, pred)
        assert not grade(gold, f"So the answer is $\\boxed{{{pred}}}$.", benchmark="math").correct


def test_float_traps_really_fool_floats():
    from mathsynth.grading.exact import constant

    for gold, pred, who in TRAPS:
        if who == FLOAT:
            a, b = constant(gold), constant(pred)
            assert a is not None and b is not None and a[0] != b[0]
            assert float(a[0]) == float(b[0]), (gold, pred)


@pytest.mark.parametrize(("gold", "pred"), CONTROLS)
def test_controls_are_right(grader, gold, pred):
    assert grader.equivalent_many([(gold, pred)]) == [True]
