"""Re-check the arithmetic of a worked solution, one equality at a time.

The synthesis stage keeps a synthetic solution only if every arithmetic step in it is right (a
step like ``48/2 = 25`` rejects it), and error analysis uses the same check to tell calculation
errors from reasoning errors. A *step* is an equality whose sides are made only of numbers and
``+ - * / x × · ÷ ^ %`` (``of`` after a percent), parentheses and ``\\frac{a}{b}``: plain text
(``3 x $4 = $12``, ``20% of 50 = 10``, ``$1,200 - $300 = $900``), LaTeX (``\\frac{1}{2} \\cdot 10 =
5``), chains (``2 + 3 = 5 + 1 = 6`` checks both equalities) and GSM8K calculator annotations
(``<<48/2=24>>``). Units and words after the right side are dropped (``= 24 clips``).

The verdict is conservative: a side containing a word or a variable (``x + 2 = 5``), a lone
operator cut off by a word, or anything beyond the bounds makes a step *not checkable*
(``ok=None``), never wrong. Arithmetic is exact (``fractions.Fraction``; decimals are exact);
nothing is ever passed to ``eval``. A stated decimal may be the exact value rounded to its own
number of places (``10/3 = 3.33``); after ``≈``/``approx`` an integer may be rounded too.

Bounds (hostile text returns quickly and never raises): only the first ``_MAX_TEXT`` characters
are read, at most ``_MAX_STEPS`` steps, ``_MAX_SIDE`` tokens per side, nesting depth
``_MAX_DEPTH``, number literals of ``_MAX_DIGITS`` characters, integer exponents with
``|e| <= 64`` and results of at most ``_MAX_BITS`` bits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from mathsynth.grading.cursor import TokenCursor

__all__ = ["Step", "StepReport", "check_steps", "find_steps"]

_MAX_TEXT = 100_000
_MAX_STEPS = 1_000
_MAX_SIDE = 120
_MAX_DEPTH = 40
_MAX_DIGITS = 40
_MAX_BITS = 4_096

_TOKEN = re.compile(r"""
    (?P<num>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?(?![0-9])|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)
   |(?P<eq>=|≈|≃|\\approx(?![A-Za-z]))
   |(?P<skip>\*\*|\\\$|\$|\\[,;:!\ ()\[\]]|\\(?:left|right)(?![A-Za-z])|\{,\})
   |(?P<op>[-+*/^×·⋅∙÷−%()\[\]{}]|\\(?:cdot|times|div)(?![A-Za-z])|\\%|(?<![A-Za-z])[xX](?![A-Za-z]))
   |(?P<frac>\\[dt]?frac(?![A-Za-z]))
   |(?P<word>\\text\{[^{}]{0,80}\}|\\?[A-Za-z]+)
   |(?P<other>\S)
""", re.X)
_ANNOTATION = re.compile(r"<<([^<>\n]{1,300})>>")
# "**" is markdown bold (``= **12**``), not a power: LLM solutions use it far more often.
_CANON = {"×": "*", "·": "*", "⋅": "*", "∙": "*", "\\cdot": "*", "\\times": "*", "x": "*", "X": "*",
          "÷": "/", "\\div": "/", "−": "-", "\\%": "%", "[": "(", "{": "(", "]": ")", "}": ")"}
_APPROX_WORDS = {"approx", "approximately", "about", "around", "roughly", "nearly"}
_OPEN, _CLOSE = "(", ")"


@dataclass(frozen=True)
class Step:
    """One equality ``lhs = rhs``; ``ok`` is None when it cannot be checked.

    ``expected``/``stated`` are the exact values of the left/right side (None if not evaluable);
    ``start`` is the offset of ``text`` in the solution.
    """

    text: str
    lhs: str
    rhs: str
    expected: Fraction | None
    stated: Fraction | None
    ok: bool | None
    start: int


@dataclass(frozen=True)
class StepReport:
    """All steps found, how many could be checked, the wrong ones; ``ok`` means none is wrong."""

    steps: list[Step] = field(default_factory=list)
    checked: int = 0
    wrong: list[Step] = field(default_factory=list)
    ok: bool = True


class _Fail(Exception):
    pass


class _Parser(TokenCursor):
    """Recursive descent over canonical tokens: ``+ -`` < ``* /`` (and implicit ``2(3)``) < unary
    sign < ``^`` (right-associative) < postfix ``%`` < atoms."""

    def __init__(self, toks: list[str]):
        super().__init__(toks, _Fail, max_depth=_MAX_DEPTH)

    def expr(self) -> Fraction:
        self.enter()
        v = self.term()
        while self.peek() in ("+", "-"):
            v = v + self.term() if self.take() == "+" else v - self.term()
        self.leave()
        return _bounded(v)

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek() in ("*", "/", "*of", _OPEN):
            op = self.take() if self.peek() in ("*", "/", "*of") else "*"  # "2(3 + 4)": implicit product
            w = self.unary()
            v = _bounded(v / w if op == "/" else v * w)  # ZeroDivisionError is caught by the caller
        return v

    def unary(self) -> Fraction:
        return self.signed(self.power)  # "- - - ... 1" hits the depth cap too

    def power(self) -> Fraction:
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take()
        self.enter()
        e = self.unary()  # right-associative: 2^3^2 is 2^9; "9^9^9^9" fails on the cap below
        self.leave()
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if e.denominator != 1 or abs(e) > 64 or bits * abs(e) > _MAX_BITS or (base == 0 and e < 0):
            raise _Fail
        return base ** int(e)

    def postfix(self) -> Fraction:
        v = self.atom()
        while self.peek() == "%":
            self.take()
            v = v / 100
        return v

    def atom(self) -> Fraction:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return Fraction(tok.replace(",", ""))
        if tok == _OPEN:
            v = self.expr()
            self.take(_CLOSE)
            return v
        if tok == "\\frac":  # \frac{a}{b}; braces are canonical parentheses here
            self.take(_OPEN)
            num = self.expr()
            self.take(_CLOSE)
            self.take(_OPEN)
            den = self.expr()
            self.take(_CLOSE)
            return num / den
        raise _Fail  # an operator where a number belongs, e.g. the variable "x" read as a times sign


def _bounded(v: Fraction) -> Fraction:
    if v.numerator.bit_length() > _MAX_BITS or v.denominator.bit_length() > _MAX_BITS:
        raise _Fail
    return v


def _value(toks: list[str]) -> Fraction | None:
    p = _Parser(toks)
    try:
        v = p.expr()
    except (_Fail, ZeroDivisionError, ValueError, OverflowError, RecursionError):
        return None
    return v if p.i == len(toks) else None


def _tokens(line: str, offset: int) -> list[tuple[str, str, int, int]]:
    """``(kind, canonical text, start, end)``; skipped marks ($, \\left, bold) are dropped."""
    out: list[tuple[str, str, int, int]] = []
    for m in _TOKEN.finditer(line):
        kind, text = m.lastgroup, m.group()
        if kind == "skip":
            continue
        if kind == "num" and len(text) > _MAX_DIGITS:
            kind = "other"
        elif kind in ("op", "frac"):
            text = "\\frac" if kind == "frac" else _CANON.get(text, text)
            kind = "op"
        elif kind == "word" and text == "of" and out and out[-1][1] == "%":
            kind, text = "op", "*of"  # "20% of 50"; kept apart so "= 60% of them" can drop it
        out.append((kind, text, m.start() + offset, m.end() + offset))
    return out


def _lhs(toks: list, lo: int, hi: int) -> tuple[int, bool]:
    """Start of the arithmetic suffix of ``toks[lo:hi]``, and whether it is trustworthy."""
    depth, j = 0, hi
    while j > lo and hi - j <= _MAX_SIDE:
        kind, text = toks[j - 1][0], toks[j - 1][1]
        if kind not in ("num", "op") or (text == _OPEN and depth == 0):
            break  # a word, punctuation or an unmatched "(" ends the expression: "(3 + 4 = 7)"
        depth += (text == _CLOSE) - (text == _OPEN)
        j -= 1
    if j == hi or hi - j > _MAX_SIDE:
        return j, False
    first, stop = toks[j], (toks[j - 1] if j > lo else None)
    if stop is not None and first[1] != _OPEN and first[0] == "op":
        return j, False  # "apples x 4": the operand before the operator is a word
    if stop is not None and stop[0] in ("word", "other") and stop[3] == first[2]:
        return j, False  # glued to text: "10:30 + 2", "COVID19 + 1"
    return j, True


def _rhs(toks: list, lo: int, hi: int) -> tuple[int, int, bool]:
    """``(start, end, approx)`` of the arithmetic prefix of ``toks[lo:hi]``."""
    approx = False
    while lo < hi and (toks[lo][1].lower() in _APPROX_WORDS or (approx and toks[lo][1] == ".")):
        approx, lo = True, lo + 1  # "= approx. 3.33"
    depth, j = 0, lo
    while j < hi and j - lo <= _MAX_SIDE:
        kind, text = toks[j][0], toks[j][1]
        if kind not in ("num", "op") or (text == _CLOSE and depth == 0):
            break
        depth += (text == _OPEN) - (text == _CLOSE)
        j += 1
    if j > lo and toks[j - 1][1] == "*of":
        j -= 1
    return lo, j, approx


def _places(toks: list[str]) -> int | None:
    """Decimal places of a side that is one (signed, maybe percent) literal, else None."""
    core = [t for t in toks if t not in ("-", "+", "%")]
    if len(core) != 1 or not (core[0][0].isdigit() or core[0][0] == "."):
        return None
    return len(core[0].partition(".")[2])


def _judge(lt: list[str], rt: list[str], approx: bool,
           chain: bool = False) -> tuple[Fraction | None, Fraction | None, bool | None]:
    a, b = _value(lt), _value(rt)
    if a is None or b is None:
        return a, b, None
    if chain and a != b and len(rt) > 1 and rt[0][0].isdigit() and rt[1] != "%":
        # a running computation "2 + 3 = 5 + 1 = 6" states 2 + 3 = 5, then goes on with 5 + 1
        b2 = _value(rt[:1])
        if b2 is not None and _judge(lt, rt[:1], approx)[2]:
            return a, b2, True
    if a == b:
        return a, b, True
    # a percent is compared in percent units, read either way: "0.2 * 50 = 20%"... or "10/50 * 100 = 20%"
    pairs = [(a * 100, b * 100), (a, b * 100)] if rt[-1] == "%" else [(a, b)]
    places = _places(rt)
    for x, y in pairs:
        if x == y or (places is not None and (places or approx) and abs(x - y) * 2 * 10 ** places <= 1):
            return a, b, True  # exact, or within half a unit of the last stated place: "10/3 = 3.33"
    return a, b, False


def _scan(solution: str, line: str, offset: int, steps: list[Step]) -> None:
    toks = _tokens(line, offset)
    eqs = [k for k, t in enumerate(toks) if t[0] == "eq"]
    for n, k in enumerate(eqs):
        if len(steps) >= _MAX_STEPS:
            return
        lo = eqs[n - 1] + 1 if n else 0
        hi = eqs[n + 1] if n + 1 < len(eqs) else len(toks)
        a, trusted = _lhs(toks, lo, k)
        b, c, approx = _rhs(toks, k + 1, hi)
        left, right = toks[a:k], toks[b:c]
        if not left or not right or not any(t[0] == "num" for t in left) or \
                not any(t[0] == "num" for t in right) or all(t[0] == "num" for t in left + right):
            continue  # no arithmetic at all: "the 3 = 3 apples", "Total = 5"
        nxt = toks[c] if c < len(toks) and toks[c][2] == right[-1][3] else None
        if nxt is not None and (nxt[1] == ":" or (nxt[0] == "word" and (len(nxt[1]) == 1 or (
                c + 1 < len(toks) and toks[c + 1][0] == "op")))):
            trusted = False  # glued on: "= 10:30", a variable "= 5A/5" or "= 1.2Y", not a unit "= 24cm"
        if len(left) > _MAX_SIDE or len(right) > _MAX_SIDE:
            trusted = False
        approx = approx or toks[k][1] != "="
        lt, rt = [t[1] for t in left], [t[1] for t in right]
        chain = c == hi and n + 1 < len(eqs)  # the right side runs up to the next "="
        exp, stated, ok = _judge(lt, rt, approx, chain) if trusted else (None, None, None)
        s0, s1 = left[0][2], right[-1][3]
        steps.append(Step(text=solution[s0:s1], lhs=solution[s0:left[-1][3]], rhs=solution[right[0][2]:s1],
                          expected=exp, stated=stated, ok=ok, start=s0))


def find_steps(solution: str) -> list[Step]:
    """Every arithmetic equality in ``solution``, in order (annotations before the free text).

    >>> [(s.text, s.ok) for s in find_steps("She sold 48/2 = 24 clips, then 3 x $4 = $13.")]
    [('48/2 = 24', True), ('3 x $4 = $13', False)]
    >>> [(s.lhs, s.rhs, s.ok) for s in find_steps("So 2 + 3 = 5 + 1 = 7, and x + 2 = 5.")]
    [('2 + 3', '5 + 1', True), ('5 + 1', '7', False), ('x + 2', '5', None)]
    >>> [s.text for s in find_steps("Natalia sold 48/2 = <<48/2=24>>24 clips.")]
    ['48/2=24', '48/2 = <<48/2=24>>24']
    >>> find_steps(r"\\frac{1}{3} \\times 10 \\approx 3.33")[0].expected
    Fraction(10, 3)
    """
    if not isinstance(solution, str):
        return []
    text = solution[:_MAX_TEXT]
    steps: list[Step] = []
    if "<<" in text:
        for m in _ANNOTATION.finditer(text):
            _scan(solution, m.group(1), m.start(1), steps)
        # blank the annotations out (same length, so offsets stay valid) before reading the prose
        text = _ANNOTATION.sub(lambda m: " " * len(m.group()), text)
    pos = 0
    for line in text.split("\n"):
        if "=" in line or "≈" in line or "≃" in line or "\\approx" in line:
            _scan(solution, line, pos, steps)
        pos += len(line) + 1
    return steps[:_MAX_STEPS]


def check_steps(solution: str) -> StepReport:
    """Find and re-compute every arithmetic step; ``ok`` is False if any step is wrong.

    >>> r = check_steps("20% of 50 = 10. Then 10/3 = 3.33 and 2^3 = 9.")
    >>> r.checked, r.ok, [s.text for s in r.wrong]
    (3, False, ['2^3 = 9'])
    >>> check_steps("<<48/2=20>>").ok, check_steps("Let x = 5, so 2x = 10.").checked
    (False, 0)
    """
    steps = find_steps(solution)
    wrong = [s for s in steps if s.ok is False]
    return StepReport(steps=steps, checked=sum(s.ok is not None for s in steps), wrong=wrong, ok=not wrong)


def first_wrong_span(text: str) -> tuple[int, int] | None:
    """(start, end) offsets of the earliest arithmetic step the step checker finds wrong, or None.

    >>> t = "So 2 + 2 = 4, then 4 * 3 = 13. The answer is: 13."
    >>> s = first_wrong_span(t); t[s[0]:s[1]]
    '4 * 3 = 13'
    >>> first_wrong_span("2 + 2 = 4") is None
    True
    """
    wrong = check_steps(text or "").wrong
    if not wrong:
        return None
    step = min(wrong, key=lambda s: s.start)
    return step.start, step.start + len(step.text)
