"""A tiny, safe evaluator for LaTeX answers, used only to *reject* clearly-wrong answers.

Most distinct wrong answers to a MATH problem are constants (``\\frac{\\sqrt{21}}{9}`` for
``\\frac{\\sqrt{21}}{5}``, ``8\\pi`` for ``4\\pi``, ``(1,3)`` for ``(1,2)``) or expressions in a
few variables (``6r^5-4r-24`` for ``6r^2-4r-24``). Parsing them with math-verify's ANTLR grammar and
running sympy ``simplify`` costs 5-50 ms each (sometimes far more); evaluating them with this
recursive-descent parser (no ``eval``; a closed grammar; bounded length, depth and exponents)
costs microseconds.

The verdict is only ever *"different"*, and only when it is certain to match math-verify:

* both answers parse completely in the grammar below (anything else -> no verdict);
* answers with variables are evaluated at three fixed points (the same values for both sides,
  positive non-integers, a different value per letter); a point where either side fails (a zero
  denominator, a negative base under a root, overflow) means no verdict. Two expressions whose
  values differ at a real point are not identical, so ``simplify(a - b)`` cannot be 0;
* for two scalars: at some point the values differ by more than ``1e-9 * magnitude``, where the
  magnitude includes every term added or subtracted on the way (float cancellation; products and
  quotients keep their relative precision), and by more than ``2e-6`` when either side has a
  decimal (math-verify rounds decimals to 6 places). Without decimals there is no absolute floor:
  ``\frac{1}{2^{99}}`` and ``\frac{1}{2^{98}}`` differ (math-verify's ``evalf(chop=True)`` calls
  them equal, which is wrong);
* for comma lists (tuples, intervals, sets, solution lists, ``a \\pm b`` read as ``a+b, a-b``): some
  value of one side has no value within that tolerance on the other side. math-verify pairs
  elements one-to-one (tuples, interval endpoints, sorted sets), so such a pair can never match.

Grammar: numbers, ``\\pi``, ``\\infty`` (only as an interval end), ``+ - \\cdot \\times \\div * /``,
``^`` with an exponent up to 1024, ``\\frac{a}{b}`` (also ``\\frac ab``), ``\\sqrt{x}``, ``\\sqrt[n]{x}``,
parentheses and braces, implicit products such as ``2\\sqrt{3}``, ``3\\pi``, ``2x(1+y)`` (binding
tighter than ``/``, as in math-verify: ``1/2x`` is ``1/(2x)``), single lowercase letters as
variables (``i`` too: math-verify 0.9 reads a lowercase ``i`` as a plain symbol, so ``6-5i`` is
linear in it), and ``\\pm`` at the top of an answer or list element. Read as math-verify reads them:
an integer times a positive rational number is a mixed number (``2\\frac{1}{2}`` is 5/2, ``2(3)`` is
5). Rejected on purpose (math-verify reads them specially): ``e``, ``d`` (a differential), two
adjacent letters (``ab``), a letter applied to one atom (``f(x)``, a function call), a trailing
unit-like letter (``2m``), ``\\cup``, ``%``, degrees, text, ``=``, ``1,000``-style groups, half-open
intervals that are empty, and intervals whose ends contain variables.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from mathsynth.grading.cursor import TokenCursor

__all__ = ["clearly_different", "evaluate"]

_TOKEN = re.compile(r"\s*(\d+\.\d+|\.\d+|\d+|\\(?:frac|dfrac|tfrac|sqrt|pi|cdot|times|div|infty|pm)(?![A-Za-z])"
                    r"|\\[{}]|[-+*/^()\[\]{},]|[A-Za-z])")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3},\d{3}(?!\d)")
_MAX_LEN = 200
_LETTERS = "abcfghjklmnopqrstuvwxyzi"  # not d (a differential) or e (Euler's number); i is last so
# the other letters keep their points
_UNIT_END = tuple("cghlmost")  # math-verify strips these after a digit, "}" or space: "2m" -> "2"
_POINTS = 3
_MUL = ("\\cdot", "\\times", "*", "/", "\\div")
_IMPLICIT = ("\\frac", "\\dfrac", "\\tfrac", "\\sqrt", "\\pi", "(")
_FRACS = ("\\frac", "\\dfrac", "\\tfrac")


def _point(p: int) -> dict[str, float]:
    """Values of the letters at point ``p``: distinct, positive, far from integers and each other.
    A capital is its small letter (math-verify lowercases names), but ``I`` is the imaginary unit."""
    env = {c: 0.3 + 1.7 * ((k * 0.6180339887 + p * 0.4142135623 + 0.1234) % 1.0)
           for k, c in enumerate(_LETTERS)}
    return env | {c.upper(): v for c, v in env.items() if c != "i"}


_ENVS = [_point(p) for p in range(_POINTS)]


class _Reject(Exception):
    pass


def _is_letter(tok: str | None) -> bool:
    return tok is not None and len(tok) == 1 and tok.isalpha()


class _Parser(TokenCursor):
    def __init__(self, tokens: list[str], env: dict[str, float]):
        super().__init__(tokens, _Reject, max_depth=40)
        self.env = env
        self.big = 0.0  # largest magnitude added or subtracted (to bound float cancellation)

    def note(self, v: float) -> float:
        if isinstance(v, complex) or not math.isfinite(v):
            raise _Reject
        return v

    def added(self, a: float, b: float, v: float) -> float:
        """``v`` = a + b or a - b: only sums lose precision relative to their result."""
        self.big = max(self.big, abs(a), abs(b))
        return self.note(v)

    # Each value is (float, exact) where exact is the Fraction when math-verify's parse of it is a
    # sympy Rational (an integer, or a fraction of two integers), else None.

    def expr(self) -> tuple[float, Fraction | None]:
        self.enter()
        v, q = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            w, _ = self.term()
            v, q = self.added(v, w, v + w if op == "+" else v - w), None  # an unevaluated Add
        self.leave()
        return v, q

    def term(self) -> tuple[float, Fraction | None]:
        v, q = self.product()
        while self.peek() in _MUL:
            op = self.take()
            w, r = self.product()
            if op in ("/", "\\div"):
                if abs(w) < 1e-9:
                    raise _Reject
                v = v / w
                q = q / r if _integer(q) and _integer(r) else None  # 6/4 is Rational(3, 2)
            else:
                v, q = v * w, None
            self.note(v)
        return v, q

    def product(self) -> tuple[float, Fraction | None]:
        """Signs, then implicit products (``2x\\sqrt{3}(1+y)``), which bind tighter than ``/``."""
        if self.peek() in ("-", "+"):
            sign = self.take()
            v, q = self.product()
            return (-v, None if q is None else -q) if sign == "-" else (v, q)
        factors = [self.power()]
        while True:
            tok = self.peek()
            if not (tok in _IMPLICIT or _is_letter(tok)):
                break
            if factors[-1][2] == "letter" and tok == "(" and self.peek(2) in (")", "^"):
                raise _Reject  # "f(x)", "x^2(3)", "\\pi(2)": math-verify calls a function
            factors.append(self.power())
        v, q, _ = factors[-1]
        for w, r, _ in reversed(factors[:-1]):  # math-verify folds from the right, and reads an
            if _integer(r) and q is not None and q > 0:  # integer times a positive Rational as a
                q = r + q if r >= 0 else r - q  # mixed number: "2\\frac{1}{2}" is 5/2, "2(3)" is 5
                v = self.added(w, v, w + v if r >= 0 else w - v)
            else:
                v, q = self.note(w * v), None
        return v, q

    def power(self) -> tuple[float, Fraction | None, str]:
        base, q, kind = self.atom()
        if self.peek() == "^":
            self.take()
            if self.peek() == "{":
                self.take()
                e, _ = self.expr()
                self.take("}")
            else:
                tok = self.take()
                if tok.isdigit() and len(tok) == 1:
                    e = float(tok)
                elif tok in self.env and _is_letter(tok):
                    e = self.env[tok]
                else:
                    raise _Reject
            if self.peek() == "^" or abs(e) > 1024 or (e != int(e) and base < 0) or (base == 0 and e <= 0):
                raise _Reject
            try:
                base = base ** e
            except (OverflowError, ZeroDivisionError):
                raise _Reject from None
            self.note(base)
            q = None  # an unevaluated Pow
            if kind == "number":
                kind = "other"
        return base, q, kind

    def digits_arg(self, whole: bool) -> tuple[float, Fraction | None]:
        """A brace-less ``\\frac``/``\\sqrt`` argument: one digit, or all of them (``whole``)."""
        tok = self.take()
        if not tok.isdigit():
            raise _Reject
        if not whole and len(tok) > 1:
            self.i -= 1
            self.t[self.i:self.i + 1] = [tok[0], tok[1:]]  # split "59" -> "5", "9"
            self.i += 1
            tok = tok[0]
        return float(tok), Fraction(int(tok))

    def arg(self, whole: bool = False) -> tuple[float, Fraction | None]:
        if self.peek() == "{":
            self.take()
            v = self.expr()
            self.take("}")
            return v
        return self.digits_arg(whole)

    def atom(self) -> tuple[float, Fraction | None, str]:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return self.note(float(tok)), (Fraction(int(tok)) if tok.isdigit() else None), "number"
        if tok == "\\pi":
            return math.pi, None, "letter"  # "\\pi(2)" is a function call to math-verify too
        if _is_letter(tok):
            if tok not in self.env:
                raise _Reject
            return self.env[tok], None, "letter"
        if tok in ("(", "{"):
            v, q = self.expr()
            self.take(")" if tok == "(" else "}")
            return v, q, "other"
        if tok in _FRACS:
            bare = self.peek() != "{"
            num, p = self.arg()
            # math-verify: "\\frac123" and "\\frac1 23" are 1/23, "\\frac{1}23" is \\frac{1}{2}3
            den, r = self.arg(whole=bare)
            if abs(den) < 1e-9:
                raise _Reject
            return self.note(num / den), (p / r if _integer(p) and _integer(r) else None), "other"
        if tok == "\\sqrt":
            n = 2.0
            if self.peek() == "[":
                self.take()
                n, _ = self.expr()
                self.take("]")
                if n != int(n) or not 2 <= n <= 16:
                    raise _Reject
            x, _ = self.arg()
            if x < 0:
                raise _Reject
            return self.note(x ** (1.0 / n)), None, "other"
        raise _Reject


def _integer(q: Fraction | None) -> bool:
    return q is not None and q.denominator == 1


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


def _evaluate(s: str, point: int = 0) -> tuple[str, list[float], float, bool] | None:
    """``(kind, values, largest magnitude seen, has letters)`` with letters at ``point``, or None."""
    if not s or len(s) > _MAX_LEN or _THOUSANDS.search(s):
        return None
    tokens = _tokens(s)
    if not tokens:
        return None
    letters = any(_is_letter(t) for t in tokens)
    if letters and (s.rstrip().endswith(_UNIT_END) or any(
            _is_letter(a) and _is_letter(b) for a, b in zip(tokens, tokens[1:], strict=False))):
        return None  # "2m" is 2 metres; "ab" (also "a b") a name, a differential or a function
    brackets = ""
    if tokens[0] in ("(", "[", "\\{") and tokens[-1] in (")", "]", "\\}") and "," in tokens:
        brackets = tokens[0][-1] + tokens[-1][-1]  # "()", "(]", "[)", "[]" or "{}"
        if ("{" in brackets) != (brackets == "{}"):
            return None
        tokens = tokens[1:-1]
    elif tokens[0] == "\\{" or "\\}" in tokens or "[" in tokens:
        return None
    p = _Parser(tokens, _ENVS[point])
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
            elif p.peek() == "\\pm":  # "\\pm b" is the pair -b, b to math-verify
                p.take()
                b, _ = p.expr()
                values += [-b, b]
            else:
                a, _ = p.expr()
                if p.peek() == "\\pm":  # "a \\pm b" is the pair a+b, a-b
                    p.take()
                    b, _ = p.expr()
                    values += [p.added(a, b, a + b), p.added(a, b, a - b)]
                else:
                    values.append(a)
            if p.peek() == ",":
                p.take()
                continue
            if p.peek() is not None:
                return None
            break
    except (_Reject, ValueError, OverflowError, ZeroDivisionError, RecursionError, TypeError):
        return None
    if any(math.isnan(v) for v in values):
        return None
    if any(math.isinf(v) for v in values) and not (len(values) == 2 and brackets in (
            "()", "(]", "[)", "[]") and values[0] < values[1]):
        return None  # infinities only as the ends of one interval
    if len(values) == 1 and not brackets:
        return "scalar", values, p.big, letters
    if len(values) != 2 and brackets in ("(]", "[)"):
        return None  # "(1,2,3]" is no tuple to math-verify
    if len(values) == 2 and brackets and brackets != "{}":
        if letters:
            return None  # an interval may be empty (or a tuple) depending on the variables
        # math-verify reads "(b,a)" and "[b,a]" (b > a) as tuples, "[a,a]" as {a}, but a half-open
        # "(b,a]" as the empty set: all empty sets compare equal
        a, b = values
        if brackets in ("(]", "[)") and not (math.isinf(a) or math.isinf(b)) and \
                a > b - 1e-9 * max(1.0, abs(a), abs(b)):
            return None
    return brackets or ",", values, p.big, letters


def evaluate(s: str) -> tuple[str, list[float]] | None:
    """``("scalar", [v])`` or ``(brackets, [v1, v2, ...])`` for an answer, else None.

    Letters take their values at the first fixed point.

    >>> evaluate(r"\\frac{\\sqrt{3}}{2}")[1][0] == 3 ** 0.5 / 2
    True
    >>> evaluate(r"(-1, \\frac{1}{2}]")
    ('(]', [-1.0, 0.5])
    >>> evaluate("x")[0], evaluate(r"1\\pm 2")
    ('scalar', (',', [3.0, -1.0]))
    >>> evaluate(r"1\\frac{1}{2}"), evaluate("2(3)")
    (('scalar', [1.5]), ('scalar', [5.0]))
    >>> evaluate("ab") is None, evaluate("f(x)") is None, evaluate("1,000") is None
    (True, True, True)
    """
    r = _evaluate(s)
    return None if r is None else (r[0], r[1])


def _far(a: float, b: float, scale: float, floor: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a != b
    return abs(a - b) > max(floor, 1e-9 * max(abs(a), abs(b), scale))


def _differ(g: tuple, p: tuple, floor: float) -> bool:
    gv, pv = g[1], p[1]
    scale = max(g[2], p[2])
    if g[0] == "scalar" and p[0] == "scalar":
        return _far(gv[0], pv[0], scale, floor)
    return (any(all(_far(a, b, scale, floor) for b in pv) for a in gv)
            or any(all(_far(a, b, scale, floor) for a in gv) for b in pv))


def clearly_different(gold_n: str, pred_n: str) -> bool:
    """True only when math-verify can never call the two answers equal.

    >>> clearly_different(r"\\frac{\\sqrt{21}}{5}", r"\\frac{\\sqrt{21}}{9}")
    True
    >>> clearly_different(r"2\\sqrt{2}", r"\\sqrt{8}"), clearly_different("x+1", "y+1")
    (False, True)
    >>> clearly_different("x^2-1", "(x-1)(x+1)"), clearly_different("6r^2-4r", "6r^5-4r")
    (False, True)
    >>> clearly_different("(1,2)", "(2,1)"), clearly_different("(1,2)", "(1,3)")
    (False, True)
    >>> clearly_different(r"(2,\\infty)", r"(8,\\infty)"), clearly_different("3", r"[3,\\infty)")
    (True, True)
    >>> clearly_different(r"3\\pm 2\\sqrt{2}", r"8\\pm 2\\sqrt{2}"), clearly_different(r"\\pm 2", "2")
    (True, True)
    """
    g = _evaluate(gold_n)
    if g is None:
        return False
    p = _evaluate(pred_n)
    if p is None:
        return False
    floor = 2e-6 if "." in gold_n or "." in pred_n else 0.0
    if not (g[3] or p[3]):
        return _differ(g, p, floor)
    different = _differ(g, p, floor)
    for point in range(1, _POINTS):  # every point must evaluate cleanly
        g, p = _evaluate(gold_n, point), _evaluate(pred_n, point)
        if g is None or p is None:
            return False
        different = different or _differ(g, p, floor)
    return different
