"""Exact verdicts on numbers: plain numbers, percentages, rational constants and decimal approximations.

Used by :func:`mathsynth.grading.fastpaths.fast_verdict`; every verdict here is exact (Fractions),
never a float tolerance:

* two plain numbers are equal when their values are (``1,000`` = ``1000.0`` = ``\\$1000``), and
  two written decimals are exact values (``1.0000001`` is not ``1.0000002``);
* a percentage equals its number with or without the sign and its fraction (``50\\%`` = ``50`` =
  ``0.5``; math-verify's convention, made exact);
* rational constants (``2^{100}``, ``\\frac{1}{2006!}``, ``1.5\\times10^{3}``; see
  :mod:`mathsynth.grading.exact`) compare exactly;
* a decimal approximation of a value it does not equal (``0.333333`` for ``\\frac{1}{3}``,
  ``1.414214`` for ``\\sqrt{2}``) follows :func:`mathsynth.grading.exact.rounds_to`.
"""

from __future__ import annotations

from fractions import Fraction

from mathsynth.grading.exact import constant, decimal_places, rounds_to
from mathsynth.grading.forms import _scalar
from mathsynth.grading.numeric import evaluate

__all__ = ["constant_verdict", "number_verdict"]

Number = tuple[Fraction, bool, bool]  # (value, written with a decimal point, percent)


def _approx(value: Fraction | float, decimal_s: str, decimal_v: Fraction) -> bool | None:
    dp = decimal_places(decimal_s)
    if dp is None:
        return False
    return rounds_to(value, decimal_v, *dp)


def number_verdict(g: Number, p: Number, gold_n: str, pred_n: str) -> bool | None:
    """Two plain numbers (:func:`mathsynth.grading.forms.parse_number` readings).

    >>> from mathsynth.grading.forms import parse_number as n
    >>> number_verdict(n("1000"), n("1,000.0"), "1000", "1,000.0")
    True
    >>> number_verdict(n("1.0000001"), n("1.0000002"), "1.0000001", "1.0000002")
    False
    >>> number_verdict(n("50\\\\%"), n("0.5"), "50\\\\%", "0.5"), number_verdict(n("1/3"), n("0.333333"), "1/3", "0.333333")
    (True, True)
    """
    (gv, gdec, gpct), (pv, pdec, ppct) = g, p
    if gpct or ppct:
        if gpct and ppct:
            return gv == pv
        v, w = (gv, pv) if gpct else (pv, gv)
        return w == v or w == v / 100
    if gv == pv:
        return True
    if gdec == pdec:  # two exact fractions, or two written decimals: different values
        return False
    return _approx(gv, pred_n, pv) if pdec else _approx(pv, gold_n, gv)


def constant_verdict(gold_n: str, pred_n: str, g: Number | None, p: Number | None) -> bool | None:
    """Rational constants compared exactly; a plain decimal against a constant expression (``\\pi``,
    roots) by correct rounding; None when neither applies.

    >>> constant_verdict(r"\\frac{1}{2^{99}}", r"\\frac{1}{2^{98}}", None, None)
    False
    >>> constant_verdict("2^{10}", "1024", None, None), constant_verdict(r"\\sqrt{2}", "1.414214", None, None)
    (True, True)
    >>> constant_verdict(r"\\pi", "3.1415929", None, None), constant_verdict("x", "1", None, None) is None
    (False, True)
    """
    if (g is not None and g[2]) or (p is not None and p[2]):
        return None  # percentages: the number paths
    a, b = constant(gold_n), constant(pred_n)
    if a is not None and b is not None:
        (av, adec), (bv, bdec) = a, b
        if av == bv:
            return True
        if adec == bdec:
            return False
        dec_s, dec_v, exact_v = (pred_n, bv, av) if bdec else (gold_n, av, bv)
        if constant(dec_s.lstrip("-")) is None or not _plain_decimal(dec_s):
            return False  # "1.5\\times10^{-8}" is an exact value, not a rounding
        return _approx(exact_v, dec_s, dec_v)
    if (a is None) == (b is None):
        return None
    dec_s, dec = (gold_n, a) if a is not None else (pred_n, b)
    other = pred_n if a is not None else gold_n
    if not dec or not dec[1] or not _plain_decimal(dec_s) or not _scalar(other):
        return None
    r = evaluate(other)
    if r is None or r[0] != "scalar":
        return None
    verdict = _approx(r[1][0], dec_s, dec[0])
    if verdict is False and abs(r[1][0] - float(dec[0])) <= 1e-12 * max(1.0, abs(r[1][0])):
        return None  # maybe exactly equal ("2\\frac{1}{2}" is 2.5): math-verify decides
    return verdict


def _plain_decimal(s: str) -> bool:
    t = s.lstrip("-+")
    return bool(t) and t.replace(".", "", 1).isdigit() and "." in t
