"""Readings of answer forms for the fast paths: what math-verify will parse a normalized answer as.

Pure string and :class:`fractions.Fraction` work, bounded in length (no sympy, no ``eval``). Each
reader answers only where the reading is certain and returns None otherwise; the verdicts built on
them are in :mod:`mathsynth.grading.fastpaths`.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

from mathsynth.grading.numeric import evaluate

__all__ = ["parse_number"]

_NUMBER = re.compile(
    r"(?:\\\$)?(?P<sign>[-+])?(?:\\\$)?"
    r"(?:(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?|(?P<dec0>\.\d+)"
    r"|\\frac\{(?P<fn>-?\d+)\}\{(?P<fd>-?\d+)\}|\\frac(?P<fn1>\d)(?P<fd1>\d)"
    # math-verify reads "\frac{270}7" as \frac{270}{7} (only one digit: "\frac{1}23" is not 1/23)
    r"|\\frac\{(?P<fn2>-?\d+)\}(?P<fd2>\d)(?!\d)"
    r"|(?P<sn>\d+)/(?P<sd>\d+))"
    r"(?:\\\$)?"
    r"(?:\^\\circ|\^\{\\circ\}|°|\\circ|\\degree)?"
    # math-verify drops a trailing \text{}/\mbox{} with any one-digit power: units
    r"(?:\\(?:text|mbox|textrm|mathrm)\{[A-Za-z ]*\}(?:\^\d|\^\{\d\})?)?"
    r"(?P<pct>\\?%)?"
)


def parse_number(s: str) -> tuple[Fraction, bool, bool] | None:
    """Parse a normalized plain number: ``(value, is_decimal, is_percent)`` or None.

    >>> parse_number("\\\\$1,234.50")
    (Fraction(2469, 2), True, False)
    >>> parse_number(r"-\\frac{3}{4}"), parse_number("45^\\\\circ")[0], parse_number("x") is None
    ((Fraction(-3, 4), False, False), Fraction(45, 1), True)
    """
    if len(s) > 400:
        return None
    m = _NUMBER.fullmatch(s)
    if not m:
        return None
    g = m.groupdict()
    try:
        if g["int"] is not None:
            value = Fraction(g["int"].replace(",", "") + (g["dec"] or ""))
        elif g["dec0"] is not None:
            value = Fraction("0" + g["dec0"])
        elif g["sn"] is None:
            num = int(g["fn"] or g["fn1"] or g["fn2"])
            den = int(g["fd"] or g["fd1"] or g["fd2"])
            if den == 0:
                return None
            value = Fraction(num, den)
        else:
            if int(g["sd"]) == 0:
                return None
            value = Fraction(int(g["sn"]), int(g["sd"]))
    except (ValueError, ZeroDivisionError):  # e.g. > 4300 digits (int max_str_digits)
        return None
    if g["sign"] == "-":
        value = -value
    return value, bool(g["dec"] or g["dec0"]), bool(g["pct"])



_CHOICE = re.compile(r"(?:\\(?:text|textbf|mathrm)\{)?(\(?)([A-Fa-f])(\)?)\}?")
_WORDS = re.compile(r"\\text\{([A-Za-z][A-Za-z ]*[A-Za-z])\}")


def _choice(s: str) -> str | None:
    """The letter of a multiple-choice answer: ``C``, ``(C)``, ``\\text{(C)}``, ``\\textbf{c}``."""
    m = _CHOICE.fullmatch(s)
    if not m or (m.group(1) == "(") != (m.group(3) == ")") or (s.endswith("}") != s.startswith("\\")):
        return None
    return m.group(2).upper()


def _words(s: str) -> str | None:
    m = _WORDS.fullmatch(s)
    return m.group(1).replace(" ", "").lower() if m else None


_COMMAND = re.compile(r"\\[A-Za-z]+")


# -- kinds: symbol, number, matrix, union, division by zero -------------------------------------

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
          "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "varpi", "rho",
          "varrho", "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega"}
# words math-verify's normalizer rewrites or reads as a value (besides the Greek names)
_SPECIAL = _GREEK | {"and", "or", "percent", "percentage", "pct", "th", "oo", "nan", "zoo", "ln",
                     "log", "exp", "sqrt"}
_TEXT_WORD = re.compile(r"\\text(?:bf)?\{([A-Za-z]{2,40})\}")
_BARE_WORD = re.compile(r"[A-Za-z]{2,40}")
_LETTER = re.compile(r"[A-Za-z]")
_MATRIX = re.compile(r"\\begin\{([pb]matrix)\}(.+)\\end\{\1\}")


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def _safe_word(w: str) -> bool:
    low = w.lower()
    return low not in _SPECIAL and "inf" not in low and "sqrt" not in low


def _scalar(s: str, letters: bool = False) -> bool:
    """A number or a closed-grammar expression (no letters unless ``letters``) with one value."""
    num = parse_number(s)
    if num is not None:
        return not num[2]
    r = evaluate(s)
    return r is not None and r[0] == "scalar" and (letters or not _LETTER.search(_COMMAND.sub("", s)))


def _numbers(s: str) -> bool:
    """A number, or a tuple / interval / set / list of constant expressions."""
    num = parse_number(s)
    if num is not None:
        return not num[2]
    return evaluate(s) is not None and not _LETTER.search(_COMMAND.sub("", s))


def _matrix(s: str) -> list[list[str]] | None:
    m = _MATRIX.fullmatch(s)
    if not m or "\\begin" in m.group(2):
        return None
    rows = [r.split("&") for r in m.group(2).split("\\\\")]
    if any(len(r) != len(rows[0]) for r in rows) or len(rows) * len(rows[0]) < 2:
        return None
    return rows if all(_scalar(c) for r in rows for c in r) else None


_Interval = tuple[float | Fraction, bool, float | Fraction, bool]


def _interval(s: str) -> _Interval | None:
    """``(a,b]`` etc. with exact ends a < b (or infinite ones): (a, a closed, b, b closed)."""
    if len(s) < 5 or s[0] not in "([" or s[-1] not in ")]":
        return None
    ends = s[1:-1].split(",")
    if len(ends) != 2:
        return None
    lo, hi = _end(ends[0]), _end(ends[1])
    if lo is None or hi is None or not lo < hi:
        return None
    return lo, s[0] == "[" and lo != -math.inf, hi, s[-1] == "]" and hi != math.inf


def _end(e: str) -> float | Fraction | None:
    if e in ("\\infty", "+\\infty", "-\\infty"):
        return -math.inf if e[0] == "-" else math.inf
    num = parse_number(e)  # exact ends only: decimals would meet sympy's Float comparisons
    return num[0] if num is not None and not num[1] and not num[2] else None


def _set_of(s: str) -> tuple[_Interval, ...] | None:
    """An interval or a union of intervals as a canonical union (sorted, overlaps merged)."""
    parts = [_interval(part) for part in s.split("\\cup")]
    if not parts or None in parts:
        return None
    out: list[list] = []
    for lo, lc, hi, hc in sorted(parts, key=lambda t: (t[0], not t[1])):  # type: ignore[misc]
        cur = out[-1] if out else None
        if cur is not None and (lo < cur[2] or (lo == cur[2] and (lc or cur[3]))):
            if hi > cur[2]:
                cur[2], cur[3] = hi, hc
            elif hi == cur[2]:
                cur[3] = cur[3] or hc
        else:
            out.append([lo, lc, hi, hc])
    return tuple(tuple(x) for x in out)  # type: ignore[misc]


@lru_cache(maxsize=1 << 14)
def _kind(s: str) -> str | None:
    """What math-verify reads ``s`` as, where that is certain: sym (a symbol: ``\\text{word}`` or a
    choice letter), word (a bare word: a product of symbols), num, matrix, union, zoo."""
    t = _TEXT_WORD.fullmatch(s)
    if t:
        return "sym" if _safe_word(t.group(1)) else None
    c = _choice(s)
    if c is not None:  # a bare "E" is Euler's number
        return "sym" if c != "E" or s.startswith("\\") else None
    if _BARE_WORD.fullmatch(s):  # "I" is the imaginary unit and "ee" is e^2, not a product
        return "word" if _safe_word(s) and "I" not in s and s.lower().strip("e") else None
    if "\\cup" in s:
        return "union" if _set_of(s) is not None else None
    if s.startswith("\\begin"):
        return "matrix" if _matrix(s) is not None else None
    top = s.lstrip("-")
    if top.startswith("\\frac{") and top.endswith("}{0}") and _balanced(top[6:-4]):
        return "zoo" if _scalar(top[6:-4]) else None  # a/0 is zoo (0/0 nan) to sympy
    if _numbers(s):
        return "num"
    if len(s) >= 5 and s[0] + s[-1] in ("(]", "[)"):
        a, b = (_end(e) for e in (s[1:-1].split(",") + ["", ""])[:2])
        if s[1:-1].count(",") == 1 and a is not None and b is not None and a >= b:
            return "empty"  # "(3,0]" is the empty set to math-verify
    return "expr" if _scalar(s, letters=True) else None


_EXACT = re.compile(r"-?(?:\d{1,20}|\\frac\{\d{1,20}\}\{[1-9]\d{0,19}\})")
_GROUPS = re.compile(r"(?<![\d.])\d{1,3},\d{3}(?!\d)")  # "10,080": one number, not a list
