"""Read a teacher's reply to a synthesis prompt (see :mod:`mathsynth.synth.prompts`).

Teachers drift from the requested format, so headers are found leniently: a header is a line that,
after optional markdown (``#``, ``**``, ``>``, ``1.``), starts with a known section name in any case
(``FINAL CREATED QUESTION``, ``Final question``, ``New problem``, ``Modified question``, ...) followed by
``:``, ``-``, or the end of the line. A section runs from its header to the next header.

Anything doubtful is *rejected with a reason* rather than guessed, because a wrong question or answer
poisons training data while a rejected one only costs a re-sample. Every check is linear in the input
(one pass per line, no nested quantifiers), the input is capped at ``MAX_INPUT_CHARS``, and nothing is
ever evaluated.

Question checks (in order): empty; too long input; no header; (verify mode) no final question;
solution leaked (``the answer is``, ``####``, ``\\boxed``, an ``Answer:`` line); too short/long;
multiple questions: the last paragraph has more than one ``?``, or its last question sentence
continues with "and what/how/which/find ...".

Answer checks: the FINAL ANSWER section (its last ``\\boxed{}`` if any), else an explicit marker found
by :func:`mathsynth.grading.extract_answer` (never the bare last number); gsm8k answers must be one
number (normalised: no ``$``, commas, units, trailing zeros), math answers one expression, and
differing ``\\boxed{}`` answers in one reply are rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mathsynth.grading.extract import extract_answer, rules_for
from mathsynth.latex import all_boxed, strip_wrapper

__all__ = ["MAX_INPUT_CHARS", "ParsedAnswer", "ParsedQuestion", "parse_answer", "parse_question"]

MAX_INPUT_CHARS = 20_000

_HEADER_NAMES = {
    "final": ("final created question", "final created problem", "final question", "final problem",
              "final version", "modified question", "modified problem", "revised question",
              "revised problem", "final new question"),
    "created": ("created question", "created problem", "new question", "new problem", "generated question",
                "generated problem"),
    "verification": ("verification and modification", "verification and modifications",
                     "verification & modification", "verification"),
    "solution": ("step-by-step solution", "step by step solution", "solution"),
    "answer": ("final answer",),
}
_QUESTION_KINDS = ("final", "created", "verification")
_ANSWER_KINDS = ("solution", "answer")


def _header_re(kinds: tuple[str, ...]) -> re.Pattern:
    names = sorted((n for k in kinds for n in _HEADER_NAMES[k]), key=len, reverse=True)
    alt = "|".join(re.escape(n).replace(r"\ ", r"[ \t_-]+") for n in names)
    # Leading markdown / numbering, the name, closing markdown, then ':' '-' or end of line.
    # Each quantifier is separated from the next by a mandatory token, so matching a line is linear.
    return re.compile(r"[ \t#>*_]*(?:\d{1,2}[.)][ \t*_]*)?(" + alt + r")(?:[ \t]*\([^()\n]{0,40}\))?"
                      r"[ \t*_]*(?:[:：\-–—]|$)[ \t*_]*", re.IGNORECASE)


_Q_HEADER = _header_re(_QUESTION_KINDS)
_A_HEADER = _header_re(_ANSWER_KINDS)
_NAME_KIND = {n: k for k, names in _HEADER_NAMES.items() for n in names}
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)[\w+-]*[ \t]*$", re.MULTILINE)
_CHATTER = re.compile(
    r"(?:let me know|i hope|hope this|feel free|is there anything|this (?:new )?(?:question|problem) "
    r"(?:is|meets|satisfies|complies|now)|(?:the )?(?:final )?(?:question|problem) (?:now )?"
    r"(?:meets|satisfies|complies))", re.IGNORECASE)
_LEAK = re.compile(r"the (?:final |correct )?answer is|####|\\boxed|\\fbox"
                   r"|^[ \t*]*(?:final )?answer[ \t*]*[:=]"
                   r"|^[ \t*]*solution[ \t*]*:", re.IGNORECASE | re.MULTILINE)
_SECOND_ASK = re.compile(r"\b(?:and|also)[ \t,]+(?:what|how|which|who|when|where|find|determine|calculate)\b",
                         re.IGNORECASE)
_COMPLIANT = re.compile(r"no (?:changes?|modifications?|revisions?|edits?)\b|unchanged|as it is|as is\b"
                        r"|(?:meets|satisfies|complies with|follows) (?:all|every)|fully compliant",
                        re.IGNORECASE)
_NONCOMPLIANT = re.compile(r"\bnot (?:compliant|meet|satisf|comply)|does ?n[o']t (?:meet|satisf|comply)"
                           r"|violat",
                           re.IGNORECASE)


@dataclass(frozen=True)
class ParsedQuestion:
    """A parsed question reply: ``question`` is set exactly when ``reject`` (the reason) is None."""

    question: str | None
    reject: str | None = None
    verification: str | None = None
    changed: bool | None = None  # final question differs from the first draft (None: unknown)


@dataclass(frozen=True)
class ParsedAnswer:
    """A parsed answer reply: ``answer`` is set exactly when ``reject`` is None."""

    solution: str | None
    answer: str | None
    reject: str | None = None


def _sections(text: str, header: re.Pattern) -> list[tuple[str, str, int]]:
    """``[(kind, content, header_pos), ...]`` in order; content runs from a header to the next one."""
    found: list[tuple[str, int, int]] = []  # kind, header line start, content start
    pos = 0
    for line in text.splitlines(keepends=True):
        m = header.match(line)
        if m:
            name = re.sub(r"[ \t_-]+", " ", m.group(1).lower())
            found.append((_NAME_KIND.get(name, "solution" if "solution" in name else name), pos,
                          pos + m.end()))
        pos += len(line)
    out = []
    for i, (kind, _, start) in enumerate(found):
        end = found[i + 1][1] if i + 1 < len(found) else len(text)
        out.append((kind, text[start:end].strip(), found[i][1]))
    return out


def _pick(secs: list[tuple[str, str, int]], kind: str, last: bool = True) -> str | None:
    hits = [c for k, c, _ in secs if k == kind and c]
    return (hits[-1] if last else hits[0]) if hits else None


def _unwrap(s: str) -> str:
    """Strip quotes, bold and blockquote markers that teachers put around a whole question."""
    s = "\n".join(line.lstrip(">").strip() if line.lstrip().startswith(">") else line
                  for line in s.strip().splitlines()).strip()
    for _ in range(3):
        for left, right in (("**", "**"), ('"', '"'), ("“", "”")):
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left):-len(right)].strip()
    return s


def _drop_chatter(s: str) -> str:
    """Remove trailing paragraphs or lines of chatter ("Let me know if ...", "This question meets ...")."""
    parts = [p for p in re.split(r"\n[ \t]*\n", s.strip()) if p.strip()]
    while len(parts) > 1 and _CHATTER.match(parts[-1].strip().lstrip("*_(")):
        parts.pop()
    lines = "\n\n".join(parts).splitlines()
    while len(lines) > 1 and _CHATTER.match(lines[-1].strip().lstrip("*_(")):
        lines.pop()
    return "\n".join(lines).strip()


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _asks_more_than_one(q: str) -> bool:
    last = [p for p in re.split(r"\n[ \t]*\n", q) if p.strip()][-1]
    if last.count("?") > 1:
        return True
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", last) if "?" in s]
    return bool(sentences) and bool(_SECOND_ASK.search(sentences[-1]))


def parse_question(text: str, mode_has_verification: bool, *, min_chars: int = 15,
                   max_chars: int = 3000) -> ParsedQuestion:
    """The new question from a teacher's reply to a question prompt, or a reason to reject it.

    >>> r = "CREATED QUESTION:\\nA farm has a third of 80 trees...\\nVERIFICATION AND MODIFICATION:\\n"
    >>> r += "80/3 is not whole; use 81.\\nFINAL CREATED QUESTION:\\n"
    >>> r += "A farm has 81 trees and cuts a third. How many remain?"
    >>> p = parse_question(r, True)
    >>> p.question, p.changed
    ('A farm has 81 trees and cuts a third. How many remain?', True)
    >>> parse_question("**New question:** Tom has 5 pens and buys 3 more. How many now?", False).question
    'Tom has 5 pens and buys 3 more. How many now?'
    >>> parse_question("Final question: Ann has 4 cats. How many legs? The answer is 16.", True).reject
    'solution in question'
    >>> parse_question("Sure! Here you go.", False).reject
    'no header found'
    """
    if not text or not text.strip():
        return ParsedQuestion(None, "empty")
    if len(text) > MAX_INPUT_CHARS:
        return ParsedQuestion(None, "too long")
    secs = _sections(_FENCE.sub("", text), _Q_HEADER)
    if not secs:
        return ParsedQuestion(None, "no header found")
    # The draft is the first "created" section: a later "New question:" is usually a revision inside
    # the verification text; the final question is the last "final" section for the same reason.
    final, created = _pick(secs, "final"), _pick(secs, "created", last=False)
    verification = _pick(secs, "verification")
    changed: bool | None = None
    if mode_has_verification:
        if final is not None:
            question = final
            if created is not None:
                changed = _norm(_unwrap(_drop_chatter(created))) != _norm(_unwrap(_drop_chatter(final)))
        elif (created is not None and verification is not None and _COMPLIANT.search(verification)
              and not _NONCOMPLIANT.search(verification)):
            question, changed = created, False  # the teacher said the draft needed no change
        else:
            return ParsedQuestion(None, "no final question", verification)
    else:
        question = created if created is not None else final
        if question is None:
            return ParsedQuestion(None, "no question section")
    question = _unwrap(_drop_chatter(question))
    reject = None
    if not question:
        reject = "empty question"
    elif _LEAK.search(question):
        reject = "solution in question"
    elif len(question) < min_chars:
        reject = "question too short"
    elif len(question) > max_chars:
        reject = "question too long"
    elif _asks_more_than_one(question):
        reject = "multiple questions"
    if reject:
        return ParsedQuestion(None, reject, verification, changed)
    return ParsedQuestion(question, None, verification, changed)


_ANSWER_PREFIX = re.compile(r"^(?:the )?(?:final )?answer(?: is)?[ \t]*[:=]?[ \t]*", re.IGNORECASE)
_NUMBER = re.compile(r"(?:[a-z][ \t]*=[ \t]*)?(?:\\?\$|€|£)?[ \t]*([-+−]?)(\d{1,3}(?:,\d{3})+|\d+|)(\.\d+)?"
                     r"(/\d+)?[ \t]*(%|[A-Za-z][A-Za-z. \t/²³-]*)?", re.IGNORECASE)


def _strip_math(s: str) -> str:
    s = s.strip().strip("*").strip()
    s = _ANSWER_PREFIX.sub("", s).strip()
    for _ in range(8):  # wrappers can nest: "**$12$**."
        s = s.rstrip(" .。").strip()
        inner = strip_wrapper(s)
        if inner is None:
            break
        s = inner
    return s


def _gsm8k_number(s: str) -> str | None:
    """``s`` as one normalised number ('1,200 dollars.' -> '1200'), or None if it is not one number."""
    m = _NUMBER.fullmatch(s.strip().rstrip(".").strip())
    if not m or not (m.group(2) or m.group(3)):
        return None
    unit = (m.group(5) or "").lower()
    if re.search(r"\b(?:or|and|to|between|about|approximately)\b", unit):
        return None  # "5 or 6", "5 to 6", "about 5" are not one exact number
    sign = "-" if m.group(1) in ("-", "−") else ""
    whole, frac, den = (m.group(2) or "0").replace(",", ""), m.group(3) or "", m.group(4) or ""
    if frac and not den:
        frac = frac.rstrip("0").rstrip(".")
    if den and (frac or den == "/0"):
        return None
    num = (whole.lstrip("0") or "0") + frac + den
    return "0" if num == "0" else sign + num


def parse_answer(text: str, style: str) -> ParsedAnswer:
    """The solution and final answer from a teacher's reply to an answer prompt.

    >>> parse_answer("SOLUTION:\\n3 * 4 = 12 dollars.\\nFINAL ANSWER:\\n$12.", "gsm8k")
    ParsedAnswer(solution='3 * 4 = 12 dollars.', answer='12', reject=None)
    >>> parse_answer("## Final Answer\\n5 or 6", "gsm8k").reject
    'not a single number'
    >>> parse_answer("So $x = \\\\boxed{\\\\frac{1}{2}}$.", "math").answer
    '\\\\frac{1}{2}'
    """
    if style not in ("gsm8k", "math"):
        raise ValueError(f"style must be 'gsm8k' or 'math', not {style!r}")
    if not text or not text.strip():
        return ParsedAnswer(None, None, "empty")
    if len(text) > MAX_INPUT_CHARS:
        return ParsedAnswer(None, None, "too long")
    text = _FENCE.sub("", text)
    secs = _sections(text, _A_HEADER)
    final = _pick(secs, "answer")
    solution = _pick(secs, "solution")
    if solution is None:  # no SOLUTION header: everything before the FINAL ANSWER header (or all of it)
        cut = min((pos for k, _, pos in secs if k == "answer"), default=len(text))
        solution = text[:cut].strip() or None
    boxes = all_boxed(text)
    if len({_norm(b) for b in boxes}) > 1 and (style == "math" or final is None):
        return ParsedAnswer(solution, None, "multiple different boxed answers")
    if final is not None:
        final = _drop_chatter(final)
        inner = all_boxed(final)
        raw = inner[-1] if inner else final
    else:
        # Without a FINAL ANSWER header only explicit markers count ("the answer is", ####, \boxed):
        # guessing the last number of a rambling reply would put wrong labels into training data.
        raw = extract_answer(text, rules=[r for r in rules_for(style) if r != "last_number"])
        if raw is None:
            return ParsedAnswer(solution, None, "no final answer")
    raw = _strip_math(raw)
    if not raw:
        return ParsedAnswer(solution, None, "empty answer")
    if style == "gsm8k":
        num = _gsm8k_number(raw.replace("\\$", "$").replace("\\%", "%"))
        if num is None or len(num) > 40:  # 40+ digits is garbage, not a grade-school answer
            return ParsedAnswer(solution, None, "not a single number")
        return ParsedAnswer(solution, num, None)
    if "\n" in raw or len(raw) > 200:
        return ParsedAnswer(solution, None, "not a single expression")
    prose = re.sub(r"\\text\{[^{}]*\}|\\[A-Za-z]+", " ", raw)  # LaTeX commands and \text{units} are fine
    if len(re.findall(r"[A-Za-z]{3,}", prose)) >= 3 or re.search(r"\b(?:or)\b", prose):
        return ParsedAnswer(solution, None, "not a single expression")
    return ParsedAnswer(solution, raw, None)
