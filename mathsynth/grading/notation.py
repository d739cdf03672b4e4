"""Alternate notations of one value, rewritten to the LaTeX that the rest of grading reads.

:func:`rewrite` runs inside :func:`mathsynth.grading.equivalence.normalize`, on gold and prediction
alike, so the fast paths and math-verify both see the rewritten form. Each rewrite is a pure change
of notation (the value never changes), and each was checked against math-verify, which misreads
the original form (``√8`` is nothing to it, ``1.5e3`` is ``1.5*E*3``, ``1 000`` is ``1*000``):

* Unicode: ``∞ √ π × ÷ · ≤ ≥ ≠``, vulgar fractions ``½ ¾ ⅓`` (``3½`` is the mixed number
  ``3\\frac{1}{2}``), superscripts ``x² 10⁻³``;
* ``sqrt(8)`` -> ``\\sqrt{8}``;
* scientific notation ``1.5e3``, ``1.5E-04`` -> ``1.5\\times10^{3}``, ``1.5\\times10^{-04}``;
* thousands grouped by spaces, ``1 000 000`` -> ``1000000`` (exactly 3 digits per group).

Also here, for :mod:`mathsynth.grading.fastpaths`: :func:`align` (an inequality in one variable
against an interval gold becomes that interval: ``x < 3`` is ``(-\\infty,3)``) and
:func:`ratio_verdict` (ratios ``a:b:c`` compared as proportions, times ``h:mm`` digit by digit).
All regexes here are linear-time (no nested quantifiers); inputs are capped by the callers.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["align", "ratio_verdict", "rewrite"]

_SIMPLE = {"∞": "\\infty ", "π": "\\pi ", "×": "\\times ", "÷": "\\div ", "·": "\\cdot ",
           "⋅": "\\cdot ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "−": "-", "–": "-"}
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5),
           "⅖": (2, 5), "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8),
           "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}
_SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPER_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
_ROOT = re.compile(r"√\s?(\d+(?:\.\d+)?|[A-Za-z]|\([^()]{1,80}\)|\{[^{}]{1,80}\})")
_SQRT_CALL = re.compile(r"(?<![\\A-Za-z])sqrt\(([^()]{1,80})\)")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?)(\d{1,3})(?![\w.])")
# runs of digit groups separated by single spaces; which runs are thousands is checked in Python
# (a regex deciding it would backtrack through every group of a long run: quadratic)
_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?: \d+)+")
_GROUPED = re.compile(r"\d{1,3}(?: \d{3})+")
_FAST = re.compile(r"[∞π×÷·⋅≤≥≠−–½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺√]|sqrt\(|\d[eE][-+\d]|\d \d")


def _vulgar(s: str) -> str:
    out = []
    for i, ch in enumerate(s):
        frac = _VULGAR.get(ch)
        if frac is None:
            out.append(ch)
        else:  # "3½" is a mixed number; math-verify reads "3\frac{1}{2}" as one
            out.append(f"\\frac{{{frac[0]}}}{{{frac[1]}}}")
    return "".join(out)


def rewrite(s: str) -> str:
    """Rewrite Unicode, ``sqrt()``, e-notation and space-grouped thousands into plain LaTeX.

    >>> [rewrite(x) for x in ["√8", "3½", "x²", "1.5e3", "2E-4", "1 000 000", "sqrt(2)/2"]]
    ['\\\\sqrt{8}', '3\\\\frac{1}{2}', 'x^{2}', '1.5\\\\times10^{3}', '2\\\\times10^{-4}', '1000000', '\\\\sqrt{2}/2']
    >>> rewrite("(-∞, 3]"), rewrite("1 2"), rewrite("1e")
    ('(-\\\\infty , 3]', '1 2', '1e')
    """
    if len(s) > 20_000 or not _FAST.search(s):
        return s  # nothing to rewrite; or far longer than any answer the grader reads (2,000)
    for ch, rep in _SIMPLE.items():
        if ch in s:
            s = s.replace(ch, rep)
    if any(ch in s for ch in _VULGAR):
        s = _vulgar(s)
    s = _SUPER_RUN.sub(lambda m: "^{" + m.group().translate(_SUPER) + "}", s)
    s = _ROOT.sub(lambda m: "\\sqrt{" + m.group(1).strip("(){}") + "}", s)
    s = _SQRT_CALL.sub(r"\\sqrt{\1}", s)
    s = _SCI.sub(lambda m: f"{m[1]}\\times10^{{{'-' if m[2] == '-' else ''}{m[3]}}}", s)
    return _DIGIT_RUN.sub(_thousands, s)


def _thousands(m: re.Match) -> str:
    run, before = m.group(), m.string[m.start() - 1:m.start()]
    after = m.string[m.end():m.end() + 1]
    if before in (".", ",") or after == "." or not _GROUPED.fullmatch(run):
        return run  # "0.5 000", "1 23": not one number
    return run.replace(" ", "")


# -- inequalities as intervals ------------------------------------------------------------------

_BOUND = r"(-?(?:\d+(?:\.\d+)?|\\frac\{-?\d+\}\{\d+\}|\\sqrt\{\d+\}|\\pi))"
_LT = {"<": ("<", False), "\\lt": ("<", False), "\\le": ("<", True), "\\leq": ("<", True),
       "\\leqslant": ("<", True), ">": (">", False), "\\gt": (">", False), "\\ge": (">", True),
       "\\geq": (">", True), "\\geqslant": (">", True)}
_OP = r"(<|>|\\lt|\\gt|\\leqslant|\\geqslant|\\leq|\\geq|\\le|\\ge) ?"
_ONE_SIDED = re.compile(r"([a-z])" + _OP + _BOUND)
_FLIPPED = re.compile(_BOUND + _OP + r"([a-z])")
_TWO_SIDED = re.compile(_BOUND + _OP + r"([a-z])" + _OP + _BOUND)


def _interval_of(s: str) -> str | None:
    m = _TWO_SIDED.fullmatch(s)
    if m:
        (d1, c1), (d2, c2) = _LT[m[2]], _LT[m[4]]
        if d1 != d2:
            return None
        lo, hi, lc, hc = (m[1], m[5], c1, c2) if d1 == "<" else (m[5], m[1], c2, c1)
        return ("[" if lc else "(") + lo + "," + hi + ("]" if hc else ")")
    m = _ONE_SIDED.fullmatch(s)
    if m:
        d, closed = _LT[m[2]]
        bound = m[3]
    else:
        m = _FLIPPED.fullmatch(s)
        if not m:
            return None
        d, closed = _LT[m[2]]
        d = ">" if d == "<" else "<"  # "3 > x" is "x < 3"
        bound = m[1]
    if d == "<":
        return "(-\\infty," + bound + ("]" if closed else ")")
    return ("[" if closed else "(") + bound + ",\\infty)"


def align(gold_n: str, pred_n: str) -> str:
    """``pred_n`` in the gold's notation where that is only a change of notation, else unchanged:
    an inequality in one letter, facing an interval gold, becomes the interval.

    >>> align("(-\\\\infty,3)", "x<3"), align("[2,5)", "2\\\\le x<5"), align("3", "x<3")
    ('(-\\\\infty,3)', '[2,5)', 'x<3')
    """
    if len(pred_n) > 200 or not gold_n or gold_n[0] not in "([" or gold_n[-1] not in ")]" or \
            "," not in gold_n or "\\cup" in gold_n:
        return pred_n
    return _interval_of(pred_n) or pred_n


# -- ratios and times ---------------------------------------------------------------------------

_RATIO = re.compile(r"\d+(?:\.\d+)?(?::\d+(?:\.\d+)?)+")
_TIME = re.compile(r"\d{1,2}:[0-5]\d")


def ratio_verdict(gold_n: str, pred_n: str) -> bool | None:
    """Ratios of plain numbers: equal when proportional (``2:4:6`` = ``1:2:3``; a two-part ratio
    also equals its quotient, as math-verify reads it). A time ``h:mm`` on either side is compared
    digit for digit (``12:00`` is no ratio). None when neither side is a ratio.

    >>> ratio_verdict("1:2:3", "2:4:6"), ratio_verdict("3:4", "4:3"), ratio_verdict("3:4", "0.75")
    (True, False, None)
    >>> ratio_verdict("4:30", "4:30"), ratio_verdict("4:30", "2:15")
    (True, False)
    """
    g, p = _RATIO.fullmatch(gold_n), _RATIO.fullmatch(pred_n)
    if not g and not p:
        return None
    if _TIME.fullmatch(gold_n) or _TIME.fullmatch(pred_n):
        if g and p:
            return [Fraction(x) for x in gold_n.split(":")] == [Fraction(x) for x in pred_n.split(":")]
        return None
    if not (g and p):
        return None  # "3:4" against "\\frac{3}{4}": math-verify reads the ratio as a quotient
    a, b = _ratio_parts(gold_n), _ratio_parts(pred_n)
    if a is None or b is None or len(a) != len(b):
        return False if a is not None and b is not None else None
    return all(x * b[0] == y * a[0] for x, y in zip(a, b, strict=True))


def _ratio_parts(s: str) -> list[Fraction] | None:
    if not _RATIO.fullmatch(s):
        return None
    parts = [Fraction(x) for x in s.split(":")]
    return parts if all(parts) else None
