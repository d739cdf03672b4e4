"""Exact values of constant answers (``2^{100}``, ``\\frac{1}{2006!}``, ``1.5\\times10^{3}``) and the
rule for decimal approximations.

math-verify compares numbers in floating point in two places where different values come out
equal: it rounds both sides to 6 decimals whenever one is a float (``0.0000001`` equals
``0.0000002``, ``1.0000001`` equals ``1``), and it calls two expressions equal when their difference
evaluates to almost 0 (``evalf(chop=True)``: ``\\frac{1}{2^{99}}`` equals ``\\frac{1}{2^{98}}``).
Answers that are rational constants are therefore evaluated here exactly, with
:class:`fractions.Fraction` (no ``eval``, a closed grammar, bounded sizes), and compared exactly.

Grammar: integers and decimals (a decimal is the exact value its digits say), ``+ - * / \\cdot
\\times \\div``, ``\\frac{a}{b}`` and ``\\frac ab``, ``^`` with an integer exponent, ``n!``
(n <= 3000), parentheses and braces. Anything else (letters, roots, ``\\pi``, implicit products
such as ``2(3)``, which math-verify reads as a mixed number) is no constant here: None.

Decimal approximations (:func:`rounds_to`): a decimal is accepted for a value it does not equal
exactly only when it is that value correctly rounded to the digits written, with at least 6 decimal
places and 3 significant digits (``\\frac{1}{3}`` = ``0.333333`` = ``0.3333333``, but not ``0.33``,
``0.3333331`` or ``0.000000``). This keeps math-verify's 6-place convention for non-terminating
values without its rounding of two different values to one.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from mathsynth.grading.cursor import TokenCursor

__all__ = ["constant", "decimal_places", "rounds_to"]

_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\(?:frac|dfrac|tfrac|cdot|times|div)(?![A-Za-z])|[-+*/^(){}!])")
_MAX_LEN = 300
_MAX_BITS = 1 << 15  # about 10,000 digits: 3000! has 9,131


class _Reject(Exception):
    pass


def _check(v: Fraction) -> Fraction:
    if v.numerator.bit_length() > _MAX_BITS or v.denominator.bit_length() > _MAX_BITS:
        raise _Reject
    return v


class _Parser(TokenCursor):
    def __init__(self, tokens: list[str]):
        super().__init__(tokens, _Reject, max_depth=30)
        self.decimal = False

    def expr(self) -> Fraction:
        self.enter()
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.term()
            v = _check(v + w if op == "+" else v - w)
        self.leave()
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek() in ("*", "/", "\\cdot", "\\times", "\\div"):
            op = self.take()
            w = self.unary()
            if op in ("/", "\\div"):
                if w == 0:
                    raise _Reject
                v = v / w
            else:
                v = v * w
            _check(v)
        return v

    def unary(self) -> Fraction:
        return self.signed(self.power)

    def power(self) -> Fraction:
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take()
        if self.peek() == "{":
            self.take()
            e = self.expr()
            self.take("}")
        else:
            tok = self.take()
            if not (tok.isdigit() and len(tok) == 1):
                raise _Reject  # "2^10" is 2^1 * 0 to math-verify; "2^-1" is no power
            e = Fraction(int(tok))
        if self.peek() in ("^", "!") or e.denominator != 1 or (base == 0 and e < 0):
            raise _Reject  # towers, roots, 0^-1
        n = int(e)
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits * abs(n) > _MAX_BITS:
            raise _Reject
        return _check(base ** n)

    def postfix(self) -> Fraction:
        v = self.atom()
        while self.peek() == "!":
            self.take()
            if v.denominator != 1 or not 0 <= v <= 3000 or self.peek() == "!":
                raise _Reject  # "5!!" is a double factorial
            v = Fraction(math.factorial(int(v)))
        return v

    def atom(self) -> Fraction:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            tok = tok[:-1] if tok.endswith(".") else tok  # "12." is 12
            self.decimal = self.decimal or "." in tok
            return Fraction(tok)
        if tok in ("(", "{"):
            v = self.expr()
            self.take(")" if tok == "(" else "}")
            return v
        if tok in ("\\frac", "\\dfrac", "\\tfrac"):
            num = self.arg()
            den = self.arg(whole=self.t[self.i - 1] != "}")
            if den == 0:
                raise _Reject
            return num / den
        raise _Reject

    def arg(self, whole: bool = False) -> Fraction:
        if self.peek() == "{":
            self.take()
            v = self.expr()
            self.take("}")
            return v
        tok = self.take()
        if not tok.isdigit():
            raise _Reject
        if len(tok) > 1 and not whole:  # "\frac59": the numerator is one digit
            self.t[self.i - 1:self.i] = [tok[0], tok[1:]]
            tok = tok[0]
        return Fraction(int(tok))


def constant(s: str) -> tuple[Fraction, bool] | None:
    """``(exact value, has a decimal)`` of a constant answer, or None.

    >>> constant(r"\\frac{1}{2^{99}}")[0] == Fraction(1, 2**99)
    True
    >>> constant(r"1.5\\times10^{3}"), constant("10!")
    ((Fraction(1500, 1), True), (Fraction(3628800, 1), False))
    >>> constant("2(3)") is None, constant(r"\\sqrt{2}") is None, constant("2^{10^{10}}") is None
    (True, True, True)
    """
    if not s or len(s) > _MAX_LEN:
        return None
    tokens: list[str] = []
    pos = 0
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m:
            if s[pos:].strip():
                return None
            break
        tokens.append(m.group(1))
        pos = m.end()
    if not tokens:
        return None
    p = _Parser(tokens)
    try:
        v = p.expr()
        if p.peek() is not None:
            return None
    except (_Reject, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None
    return v, p.decimal


_DECIMAL = re.compile(r"(\d*)\.(\d+)")


def decimal_places(s: str) -> tuple[int, int] | None:
    """``(decimal places, significant digits)`` of the first decimal literal in ``s``.

    >>> decimal_places("0.333333"), decimal_places("-\\\\$1,212.50"), decimal_places("12")
    ((6, 6), (2, 6), None)
    """
    m = _DECIMAL.search(s.replace(",", ""))
    if not m:
        return None
    digits = (m.group(1) + m.group(2)).lstrip("0")
    return len(m.group(2)), len(digits)


def rounds_to(value: Fraction | float, approx: Fraction, places: int, sig: int) -> bool | None:
    """Whether the decimal ``approx`` (``places`` decimals, ``sig`` significant digits) is ``value``
    correctly rounded; None where a float ``value`` is too close to the rounding boundary to tell.

    >>> rounds_to(Fraction(1, 3), Fraction("0.333333"), 6, 6), rounds_to(Fraction(1, 3), Fraction("0.33"), 2, 2)
    (True, False)
    >>> rounds_to(Fraction(1, 3), Fraction("0.3333331"), 7, 7), rounds_to(math.pi, Fraction("3.141593"), 6, 7)
    (False, True)
    """
    if places < 6 or sig < 3:
        return False
    half = Fraction(1, 2 * 10**places)
    if isinstance(value, Fraction):
        return abs(value - approx) <= half
    if not math.isfinite(value):
        return False
    err = abs(Fraction(value) - approx)
    slack = Fraction(abs(value)) * Fraction(1, 10**13) + Fraction(1, 10**300)
    if places > 12:  # beyond what a double holds: a 13+-place decimal that agrees to 1e-13 is it
        return err <= max(half, slack * 10)
    if abs(err - half) <= slack:
        return None
    return err <= half
