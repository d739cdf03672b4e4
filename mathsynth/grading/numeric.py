"""A tiny, safe evaluator for constant LaTeX answers, used only to *reject* clearly-wrong answers.

Most distinct wrong answers to a MATH problem are constants (``\\frac{\\sqrt{21}}{9}`` for
``\\frac{\\sqrt{21}}{5}``, ``8\\pi`` for ``4\\pi``, ``(1,3)`` for ``(1,2)``). Parsing them with
math-verify's ANTLR grammar and running sympy ``simplify`` costs 5-50 ms each; evaluating them with
this recursive-descent parser (no ``eval``; a closed grammar; bounded length, depth and exponents)
costs microseconds.

The verdict is only ever *"different"*, and only when it is certain to match math-verify:

* both answers parse completely in the grammar below (anything else -> no verdict);
* for two scalars: the values differ by more than ``max(2e-6, 1e-9 * magnitude)``. math-verify
  rounds decimals to 6 places, compares exact values exactly, and otherwise needs
  ``simplify(a - b) == 0``; none of these can hold for values that far apart;
* for comma lists (tuples, intervals, sets, solution lists): some value of one side has no
  value within that tolerance on the other side. math-verify pairs elements one-to-one (tuples,
  interval endpoints, sorted sets), so such a pair can never match.

Grammar: numbers, ``\\pi``, ``\\infty`` (only as an interval end), ``+ - \\cdot \\times \\div * /``, ``^`` with a small rational exponent,
``\\frac{a}{b}`` (also ``\\frac ab``), ``\\sqrt{x}``, ``\\sqrt[n]{x}``, parentheses and braces,
implicit products such as ``2\\sqrt{3}``, ``3\\pi``, ``2(1+\\sqrt{2})``. Rejected on purpose
(math-verify reads them specially): letters, ``i``, ``\\cup``, ``\\pm``, ``%``, degrees, text,
a number directly followed by ``\\frac`` (a mixed number), ``1,000``-style groups.
"""

from __future__ import annotations

import math
import re

__all__ = ["clearly_different", "evaluate"]

_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\(?:frac|dfrac|tfrac|sqrt|pi|cdot|times|div|infty)(?![A-Za-z])"
                    r"|\\[{}]|[-+*/^()\[\]{},])")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3},\d{3}(?!\d)")
_MAX_LEN = 200


class _Reject(Exception):
    pass


class _Parser:
    def __init__(self, tokens: list[str]):
        self.t = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Reject
        self.i += 1
        return tok

    def expr(self) -> float:
        self.depth += 1
        if self.depth > 40:
            raise _Reject
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.term()
            v = v + w if op == "+" else v - w
        self.depth -= 1
        return v

    def term(self) -> float:
        v, last_number = self.factor()
        while True:
            tok = self.peek()
            if tok in ("\\cdot", "\\times", "*", "/", "\\div"):
                self.take()
                w, last_number = self.factor()
                if tok in ("/", "\\div"):
                    if w == 0:
                        raise _Reject
                    v = v / w
                else:
                    v = v * w
            elif tok is not None and (tok.startswith("\\") and tok not in ("\\{", "\\}") or tok == "("):
                if last_number and tok in ("\\frac", "\\dfrac", "\\tfrac"):
                    raise _Reject  # "1\\frac{1}{2}" is a mixed number to math-verify
                w, last_number = self.factor()
                v = v * w
            else:
                return v

    def factor(self) -> tuple[float, bool]:
        if self.peek() in ("-", "+"):
            sign = -1.0 if self.take() == "-" else 1.0
            v, is_number = self.factor()  # keep the flag: "-1\\frac{1}{2}" is a mixed number too
            return sign * v, is_number
        return self.power()

    def power(self) -> tuple[float, bool]:
        base, is_number = self.atom()
        if self.peek() == "^":
            self.take()
            if self.peek() == "{":
                self.take()
                e = self.expr()
                self.take("}")
            else:
                tok = self.take()
                if not tok.isdigit() or len(tok) != 1:
                    raise _Reject
                e = float(tok)
            if self.peek() == "^" or abs(e) > 64 or (e != int(e) and base < 0) or (base == 0 and e <= 0):
                raise _Reject
            try:
                base = base ** e
            except (OverflowError, ZeroDivisionError):
                raise _Reject from None
            if isinstance(base, complex) or math.isinf(base):
                raise _Reject
            is_number = False
        return base, is_number

    def arg(self) -> float:
        tok = self.peek()
        if tok == "{":
            self.take()
            v = self.expr()
            self.take("}")
            return v
        if tok is not None and tok.isdigit():  # \frac 59: one digit per argument
            self.take()
            if len(tok) == 1:
                return float(tok)
            self.t[self.i - 1:self.i] = [tok[0], tok[1:]]  # split "59" -> "5", "9"
            return float(tok[0])
        if tok == "\\pi":
            self.take()
            return math.pi
        raise _Reject

    def atom(self) -> tuple[float, bool]:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok), True
        if tok == "\\pi":
            return math.pi, False
        if tok in ("(", "{"):
            v = self.expr()
            self.take(")" if tok == "(" else "}")
            return v, False
        if tok in ("\\frac", "\\dfrac", "\\tfrac"):
            num = self.arg()
            den = self.arg()
            if den == 0:
                raise _Reject
            return num / den, False
        if tok == "\\sqrt":
            n = 2.0
            if self.peek() == "[":
                self.take()
                n = self.expr()
                self.take("]")
                if n != int(n) or not 2 <= n <= 16:
                    raise _Reject
            x = self.arg()
            if x < 0:
                raise _Reject
            return x ** (1.0 / n), False
        raise _Reject


def _tokens(s: str) -> list[str] | None:
    out: list[str] = []
    pos = 0
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m:
            return None if s[pos:].strip() else out
        out.append(m.group(1))
        pos = m.end()
    return out


def evaluate(s: str) -> tuple[str, list[float]] | None:
    """``("scalar", [v])`` or ``(brackets, [v1, v2, ...])`` for a constant answer, else None.

    >>> evaluate(r"\\frac{\\sqrt{3}}{2}")[1][0] == 3 ** 0.5 / 2
    True
    >>> evaluate(r"(-1, \\frac{1}{2}]")
    ('(]', [-1.0, 0.5])
    >>> evaluate("2x") is None, evaluate(r"1\\frac{1}{2}") is None, evaluate("1,000") is None
    (True, True, True)
    """
    if not s or len(s) > _MAX_LEN or _THOUSANDS.search(s):
        return None
    tokens = _tokens(s)
    if not tokens:
        return None
    brackets = ""
    if tokens[0] in ("(", "[", "\\{") and tokens[-1] in (")", "]", "\\}") and "," in tokens:
        brackets = ("{}" if tokens[0] == "\\{" else tokens[0]) + ("{}" if tokens[-1] == "\\}" else tokens[-1])
        if brackets[0] == "{" and brackets != "{}":
            return None
        tokens = tokens[1:-1]
    elif tokens[0] == "\\{" or "\\}" in tokens or "[" in tokens:
        return None
    p = _Parser(tokens)
    values: list[float] = []
    try:
        while True:
            if brackets and len(brackets) == 2 and p.peek() in ("\\infty", "-", "+") and \
                    "\\infty" in p.t[p.i:p.i + 2]:  # an interval endpoint: -\infty or \infty
                sign = -1.0 if p.peek() == "-" else 1.0
                if p.peek() != "\\infty":
                    p.take()
                p.take("\\infty")
                values.append(sign * math.inf)
            else:
                values.append(p.expr())
            if p.peek() == ",":
                p.take()
                continue
            if p.peek() is not None:
                return None
            break
    except (_Reject, ValueError, OverflowError, ZeroDivisionError, RecursionError):
        return None
    if any(math.isnan(v) for v in values):
        return None
    if any(math.isinf(v) for v in values) and not (len(values) == 2 and brackets in (
            "()", "(]", "[)", "[]") and values[0] < values[1]):
        return None  # infinities only as the ends of one interval
    if len(values) == 1 and not brackets:
        return "scalar", values
    if len(values) == 2 and brackets and brackets != "{}":
        # "(a,a)" is an empty interval and "[b,a]" (b > a) may be too: sets that compare equal
        a, b = values
        if a == b or (a > b and brackets != "()"):
            return None
    return brackets or ",", values


def _far(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a != b
    return abs(a - b) > max(2e-6, 1e-9 * max(abs(a), abs(b)))


def clearly_different(gold_n: str, pred_n: str) -> bool:
    """True only when both are constants that math-verify can never call equal.

    >>> clearly_different(r"\\frac{\\sqrt{21}}{5}", r"\\frac{\\sqrt{21}}{9}")
    True
    >>> clearly_different(r"2\\sqrt{2}", r"\\sqrt{8}"), clearly_different("x+1", "2")
    (False, False)
    >>> clearly_different("(1,2)", "(2,1)"), clearly_different("(1,2)", "(1,3)")
    (False, True)
    >>> clearly_different(r"(2,\\infty)", r"(8,\\infty)"), clearly_different("3", r"[3,\\infty)")
    (True, True)
    """
    g = evaluate(gold_n)
    if g is None:
        return False
    p = evaluate(pred_n)
    if p is None:
        return False
    gv, pv = g[1], p[1]
    if g[0] == "scalar" and p[0] == "scalar":
        return _far(gv[0], pv[0])
    return (any(all(_far(a, b) for b in pv) for a in gv)
            or any(all(_far(a, b) for a in gv) for b in pv))
