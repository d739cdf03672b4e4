"""Teacher prompts for data synthesis: new questions from seed questions, and answers to them.

The paper (Xwin-Math) asks the teacher for a *similar but new* question and, in the same prompt, has it
check the draft against a short list of rules and revise it. Every prompt here is written for mathsynth
in its own words; the structure (three labelled output sections) follows the paper so that
:mod:`mathsynth.synth.parse` can read the result.

Names are ``<mode>/<style>``: the mode is what to do (``question-verify``, ``question-plain``,
``answer`` or one of the comparison strategies), the style is the seed family (``gsm8k`` or ``math``).

>>> p = get_prompt("question-verify/gsm8k")
>>> p.kind, p.style
('question', 'gsm8k')
>>> msgs = p.render("If {x} apples cost $3, what do 2 cost?")
>>> [m["role"] for m in msgs]
['system', 'user']
>>> "{x} apples" in msgs[1]["content"]
True
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from mathsynth.errors import InputError, MathsynthError

__all__ = ["PROMPTS", "STYLES", "SynthPrompt", "get_prompt", "list_prompts", "load_prompt_file"]

STYLES = ("gsm8k", "math")
KINDS = ("question", "answer")


@dataclass(frozen=True)
class SynthPrompt:
    """One teacher prompt: ``template`` is a ``str.format`` string whose only field is ``{question}``.

    >>> SynthPrompt("t", "answer", "math", None, "Solve: {question}").render("a{b}")
    [{'role': 'user', 'content': 'Solve: a{b}'}]
    """

    name: str
    kind: str  # "question" or "answer"
    style: str  # "gsm8k" or "math"
    system: str | None
    template: str

    def render(self, question: str) -> list[dict]:
        """Chat messages asking the teacher about ``question``.

        The question is substituted by ``str.format``, which never re-reads the substituted text, so
        braces in a question (``{x}``, LaTeX) are copied verbatim.
        """
        msgs: list[dict] = []
        if self.system:
            msgs.append({"role": "system", "content": self.system})
        msgs.append({"role": "user", "content": self.template.format(question=question.strip())})
        return msgs


_SYSTEM_TEACHER = ("You are an experienced math teacher who writes clear, correct and self-contained "
                   "practice problems for students.")
_SYSTEM_SOLVER = "You are a careful math tutor who solves problems step by step and double-checks the work."

# What a finished question must satisfy; the same list is used for writing and for checking.
_ONE_THING = {
    "gsm8k": "It asks for exactly one thing, and that thing can be answered with a single number.",
    "math": "It asks for exactly one thing, and that thing can be answered with a single final "
            "mathematical expression (a number, an expression, an interval, a set, ...).",
}
_PRINCIPLES = (
    "1. {one}\n"
    "2. It agrees with common sense: amounts that must be positive are positive, and people, animals "
    "and items come in whole numbers.\n"
    "3. It is self-contained: a reader who never saw the original problem can solve it, so every "
    "number or condition borrowed from the original is stated again in the new problem.\n"
    "4. It gives away nothing of the solution: no answer, no worked steps and no hints."
)

# The change each question mode asks for (the paper's own strategy and its Fig. 6 comparisons).
_CHANGES = {
    "question-verify": "Write a new problem that is similar to the original one but not the same.",
    "question-plain": "Write a new problem that is similar to the original one but not the same.",
    "add-constraint": "Write a new problem by keeping the original situation and adding one more "
                      "condition or constraint that changes how it is solved.",
    "change-numbers": "Write a new problem by keeping the original situation and wording as far as "
                      "possible but using different numbers.",
    "change-background": "Write a new problem by keeping the original numbers and mathematical structure "
                         "but moving it to a different setting or story.",
    "change-numbers-background": "Write a new problem by changing both the numbers and the setting or "
                                 "story, while keeping a similar mathematical structure.",
    "rephrase": "Write the same problem again in different words: the numbers, conditions and answer "
                "must stay exactly the same, only the wording changes.",
}

_VERIFY_TEMPLATE = (
    "Here is a {style_word} problem:\n\n"
    "<<QUESTION>>\n\n"
    "Task: {change}\n\n"
    "A good problem meets all of these requirements:\n{principles}\n\n"
    "After writing your problem, review it: solve it step by step yourself, and go through the "
    "requirements one at a time. If any requirement is not met, or the problem cannot be solved, edit "
    "the problem until it is right. If it already meets every requirement, leave it exactly as it is.\n\n"
    "Reply with exactly these three sections and nothing else:\n"
    "CREATED QUESTION:\n<your new problem>\n"
    "VERIFICATION AND MODIFICATION:\n<your step-by-step solution, the check of every requirement, and "
    "any edits you made>\n"
    "FINAL CREATED QUESTION:\n<the final problem text only, without its answer>"
)
_PLAIN_TEMPLATE = (
    "Here is a {style_word} problem:\n\n"
    "<<QUESTION>>\n\n"
    "Task: {change}\n\n"
    "A good problem meets all of these requirements:\n{principles}\n\n"
    "Reply with exactly one section and nothing else:\n"
    "CREATED QUESTION:\n<the new problem text only, without its answer>"
)
_FINAL_RULE = {
    "gsm8k": "The final answer is one number only: no units, no words, no thousands separators.",
    "math": "The final answer is written in LaTeX inside \\boxed{}, in simplest form.",
}
_ANSWER_TEMPLATE = (
    "Solve this problem:\n\n"
    "<<QUESTION>>\n\n"
    "Work through it step by step, showing each calculation, and check the result before finishing. "
    "{final_rule}\n\n"
    "Reply with exactly these two sections:\n"
    "SOLUTION:\n<your step-by-step solution>\n"
    "FINAL ANSWER:\n<the final answer only>"
)
_STYLE_WORD = {"gsm8k": "grade-school math word", "math": "competition math"}


def _escape(text: str) -> str:
    """Double the braces so that a fixed text survives ``str.format`` (LaTeX ``\\boxed{}`` etc.)."""
    return text.replace("{", "{{").replace("}", "}}")


def _build(template: str, **parts: str) -> str:
    # Fill in the fixed parts first, then escape everything and re-open the one {question} field.
    return _escape(template.format(**parts)).replace("<<QUESTION>>", "{question}")


def _make_registry() -> dict[str, SynthPrompt]:
    reg: dict[str, SynthPrompt] = {}
    for style in STYLES:
        principles = _PRINCIPLES.format(one=_ONE_THING[style])
        for mode, change in _CHANGES.items():
            tmpl = _PLAIN_TEMPLATE if mode == "question-plain" else _VERIFY_TEMPLATE
            name = f"{mode}/{style}"
            reg[name] = SynthPrompt(name, "question", style, _SYSTEM_TEACHER,
                                    _build(tmpl, style_word=_STYLE_WORD[style], change=change,
                                           principles=principles))
        name = f"answer/{style}"
        reg[name] = SynthPrompt(name, "answer", style, _SYSTEM_SOLVER,
                                _build(_ANSWER_TEMPLATE, final_rule=_FINAL_RULE[style]))
    return reg


PROMPTS: dict[str, SynthPrompt] = _make_registry()

# Modes whose output has the three-section verification structure (for parse_question).
VERIFY_MODES = frozenset(m for m in _CHANGES if m != "question-plain")


def list_prompts(kind: str | None = None, style: str | None = None) -> list[str]:
    """Sorted prompt names, optionally only one kind and/or style.

    >>> list_prompts(kind="answer")
    ['answer/gsm8k', 'answer/math']
    >>> "change-numbers/math" in list_prompts()
    True
    """
    return sorted(n for n, p in PROMPTS.items()
                  if (kind is None or p.kind == kind) and (style is None or p.style == style))


def get_prompt(name: str) -> SynthPrompt:
    """The registered prompt called ``name``.

    >>> get_prompt("answer/math").kind
    'answer'
    >>> get_prompt("nope")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: unknown synthesis prompt 'nope'; known: add-constraint/gsm8k, ...
    """
    try:
        return PROMPTS[name]
    except KeyError:
        known = ", ".join(list_prompts())
        raise MathsynthError(f"unknown synthesis prompt {name!r}; known: {known}") from None


def load_prompt_file(path: str | Path, kind: str, style: str, system: str | None = None) -> SynthPrompt:
    """A user's own template from a text file; it must use ``{question}`` and double literal braces.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    ...     _ = f.write("Make a harder version of: {question}\\nUse {{braces}} freely.")
    >>> p = load_prompt_file(f.name, "question", "math")
    >>> p.render("x")[-1]["content"]
    'Make a harder version of: x\\nUse {braces} freely.'
    >>> os.unlink(f.name)
    """
    path = Path(path)
    if kind not in KINDS:
        raise MathsynthError(f"prompt kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if style not in STYLES:
        raise MathsynthError(f"prompt style must be one of {', '.join(STYLES)}, not {style!r}")
    try:
        template = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read prompt template: {e}", path=str(path)) from None
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise InputError(f"unbalanced braces in prompt template ({e}); write literal braces as "
                         "'{{' and '}}'", path=str(path)) from None
    if "question" not in fields:
        raise InputError("prompt template has no {question} placeholder", path=str(path))
    others = sorted({repr(f) for f in fields if f != "question"})
    if others:
        raise InputError(f"prompt template uses unknown placeholder(s) {', '.join(others)}; only "
                         "{question} is filled in (write literal braces as '{{' and '}}')", path=str(path))
    return SynthPrompt(f"file:{path.name}", kind, style, system, template)
