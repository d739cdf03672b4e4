"""Prompt formats shared by evaluation, synthesis (the SFT user turn) and training.

The paper trains and evaluates with the same Vicuna-v1.1 style prompt; keeping the formats in one
registry guarantees that a student is asked questions exactly the way it was taught.

A format turns a question into either chat ``messages`` (rendered by the model's own chat template)
or a raw ``prompt`` string, plus the stop strings that end an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mathsynth.errors import MathsynthError

ANSWER_INSTRUCTION = ("Give your solution in detail. In the end, write your final answer in the format of "
                      "'The answer is: <ANSWER>.'")
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant "
                 "gives helpful, detailed, and polite answers to the user's questions.")
CHAT_INSTRUCTION = ("Solve the following math problem step by step. At the end, write the final answer as "
                    "'The answer is: <ANSWER>.'")

# Original worked examples written for mathsynth (used only for optional few-shot prompting).
FEWSHOT_EXAMPLES: list[tuple[str, str]] = [
    ("A baker fills 6 trays with 14 rolls each and sells all but 9 rolls. How many rolls does she sell?",
     "The trays hold 6 * 14 = 84 rolls.\nShe sells 84 - 9 = 75 rolls.\nThe answer is: 75."),
    ("A bike costs $240 and is on sale for 25% off. What is the sale price in dollars?",
     "The discount is 25% of 240, which is 0.25 * 240 = 60 dollars.\nThe sale price is 240 - 60 = 180 "
     "dollars.\nThe answer is: 180."),
    ("What is the value of $x$ if $3x + 7 = 25$?",
     "Subtract 7 from both sides: 3x = 18.\nDivide by 3: x = 6.\nThe answer is: 6."),
    ("Simplify $\\frac{12}{18} + \\frac{1}{6}$.",
     "First, 12/18 = 2/3 = 4/6.\nThen 4/6 + 1/6 = 5/6.\nThe answer is: \\frac{5}{6}."),
]


@dataclass(frozen=True)
class PromptFormat:
    """A named way to ask a question.

    >>> p = get_format("vicuna").build("What is 2+2?")
    >>> p["prompt"].endswith("ASSISTANT:")
    True
    >>> get_format("chat").build("What is 2+2?")["messages"][-1]["role"]
    'user'
    """

    name: str
    kind: str  # "chat" or "raw"
    description: str
    stop: tuple[str, ...] = field(default=())
    shots: int = 0

    def user_turn(self, question: str) -> str:
        """The user message for ``question`` (also the SFT user turn)."""
        if self.name.startswith("vicuna"):
            return f"{question} {ANSWER_INSTRUCTION}"
        return f"{CHAT_INSTRUCTION}\n\n{question}"

    def build(self, question: str) -> dict:
        """``{"messages": [...]}`` or ``{"prompt": "..."}`` for one question."""
        shots = FEWSHOT_EXAMPLES[: self.shots]
        if self.kind == "chat":
            msgs: list[dict] = []
            for q, a in shots:
                msgs += [{"role": "user", "content": self.user_turn(q)}, {"role": "assistant", "content": a}]
            msgs.append({"role": "user", "content": self.user_turn(question)})
            return {"messages": msgs}
        msgs = []
        for q, a in shots:
            msgs += [{"role": "user", "content": self.user_turn(q)}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": self.user_turn(question)})
        return {"prompt": render_vicuna(msgs)}

    def sft_messages(self, question: str, solution: str) -> list[dict]:
        """A training example in this format: the user turn and the assistant's solution.

        >>> get_format("chat").sft_messages("1+1?", "1+1=2. The answer is: 2.")[1]["role"]
        'assistant'
        """
        return [{"role": "user", "content": self.user_turn(question)},
                {"role": "assistant", "content": solution}]


def render_vicuna(messages: list[dict], *, eos: str = "</s>") -> str:
    """Render chat messages as the paper's Vicuna-v1.1 text, ending in "ASSISTANT:" when the last turn is
    the user's (the generation prompt). Evaluation prompts and training examples both come from here,
    so a student is taught on exactly the text it is later asked.

    >>> render_vicuna([{"role": "user", "content": "Hi?"}])[-20:]
    'USER: Hi? ASSISTANT:'
    >>> render_vicuna([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}])[-24:]
    'USER: Q ASSISTANT: A</s>'
    """
    parts = [VICUNA_SYSTEM]
    for m in messages:
        if m["role"] == "system":
            parts[0] = m["content"]
        elif m["role"] == "user":
            parts.append(f"USER: {m['content']} ASSISTANT:")
        else:
            parts[-1] += f" {m['content']}{eos}"
    return " ".join(parts)


# The same rendering as a Jinja chat template, written into trained Vicuna-format models so that
# servers (vLLM, llama.cpp) that apply a chat template produce exactly render_vicuna's text.
VICUNA_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}"
    "{% set msgs = messages[1:] %}{% else %}{% set sys = '" + VICUNA_SYSTEM.replace("'", "\\'") + "' %}"
    "{% set msgs = messages %}{% endif %}{{ sys }}"
    "{% for m in msgs %}{% if m['role'] == 'user' %}{{ ' USER: ' + m['content'] + ' ASSISTANT:' }}"
    "{% else %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}"
)

_ANNOTATION = re.compile(r"<<[^<>\n]*>>")
_HASH_LINE = re.compile(r"\n?\s*####\s*[^\n]*\s*$")
_ANSWER_IS = re.compile(r"The answer is:?\s*[^\n]*\s*$", re.IGNORECASE)


def sft_solution(solution: str, answer: str) -> str:
    """The assistant turn for training: the step-by-step solution (GSM8K calculator annotations and
    ``####`` line removed) ending "The answer is: X." as the evaluation prompt asks.

    >>> sft_solution("He has 2*3 = <<2*3=6>>6 pens.\\n#### 6", "6")
    'He has 2*3 = 6 pens.\\nThe answer is: 6.'
    """
    text = _ANNOTATION.sub("", solution)
    text = _HASH_LINE.sub("", text).rstrip()
    text = _ANSWER_IS.sub("", text).rstrip()
    return f"{text}\nThe answer is: {answer}."


FORMATS: dict[str, PromptFormat] = {
    "chat": PromptFormat("chat", "chat", "the model's own chat template with a plain instruction"),
    "chat-fewshot": PromptFormat("chat-fewshot", "chat", "chat template with 4 original worked examples",
                                 shots=4),
    "vicuna": PromptFormat("vicuna", "raw", "the paper's Vicuna-v1.1 style prompt (raw text)",
                           stop=("USER:", "</s>")),
    "vicuna-fewshot": PromptFormat("vicuna-fewshot", "raw", "Vicuna-style prompt with 4 worked examples",
                                   stop=("USER:", "</s>"), shots=4),
}


def get_format(name: str) -> PromptFormat:
    """Look up a prompt format by name.

    >>> get_format("chat").kind
    'chat'
    """
    try:
        return FORMATS[name]
    except KeyError:
        raise MathsynthError(f"unknown prompt format {name!r}; choose one of: {', '.join(FORMATS)}") from None
