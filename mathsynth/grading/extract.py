"""Final-answer extraction from a whole model response.

Extraction is a list of *named rules* tried in order; the first rule that yields an answer wins and
its name is reported, so graders can audit why a response was read the way it was.

Rules (all linear-time; no regex with nested quantifiers, so a 1 MB response stays cheap):

``answer_is``
    Last "the answer is X" / "The final answer is: X" / "Final answer: X" (case-insensitive). X is
    the rest of that line (or the next non-empty line when the line ends right after the colon),
    cut at the first sentence end (a period followed by whitespace), with a trailing period and
    ``$...$`` / ``\\(...\\)`` / ``\\boxed{...}`` / ``**...**`` wrappers stripped. An answer in words
    ("42 cookies", "twelve", "6 * 7 = 42 apples") becomes the one number it commits to
    (:func:`mathsynth.grading.answers.reduce_answer`; also for ``gsm8k_hash`` and ``boxed``).
``gsm8k_hash``
    Last ``#### X`` (GSM8K reference format); X is the rest of that line.
``boxed``
    Last top-level ``\\boxed{...}`` or ``\\fbox{...}``, found with the brace matcher of
    :mod:`mathsynth.latex` (shared with data and synthesis), which honours
    escaped braces (``\\{``), so nested braces work at any depth. If the last ``\\boxed{`` is never
    closed (the response was cut off while writing its final answer) the rule *vetoes*: extraction
    stops with no answer instead of letting a later fallback rule guess from the partial text.
``last_number``
    Last number in the text: ``1,234`` (thousands commas dropped), ``-5``, ``3.25``, ``.5``, ``3/4``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mathsynth.errors import MathsynthError
from mathsynth.grading.answers import reduce_answer
from mathsynth.latex import BOXED_OPEN, MATH_DELIMITERS, UNCLOSED, find_boxed, match_brace, strip_wrapper

__all__ = [
    "BENCHMARK_RULES",
    "DEFAULT_RULES",
    "RULES",
    "extract_answer",
    "extract_with_rule",
    "find_boxed",
    "match_brace",
    "rules_for",
]

# Returned by a rule to stop extraction with no answer (truncated final answer).
_VETO = UNCLOSED

_TRAIL = " \t\r\n.,;:。*"

def _clean(ans: str) -> str | None:
    """Strip delimiters and trailing punctuation around an extracted answer; None if empty."""
    s = ans.strip()
    for _ in range(8):  # wrappers can nest: "**$\\boxed{5}$**."
        before = s
        s = s.lstrip(" \t\r\n:*").rstrip(_TRAIL)
        inner = strip_wrapper(s)
        if inner is not None:
            s = inner
        m = BOXED_OPEN.match(s)
        if m:
            close = match_brace(s, m.end() - 1)
            if close == len(s) - 1:
                s = s[m.end():close].strip()
        if s == before:
            break
    return s or None


# "the answer is X", "the answer, which is X", "Final answer: X", "**Final Answer:** X" (a colon
# is required after "final answer": "the final answer to the question" is no statement)
_ANSWER_IS = re.compile(r"\banswer(?:,[ \t]*which)?\s+is\b[ \t]*:?|\bfinal\s+answer\b(?:\*\*)?[ \t]*:",
                        re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<!\\)\.(?=\s)")


def _take_math(rest: str) -> str | object:
    """Cut ``rest`` (text after an answer phrase) to the answer itself (veto if an unclosed box).

    A delimited answer (``$...$``, ``\\[...\\]``, ``\\boxed{...}``) may span lines; otherwise the
    answer is the rest of the line up to the first sentence end.
    """
    for left, right in MATH_DELIMITERS:
        if rest.startswith(left):
            close = re.compile(r"(?<!\\)" + re.escape(right)).search(rest, len(left))
            if close:
                return rest[: close.end()]
            return rest.split("\n", 1)[0]
    m = BOXED_OPEN.match(rest)
    if m:
        close = match_brace(rest, m.end() - 1)
        return _VETO if close is None else rest[: close + 1]
    line = rest.split("\n", 1)[0]
    cut = _SENTENCE_END.search(line)
    return line[: cut.start()] if cut else line


def _rule_answer_is(text: str) -> str | None | object:
    last = None
    for last in _ANSWER_IS.finditer(text):
        pass
    if last is None:
        return None
    rest = text[last.end():].lstrip(" \t:*")
    if rest.startswith(("\n", "\r")):  # "The answer is:\n\n42"
        rest = rest.lstrip()
    taken = _take_math(rest)
    if taken is _VETO:
        return _VETO
    ans = _clean(taken)  # type: ignore[arg-type]
    if ans and find_boxed(ans) is _VETO:  # "The answer is $\boxed{" (cut off)
        return _VETO
    return reduce_answer(ans) if ans else ans


def _rule_gsm8k_hash(text: str) -> str | None:
    pos = text.rfind("####")
    if pos < 0:
        return None
    line = text[pos + 4:].split("\n", 1)[0]
    ans = _clean(line)
    return reduce_answer(ans) if ans else ans


def _rule_boxed(text: str) -> str | None | object:
    found = find_boxed(text)
    if found is None or found is _VETO:
        return found
    ans = _clean(found)  # type: ignore[arg-type]
    return reduce_answer(ans) if ans else ans


_NUMBER = re.compile(
    r"(?<![\w)\]}.\d])-?(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?(?:/\d+(?![\d.]))?"
    r"|(?<![\w)\]}.\d])-?\.\d+"
)


def _rule_last_number(text: str) -> str | None:
    last = None
    for last in _NUMBER.finditer(text):
        pass
    if last is None:
        return None
    return last.group().replace(",", "")


RULES: dict[str, Callable[[str], object]] = {
    "answer_is": _rule_answer_is,
    "gsm8k_hash": _rule_gsm8k_hash,
    "boxed": _rule_boxed,
    "last_number": _rule_last_number,
}

#: Rule order per benchmark family. MATH-style solutions box their answer; GSM8K-style ones
#: (and Xwin-Math's training format) end with "The answer is: X".
BENCHMARK_RULES: dict[str, tuple[str, ...]] = {
    "math": ("boxed", "answer_is", "gsm8k_hash", "last_number"),
    "gsm8k": ("answer_is", "gsm8k_hash", "boxed", "last_number"),
}
DEFAULT_RULES: tuple[str, ...] = ("answer_is", "boxed", "gsm8k_hash", "last_number")

_FAMILY_PREFIXES = (
    (("gsm", "svamp", "asdiv", "mawps", "multiarith", "addsub", "singleeq", "singleop"), "gsm8k"),
    (("math", "minerva", "aime", "amc", "olympiad", "hendrycks", "theoremqa", "omni", "aqua"), "math"),
)


def rules_for(benchmark: str | None) -> tuple[str, ...]:
    """The default rule order for a benchmark name (matched by family prefix, case-insensitive).

    >>> rules_for("MATH500")
    ('boxed', 'answer_is', 'gsm8k_hash', 'last_number')
    >>> rules_for("gsm8k")[0], rules_for(None)[0], rules_for("my-own-set")[0]
    ('answer_is', 'answer_is', 'answer_is')
    """
    if not benchmark:
        return DEFAULT_RULES
    name = re.sub(r"[^a-z0-9]", "", benchmark.lower())
    if name in BENCHMARK_RULES:
        return BENCHMARK_RULES[name]
    for prefixes, family in _FAMILY_PREFIXES:
        if name.startswith(prefixes):
            return BENCHMARK_RULES[family]
    return DEFAULT_RULES


def _check_rules(rules: Sequence[str]) -> tuple[str, ...]:
    if isinstance(rules, str):
        rules = (rules,)
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise MathsynthError(
            f"unknown extraction rule(s) {unknown}; known rules: {', '.join(RULES)}")
    return tuple(rules)


#: Rules that read an explicit final-answer statement. A completion cut off at the token limit is
#: graded by these alone: its last number is wherever the text happened to stop, not an answer.
FINAL_STATEMENT_RULES = frozenset({"answer_is", "gsm8k_hash", "boxed"})


def extract_with_rule(response: str, benchmark: str | None = None,
                      rules: Sequence[str] | None = None, *, truncated: bool = False
                      ) -> tuple[str | None, str | None]:
    """Extract the final answer and the name of the rule that fired; ``(None, None)`` if none did.

    ``rules`` overrides the benchmark's default order (:func:`rules_for`). ``truncated``: the
    completion stopped at the token limit, so only a final-answer statement ("The answer is",
    ``####``, a closed ``\boxed{}``: :data:`FINAL_STATEMENT_RULES`) counts, never the last number.

    >>> extract_with_rule("So 2+3=5. The answer is: $5$.")
    ('5', 'answer_is')
    >>> extract_with_rule(r"Thus the area is $\\boxed{\\frac{3}{4}}$.", benchmark="math")
    ('\\\\frac{3}{4}', 'boxed')
    >>> extract_with_rule("She pays 3 * 4 = 12 dollars.\\n#### 12", benchmark="gsm8k")
    ('12', 'gsm8k_hash')
    >>> extract_with_rule("In total 1,234 apples", rules=["last_number"])
    ('1234', 'last_number')
    >>> extract_with_rule(r"The answer is \\boxed{")  # cut off while writing the answer
    (None, None)
    >>> extract_with_rule("First 12 + 30 = 42, then 42 * 3", truncated=True)  # cut off mid-ramble
    (None, None)
    >>> extract_with_rule("12 + 30 = 42. The answer is: 42. Also", truncated=True)
    ('42', 'answer_is')
    """
    if not isinstance(response, str) or not response:
        return None, None
    order = rules_for(benchmark) if rules is None else _check_rules(rules)
    if truncated:
        order = tuple(r for r in order if r in FINAL_STATEMENT_RULES)
    for name in order:
        found = RULES[name](response)
        if found is _VETO:
            return None, None
        if found:
            return found, name  # type: ignore[return-value]
    return None, None


def extract_answer(response: str, benchmark: str | None = None,
                   rules: Sequence[str] | None = None, *, truncated: bool = False) -> str | None:
    """Extract the final answer from a model response (see :func:`extract_with_rule`).

    >>> extract_answer("First 3/4 of it... The answer is 42")
    '42'
    >>> extract_answer("I think it is -2.5 or maybe 3/4") is not None
    True
    >>> extract_answer("no digits here") is None
    True
    """
    return extract_with_rule(response, benchmark, rules, truncated=truncated)[0]
