"""Exact arithmetic helpers for the symbolic generator: number spans, formatting, and annotations.

GSM8K solutions carry calculator annotations ``<<48/2=24>>``; this module parses them into a tiny
AST whose number literals can be swapped for new values and re-evaluated exactly with
:class:`fractions.Fraction` (never ``eval``), and it finds and re-formats the numbers of free text.

>>> ann = parse_annotation("48+24=72")
>>> [lit.text for lit in ann.literals], ann.value, ann.evaluate([Fraction(50), Fraction(25)])
(['48', '24'], Fraction(72, 1), Fraction(75, 1))
>>> ann.render([Fraction(50), Fraction(25)], Fraction(75))
'50+25=75'
>>> [(n.text, n.value, n.money, n.percent) for n in find_numbers("It costs $1,200 or 20% of 6.5")]
[('1,200', Fraction(1200, 1), True, False), ('20', Fraction(20, 1), False, True), ('6.5', Fraction(13, 2), False, False)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Annotation", "Literal", "NumberSpan", "decimals_needed", "find_numbers", "format_number",
           "parse_annotation"]

# A number in prose: "1,200", "6.5", ".5", "48". Thousands groups only in the 3-digit form, so "1,2,3"
# (a list) stays three numbers.
_NUMBER = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])|(?<![\d.])\.\d+")
_ORDINAL = re.compile(r"(?:st|nd|rd|th)\b", re.I)
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([-+*/()]))")


@dataclass(frozen=True)
class NumberSpan:
    """One number written in text: ``text`` sits at ``start:end`` (no ``$`` or ``%``)."""

    start: int
    end: int
    text: str
    value: Fraction
    money: bool  # written after "$": keeps at most 2 decimals
    percent: bool  # written before "%" or " percent"
    fixed: bool  # an ordinal ("2nd"), a clock time ("3:30") or part of a word: never changed

    @property
    def decimals(self) -> int:
        """Digits after the decimal point as written ("1.50" -> 2)."""
        return len(self.text.split(".")[1]) if "." in self.text else 0


def find_numbers(text: str) -> list[NumberSpan]:
    """Every number in ``text`` with its span and kind, in order.

    >>> [(n.text, n.fixed) for n in find_numbers("On the 2nd day at 3:30 he ran 5.25 miles")]
    [('2', True), ('3', True), ('30', True), ('5.25', False)]
    """
    out = []
    for m in _NUMBER.finditer(text):
        s, e = m.span()
        raw = m.group()
        before, after = text[s - 1:s] if s else "", text[e:e + 1]
        # Times, ordinals and identifiers (A4) are labels, not quantities; rewriting them is unsafe.
        fixed = (before == ":" or after == ":" and text[e + 1:e + 2].isdigit()
                 or bool(_ORDINAL.match(text, e)) or before.isalpha() or before == "_")
        money = text[max(0, s - 2):s].rstrip().endswith("$")
        percent = after == "%" or text[e:e + 8].lower().lstrip().startswith("percent")
        out.append(NumberSpan(s, e, raw, Fraction(raw.replace(",", "")), money, percent, fixed))
    return out


def decimals_needed(value: Fraction) -> int | None:
    """How many decimals write ``value`` exactly; None if it never terminates (1/3).

    >>> decimals_needed(Fraction(1, 4)), decimals_needed(Fraction(7)), decimals_needed(Fraction(1, 3))
    (2, 0, None)
    """
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    return max(twos, fives) if den == 1 else None


def format_number(value: Fraction, decimals: int = 0, commas: bool = False) -> str:
    """Write ``value`` exactly with at least ``decimals`` decimals (more if needed), optional commas.

    >>> format_number(Fraction(3, 2), 2), format_number(Fraction(12000), commas=True), format_number(Fraction(-1, 5))
    ('1.50', '12,000', '-0.2')
    """
    need = decimals_needed(value)
    if need is None:
        raise ValueError(f"{value} has no finite decimal form")
    places = max(decimals, need)
    sign = "-" if value < 0 else ""
    scaled = abs(value) * 10 ** places
    whole, frac = divmod(int(scaled), 10 ** places)
    head = f"{whole:,}" if commas else str(whole)
    return sign + head + (f".{frac:0{places}d}" if places else "")


@dataclass(frozen=True)
class Literal:
    """A number literal inside an annotation expression, at ``start:end`` of the expression text."""

    start: int
    end: int
    text: str
    value: Fraction


class _Parser:
    """Recursive descent over + - * / ( ) and unary minus; literals become ("lit", k) leaves."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.pos, self.nlit = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expr(self):
        node = self.term()
        while self.peek() in ("+", "-"):
            node = (self.take()[1], node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek() in ("*", "/"):
            node = (self.take()[1], node, self.unary())
        return node

    def unary(self):
        if self.peek() == "-":
            self.take()
            return ("neg", self.unary())
        if self.peek() == "+":
            self.take()
            return self.unary()
        if self.peek() == "(":
            self.take()
            node = self.expr()
            if self.peek() != ")":
                raise ValueError("unbalanced parentheses")
            self.take()
            return node
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "num":
            self.take()
            self.nlit += 1
            return ("lit", self.nlit - 1)
        raise ValueError("expected a number")


def _eval(node, values: list[Fraction]) -> Fraction:
    op = node[0]
    if op == "lit":
        return values[node[1]]
    if op == "neg":
        return -_eval(node[1], values)
    a, b = _eval(node[1], values), _eval(node[2], values)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b  # ZeroDivisionError propagates: the caller rejects the variant


@dataclass(frozen=True)
class Annotation:
    """A parsed ``expr=value`` annotation; ``value`` is the written result, ``exact`` whether it is exact."""

    expr: str
    literals: tuple[Literal, ...]
    tree: tuple
    value: Fraction
    value_text: str

    @property
    def exact(self) -> bool:
        """Whether the written result equals the expression exactly (GSM8K sometimes rounds)."""
        try:
            return self.evaluate([lit.value for lit in self.literals]) == self.value
        except ZeroDivisionError:
            return False

    def evaluate(self, values: list[Fraction]) -> Fraction:
        """The expression with literal ``k`` replaced by ``values[k]``, computed exactly."""
        return _eval(self.tree, values)

    def render(self, values: list[Fraction], result: Fraction) -> str:
        """``expr=result`` text with the literals replaced by ``values`` (original spacing kept)."""
        parts, last = [], 0
        for lit, v in zip(self.literals, values, strict=True):
            parts += [self.expr[last:lit.start], lit.text if v == lit.value else format_number(v)]
            last = lit.end
        return "".join(parts) + self.expr[last:] + "=" + format_number(result)


def parse_annotation(body: str) -> Annotation:
    """Parse the inside of ``<<...>>``; raises ValueError on anything but numbers, + - * / ( ).

    >>> parse_annotation("-(3 - 5) * .5=1").evaluate([Fraction(3), Fraction(5), Fraction(1, 2)])
    Fraction(1, 1)
    >>> parse_annotation("2^3=8")
    Traceback (most recent call last):
    ...
    ValueError: unsupported annotation '2^3=8'
    """
    expr, sep, value_text = body.rpartition("=")
    tokens, literals, pos = [], [], 0
    stripped = expr.rstrip()
    while sep and pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m:
            break
        if m.group(1):
            tokens.append(("num", m.group(1)))
            literals.append(Literal(m.start(1), m.end(1), m.group(1), Fraction(m.group(1))))
        else:
            tokens.append(("op", m.group(2)))
        pos = m.end()
    try:
        value = Fraction(value_text.strip().replace(",", ""))
    except ValueError:
        value = None
    if not sep or pos < len(stripped) or not tokens or value is None:
        raise ValueError(f"unsupported annotation {body!r}")
    parser = _Parser(tokens)
    try:
        tree = parser.expr()
    except (ValueError, IndexError) as exc:
        raise ValueError(f"unsupported annotation {body!r}") from exc
    if parser.pos != len(tokens):
        raise ValueError(f"unsupported annotation {body!r}")
    return Annotation(expr, tuple(literals), tree, value, value_text.strip())
