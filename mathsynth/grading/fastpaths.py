"""In-process verdicts on two *normalized* answers: decide without sympy, or say "unsure" (None).

:func:`fast_verdict` is the whole decision; math-verify (in a worker process) only sees the pairs
it leaves undecided. Every rule below answers only where its verdict is certain to be math-verify's
(checked on every recorded pair of ``bench/grading.py`` and on the test tables), or where
math-verify is demonstrably wrong: different number bases (:func:`_bases`), values that its float
rounding calls equal (:mod:`mathsynth.grading.values`), notations it cannot read
(:mod:`mathsynth.grading.notation`) and answers in words (:mod:`mathsynth.grading.answers`).

* exact match; inequalities against an interval gold read as that interval; ratios compared as
  proportions (times ``h:mm`` digit by digit); choice letters and ``\\text{}`` words;
* answers in words against a plain-number gold (``42 cookies``; two values or a hedge: wrong);
* plain numbers, percentages and rational constants compared exactly, decimal approximations by
  correct rounding (:mod:`mathsynth.grading.values`);
* clearly different values (:func:`mathsynth.grading.numeric.clearly_different`), also when one
  side is a number written with a unit or a degree sign (math-verify drops both);
* number bases: math-verify reads ``52_8`` as the integer 52, so such a pair is judged as the
  digits would be;
* equations ``x=5``, ``y=2x+3`` and ``x\\in[a,b]``: math-verify compares the right-hand side
  with an answer that is no relation; two equations for the same letter whose right-hand sides
  differ at a real point are different;
* a one-row or one-column matrix against a tuple: the same vector, entry by entry;
* kinds that never compare equal: a symbol (``\\text{word}``, a choice letter, a bare word) vs
  a number, matrix, union or ``\\frac{a}{0}``; a matrix vs anything that is no matrix; a union of
  intervals vs a finite set or a number. Matrices of numbers compare entry by entry, unions of
  intervals with exact ends as sets (only a difference is decided).
"""

from __future__ import annotations

import re
from fractions import Fraction

from mathsynth.grading.answers import prose_verdict
from mathsynth.grading.forms import (
    _COMMAND,
    _EXACT,
    _GROUPS,
    _TEXT_WORD,
    _choice,
    _kind,
    _matrix,
    _scalar,
    _set_of,
    _words,
    parse_number,
)
from mathsynth.grading.notation import align, ratio_verdict
from mathsynth.grading.numeric import clearly_different
from mathsynth.grading.values import constant_verdict, number_verdict

__all__ = ["fast_verdict", "parse_number"]


def fast_verdict(gold_n: str, pred_n: str) -> bool | None:
    """Decide equivalence of two *normalized* answers without sympy, or None when unsure.

    >>> fast_verdict("1000", "1,000"), fast_verdict("\\\\frac{1}{2}", "0.5")
    (True, True)
    >>> fast_verdict("3", "4"), fast_verdict("0.25", "0.3")
    (False, False)
    >>> fast_verdict("\\\\frac{1}{3}", "0.333333"), fast_verdict("0.0000001", "0.0000002")
    (True, False)
    >>> fast_verdict("42", "42 cookies"), fast_verdict("42", "42 or 43")
    (True, False)
    >>> fast_verdict("52_8", "52"), fast_verdict("x=5", "5"), fast_verdict(r"\\text{east}", "5")
    (True, True, False)
    """
    if gold_n == pred_n and gold_n:
        return True
    pred_n = align(gold_n, pred_n)  # "x<3" against "(-\\infty,3)"
    ratio = ratio_verdict(gold_n, pred_n)  # "1:2:3" = "2:4:6"; "4:30" is a time
    if ratio is not None:
        return ratio
    for canon in (_choice, _words):  # "(C)" vs "\\text{C}"; "\\text{Monday}" vs "\\text{monday}"
        a = canon(gold_n)
        if a is not None:
            b = canon(pred_n)
            if b is not None:
                return a == b
    g = parse_number(gold_n)
    p = parse_number(pred_n)
    if g is not None and p is None and not g[2]:
        prose = prose_verdict(g[0], pred_n)  # "42 cookies", "42 or 43", "at least 40"
        if prose is not None:
            return prose
    if g is None or p is None:
        exact = constant_verdict(gold_n, pred_n, g, p)
        if exact is not None:
            return exact
        if clearly_different(_plain(gold_n, g), _plain(pred_n, p)):
            return False
        return _other_forms(gold_n, pred_n)
    return number_verdict(g, p, gold_n, pred_n)


def _plain(s: str, num: tuple[Fraction, bool, bool] | None) -> str:
    """A number with a unit, degree sign or ``\\$`` as the bare value math-verify reads."""
    if num is None or num[2] or "," in s or not ("\\" in s or "°" in s):
        return s  # plain numbers evaluate as they are; "1,000" is no concern of the evaluator
    v = num[0]
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


# -- number bases -------------------------------------------------------------------------------

_BASE = re.compile(r"(-?\d{1,60})_(?:(\d)|\{(\d{1,2})\})")


def _bases(g: tuple[str, int], p: tuple[str, int]) -> bool | None:
    """Two numerals in different bases, by value. math-verify drops the subscripts and compares
    the digits, so it calls ``204_5`` and ``204_8`` equal (54 vs 132) and ``1011_2``, ``11_{10}``
    different: it is wrong on both, and so this is the one rule that departs from it."""
    def value(b: tuple[str, int]) -> int | None:
        digits, base = b
        try:
            return int(digits, base) if 2 <= base <= 36 else None
        except ValueError:  # a digit >= the base: no numeral
            return None

    gv, pv = value(g), value(p)
    if gv is None:
        return None
    return False if pv is None else gv == pv


# -- equations ----------------------------------------------------------------------------------

_ASSIGN = re.compile(r"([a-ce-hj-zA-CF-HJ-Z])(=|\\in)(.+)")  # not d (differential), e, i
_EQUATION = re.compile(r"([^=]+)=([^=]+)")
_RELATION = re.compile(r"[=<>]|\\(?:n?eq|le|ge|leq|geq|ne|neq|lt|gt|in|notin|ni|approx|sim|simeq|"
                       r"equiv|cong|to|mapsto|iff|implies|impliedby|Rightarrow|Leftarrow|"
                       r"Leftrightarrow|leqslant|geqslant|subset|subseteq|supset|supseteq|"
                       r"propto|perp|parallel|mid|land|lor|wedge|vee)(?![A-Za-z])")


def _assignment(s: str) -> tuple[str, str, str] | None:
    """``x=R`` or ``x\\in S`` (math-verify reads both as ``Eq(x, ...)``): (letter, op, rhs); an
    equation whose left side has a number in it, ``5x-7y=3``, is (``""``, ``=``, rhs)."""
    m = _ASSIGN.fullmatch(s)
    if not m:
        e = _EQUATION.fullmatch(s)
        if not e or _RELATION.search(e[2]) or "_" in e[1] or not re.search(r"\d", e[1]):
            return None
        if not _scalar(e[1], letters=True) or _scalar(e[1]) or not _scalar(e[2], letters=True):
            return None  # no letter on the left: "2=2" is True to sympy
        return "", "=", e[2]
    if _RELATION.search(m.group(3)):
        return None
    letter, op, rhs = m.group(1).lower(), m.group(2), m.group(3)
    if op == "=" and ("," in rhs or not _scalar(rhs, letters=True)):
        return None
    if op == "\\in" and _set_of(rhs) is None:
        return None
    return letter, op, rhs


def _equations(g: tuple[str, str, str] | None, p: tuple[str, str, str] | None,
               gold_n: str, pred_n: str) -> bool | None:
    if g and p:  # both assignments: compared as relations; right-hand sides far apart differ
        if not g[0] or g[:2] != p[:2] or g[0] in _COMMAND.sub("", g[2] + p[2]).lower():
            return None
        if clearly_different(g[2], p[2]) or (g[1] == "\\in" and _set_of(g[2]) != _set_of(p[2])):
            return False
        return None
    # math-verify unwraps an assignment facing an answer that is no relation (and any equation
    # given as the prediction); an equation left as it is equals no number or expression
    if g and not g[0]:
        return False if _kind(pred_n) in ("num", "expr") and _scalar(pred_n, letters=True) else None
    if g and not _RELATION.search(pred_n):
        return fast_verdict(g[2], pred_n)
    if p and not _RELATION.search(gold_n):
        return fast_verdict(gold_n, p[2])
    return None


def _kinds(gold_n: str, pred_n: str) -> bool | None:
    kg, kp = _kind(gold_n), _kind(pred_n)
    if kg is None or kp is None:
        return None
    pair = {kg, kp}
    if kg == kp:
        if kg == "num":
            return _same_list(gold_n, pred_n)
        if kg == "sym":  # a \\text{word} vs a choice letter: two symbols with different names
            return False if (_choice(gold_n) is None) != (_choice(pred_n) is None) else None
        if kg == "matrix":
            return _matrices(_matrix(gold_n), _matrix(pred_n))  # type: ignore[arg-type]
        if kg == "union":
            return False if _set_of(gold_n) != _set_of(pred_n) else None
        return None
    if pair & {"sym", "word"}:
        if "expr" in pair:  # "x\\cdot y" is the product "xy" is read as, and matches "\\text{xy}"
            return None
        if pair != {"sym", "word"}:
            return False  # a symbol is never a number, matrix or set
        word, sym = (pred_n, gold_n) if kg == "sym" else (gold_n, pred_n)
        t = _TEXT_WORD.fullmatch(sym)  # "\\text{East}" is the symbol east, "East" is E*a*s*t
        return word.lower() == t.group(1).lower() if t else False
    if "matrix" in pair:
        return False if pair <= {"matrix", "num", "union", "zoo", "expr", "empty"} else None
    if "empty" in pair:
        return False if pair <= {"empty", "num", "union"} else None
    if "union" in pair:
        other = gold_n if kp == "union" else pred_n
        interval = _set_of(other)
        if interval is None:  # a number or a finite set vs a union of intervals (a < b)
            return False if "zoo" not in pair else None
        return False if interval != _set_of(gold_n if kg == "union" else pred_n) else None
    if pair == {"num", "zoo"}:
        return False if _scalar(gold_n if kg == "num" else pred_n) else None
    return None


def _same_list(g: str, p: str) -> bool | None:
    """Bare lists of distinct exact numbers, one a permutation of the other (math-verify reads
    both as sets); lists that differ are left to :func:`clearly_different`."""
    if "," not in g or "," not in p or _GROUPS.search(g) or _GROUPS.search(p):
        return None
    gs, ps = g.split(","), p.split(",")
    if not all(_EXACT.fullmatch(x) for x in gs + ps):
        return None
    gv, pv = [parse_number(x)[0] for x in gs], [parse_number(x)[0] for x in ps]  # type: ignore[index]
    return True if len(set(gv)) == len(gv) and sorted(gv) == sorted(pv) else None


def _matrices(g: list[list[str]], p: list[list[str]]) -> bool | None:
    if len(g) != len(p) or len(g[0]) != len(p[0]):
        return False  # different shapes
    verdicts = [fast_verdict(a, b) for rg, rp in zip(g, p, strict=True)
                for a, b in zip(rg, rp, strict=True)]
    if False in verdicts:
        return False
    return True if all(verdicts) else None


def _other_forms(gold_n: str, pred_n: str) -> bool | None:
    """Bases, equations and kinds (see the module docstring); None when unsure."""
    bg, bp = _BASE.fullmatch(gold_n), _BASE.fullmatch(pred_n)
    if bg or bp:
        if bg and bp and int(bg[2] or bg[3]) != int(bp[2] or bp[3]):
            return _bases((bg[1], int(bg[2] or bg[3])), (bp[1], int(bp[2] or bp[3])))
        return fast_verdict(bg[1] if bg else gold_n, bp[1] if bp else pred_n)
    eg, ep = _assignment(gold_n), _assignment(pred_n)
    if eg or ep:
        return _equations(eg, ep, gold_n, pred_n)
    vector = _vector(gold_n, pred_n)
    if vector is not None:
        return vector
    return _kinds(gold_n, pred_n)


def _vector(gold_n: str, pred_n: str) -> bool | None:
    """A one-row or one-column matrix against a tuple of as many entries: the same vector written
    two ways (math-verify never matches a matrix with a tuple), compared entry by entry."""
    m, t = (gold_n, pred_n) if gold_n.startswith("\\begin") else (pred_n, gold_n)
    rows = _matrix(m) if m.startswith("\\begin") else None
    if rows is None or not (len(rows) == 1 or len(rows[0]) == 1) or not (
            t.startswith("(") and t.endswith(")")) or "(" in t[1:] or "\\" in t:
        return None
    entries = [c for r in rows for c in r]
    parts = t[1:-1].split(",")
    if len(parts) != len(entries) or not all(_scalar(x) for x in parts):
        return None
    verdicts = [fast_verdict(a, b) for a, b in zip(entries, parts, strict=True)]
    return False if False in verdicts else (True if all(verdicts) else None)
