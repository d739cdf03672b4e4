"""The token cursor under the grader's three small recursive-descent parsers (exact constants in
:mod:`~mathsynth.grading.exact`, numeric probing in :mod:`~mathsynth.grading.numeric`, step
arithmetic in :mod:`~mathsynth.grading.steps`): they share how tokens are read and how nesting is
bounded, and differ in their grammars.

Model output is hostile input: every parse must end quickly, so nesting deeper than ``max_depth``
fails (with the parser's own exception) instead of recursing toward Python's stack limit.
"""

from __future__ import annotations


class TokenCursor:
    """Tokens read left to right; ``fail`` is raised on a mismatch, the end, or too deep nesting.

    >>> c = TokenCursor(["2", "+", "3"], ValueError, max_depth=2)
    >>> c.take("2"), c.peek(), c.peek(1)
    ('2', '+', '3')
    >>> c.take("*")
    Traceback (most recent call last):
    ValueError
    >>> c.enter(); c.enter(); c.enter()
    Traceback (most recent call last):
    ValueError
    """

    def __init__(self, tokens: list[str], fail: type[Exception], *, max_depth: int):
        self.t, self.i, self.depth = tokens, 0, 0
        self.fail, self.max_depth = fail, max_depth

    def peek(self, k: int = 0) -> str | None:
        """The token ``k`` places ahead (None past the end)."""
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        """Consume the next token (which must be ``want`` when given)."""
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise self.fail
        self.i += 1
        return tok

    def enter(self) -> None:
        """One level of nesting deeper (call :meth:`leave` on the way out)."""
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.fail

    def leave(self) -> None:
        self.depth -= 1

    def signed(self, operand):
        """Unary signs before ``operand()``: ``- - 3`` is 3; each sign is a level of nesting, so a
        long run of signs hits the depth cap rather than the stack."""
        if self.peek() not in ("-", "+"):
            return operand()
        self.enter()
        sign = self.take()
        v = self.signed(operand)
        self.leave()
        return -v if sign == "-" else v
