"""LaTeX read by data, grading and synthesis alike: brace matching, ``\\boxed{}`` and the delimiters an
answer is wrapped in.

A MATH solution's gold answer (:mod:`mathsynth.data`), a model's boxed final answer
(:mod:`mathsynth.grading`) and a teacher's boxed answers (:mod:`mathsynth.synth`) are one notation,
so they are read by one matcher: escaped braces (``\\{``) are literal, nested braces work at any
depth, and every scan is linear in the text (model output can be hostile and 1 MB long).
"""

from __future__ import annotations

import re

#: Returned by :func:`find_boxed` when the last ``\\boxed{`` never closes (a cut-off final answer).
UNCLOSED = object()

#: Math delimiters around a whole answer, longest first (``$$`` before ``$``).
MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
#: Everything an answer may be wrapped in: the math delimiters and Markdown bold.
WRAPPERS = (*MATH_DELIMITERS, ("**", "**"))

_TOKENS = re.compile(r"\\.|[{}]", re.DOTALL)
_BOXED_START = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])[ \t]*")
_BOXED_BARE = re.compile(r"[^\s${}]+")
#: ``\\boxed{`` or ``\\fbox{`` (the brace included): where a braced box opens.
BOXED_OPEN = re.compile(r"\\(?:boxed|fbox)[ \t]*\{")
_DOLLAR = re.compile(r"(?<!\\)\$")


def match_brace(text: str, open_pos: int) -> int | None:
    """Index of the ``}`` that closes the ``{`` at ``open_pos``, or None if it never closes.

    Escaped braces (``\\{``, ``\\}``) are literal characters and do not count.

    >>> s = r"\\boxed{\\frac{1}{2}} and more"
    >>> s[7:match_brace(s, 6)]
    '\\\\frac{1}{2}'
    >>> match_brace("{{}", 0) is None
    True
    """
    if open_pos >= len(text) or text[open_pos] != "{":
        raise ValueError(f"no '{{' at position {open_pos}")
    depth = 0
    for m in _TOKENS.finditer(text, open_pos):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return m.start()
    return None


def find_boxed(text: str) -> str | None | object:
    """Content of the last top-level ``\\boxed{...}``/``\\fbox{...}``; None if there is none.

    Returns :data:`UNCLOSED` when the last ``\\boxed`` is unclosed. Nested boxes pick the outermost
    one. ``\\boxed 5`` (no braces, as in some MATH solutions) is accepted too.

    >>> find_boxed(r"so $\\boxed{\\{1, 2\\}}$.")
    '\\\\{1, 2\\\\}'
    >>> find_boxed(r"first \\boxed{1}, then \\boxed{\\boxed{2}+1}")
    '\\\\boxed{2}+1'
    >>> find_boxed("no box") is None, find_boxed(r"\\boxed{3") is UNCLOSED
    (True, True)
    """
    starts = list(_BOXED_START.finditer(text))
    if not starts:
        return None
    opens: dict[int, int] = {}  # position of '{' -> start of the \boxed
    bare: list[tuple[int, int, int]] = []  # (start, content_start, content_end)
    for m in starts:
        if m.end() < len(text) and text[m.end()] == "{":
            opens[m.end()] = m.start()
        else:
            b = _BOXED_BARE.match(text, m.end())
            if b:
                bare.append((m.start(), b.start(), b.end()))
    closed: list[tuple[int, int, int]] = list(bare)
    unclosed: list[int] = []
    if opens:
        # One linear pass matching every brace; O(n) even for 10**5 nested or unclosed boxes.
        stack: list[int] = []
        first_open = min(opens)
        for m in _TOKENS.finditer(text, first_open):
            tok = m.group()
            if tok == "{":
                stack.append(m.start())
            elif tok == "}" and stack:
                o = stack.pop()
                if o in opens:
                    closed.append((opens[o], o + 1, m.start()))
        unclosed = [opens[o] for o in stack if o in opens]
    closed.sort()
    last: tuple[int, int, int] | None = None
    end = -1
    for start, c0, c1 in closed:  # keep top-level boxes only: skip those inside the previous one
        if start > end:
            last, end = (start, c0, c1), c1
    if unclosed and (last is None or max(unclosed) > last[2]):
        return UNCLOSED
    if last is None:
        return None
    return text[last[1]:last[2]]


def last_boxed(text: str | None) -> str | None:
    """Content of the last top-level ``\\boxed{...}`` (or ``\\fbox{...}``), stripped; None if there
    is none or it never closes (how a reference solution states its answer).

    >>> last_boxed(r"so $x = \\boxed{\\frac{3}{4}}$.")
    '\\\\frac{3}{4}'
    >>> last_boxed(r"\\boxed 5") , last_boxed("no box") is None, last_boxed(r"\\boxed{5") is None
    ('5', True, True)
    """
    found = find_boxed(text) if text else None
    return found.strip() if isinstance(found, str) else None


def all_boxed(text: str) -> list[str]:
    """Contents of every top-level braced ``\\boxed{}``, stripped, in order; stops at an unclosed one
    (linear overall).

    >>> all_boxed(r"\\boxed{1} and \\boxed{ \\frac{1}{2} }, then \\boxed{3")
    ['1', '\\\\frac{1}{2}']
    """
    out, pos = [], 0
    while True:
        m = BOXED_OPEN.search(text, pos)
        if not m:
            return out
        close = match_brace(text, m.end() - 1)
        if close is None:
            return out
        out.append(text[m.end():close].strip())
        pos = close + 1


def strip_wrapper(s: str) -> str | None:
    """``s`` without the one :data:`WRAPPERS` pair around all of it (inner text stripped), or None
    when there is none. ``$a$ and $b$`` is two formulas, not one wrapped in ``$``.

    >>> strip_wrapper("$$ x^2 $$"), strip_wrapper("**5**"), strip_wrapper("$a$ and $b$"), strip_wrapper("5")
    ('x^2', '5', None, None)
    """
    for left, right in WRAPPERS:
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            inner = s[len(left):len(s) - len(right)]
            if left.startswith("$") and _DOLLAR.search(inner):
                continue  # "$a$ and $b$": not one wrapper
            return inner.strip()
    return None
