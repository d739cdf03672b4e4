"""Turn ``messages`` examples into token ids with the loss on the final assistant turn only.

The prompt part is rendered exactly as the evaluation stage renders a question (the same prompt
format, the same ``add_special_tokens=False`` tokenization as the transformers backend), and the
completion is tokenized on its own and appended, so the student learns to continue precisely the
token sequence it will be given at evaluation time. The completion ends with the end-of-turn token so
the trained model stops by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mathsynth.errors import MathsynthError
from mathsynth.formats import VICUNA_CHAT_TEMPLATE, get_format, render_vicuna

IGNORE = -100  # label of tokens that carry no loss (the prompt), as torch's cross-entropy expects


@dataclass
class EncodeStats:
    """Counts for the manifest: what was kept, dropped or cut for being over ``max_length``."""

    examples: int = 0
    kept: int = 0
    dropped_over_length: int = 0
    truncated: int = 0
    tokens: int = 0
    loss_tokens: int = 0
    dropped_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["dropped_ids"] = self.dropped_ids[:50]  # a sample; the count is the record
        return d


def split_prompt(messages: list[dict], prompt: str, tokenizer) -> tuple[str, str]:
    """(prompt text, completion text) of one example in the named prompt format.

    >>> p, c = split_prompt([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
    ...                     "vicuna", type("T", (), {"eos_token": "<e>"})())
    >>> p.endswith("USER: Q ASSISTANT:"), c
    (True, ' A<e>')
    """
    head, answer = messages[:-1], messages[-1]["content"]
    fmt = get_format(prompt)
    if fmt.kind == "raw":
        return render_vicuna(head), f" {answer}{tokenizer.eos_token}"
    if not getattr(tokenizer, "chat_template", None):
        raise MathsynthError("the model has no chat template; train with --prompt vicuna")
    ptext = tokenizer.apply_chat_template(head, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if full.startswith(ptext):
        # Whatever the template puts after the answer (end-of-turn token, newline) is learned too.
        return ptext, full[len(ptext):]
    return ptext, answer + (tokenizer.eos_token or "")


def chat_template_for(prompt: str, tokenizer) -> str | None:
    """The chat template to save with the student: Vicuna's when trained in that format, else the base's.

    >>> chat_template_for("vicuna", None).startswith("{% if")
    True
    """
    if get_format(prompt).kind == "raw":
        return VICUNA_CHAT_TEMPLATE
    return getattr(tokenizer, "chat_template", None)


def encode(examples: list[dict], tokenizer, *, prompt: str, max_length: int, over_length: str = "drop",
           batch: int = 1024) -> tuple[list[dict], EncodeStats]:
    """Rows ``{input_ids, labels}`` (prompt labels = -100) plus counts; rows over ``max_length`` are
    dropped (counted, ids kept) or cut at ``max_length`` when ``over_length="truncate"``.

    >>> class Tok:  # a toy tokenizer: one id per character
    ...     eos_token = "$"
    ...     def __call__(self, texts, add_special_tokens=False):
    ...         return {"input_ids": [[ord(ch) for ch in t] for t in texts]}
    >>> ex = {"id": "1", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
    ...                               {"role": "assistant", "content": "A"}]}
    >>> rows, st = encode([ex], Tok(), prompt="vicuna", max_length=4096)
    >>> "".join(map(chr, rows[0]["input_ids"])), rows[0]["labels"][-4:], st.loss_tokens
    ('S USER: Q ASSISTANT: A$', [-100, 32, 65, 36], 3)
    >>> encode([ex], Tok(), prompt="vicuna", max_length=21, over_length="truncate")[1].truncated
    1
    """
    stats = EncodeStats(examples=len(examples))
    rows: list[dict] = []
    for start in range(0, len(examples), batch):
        chunk = examples[start:start + batch]
        pairs = [split_prompt(e["messages"], prompt, tokenizer) for e in chunk]
        p_ids = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
        c_ids = tokenizer([c for _, c in pairs], add_special_tokens=False)["input_ids"]
        for ex, p, c in zip(chunk, p_ids, c_ids, strict=True):
            ids, labels = p + c, [IGNORE] * len(p) + c
            if len(ids) > max_length:
                if over_length == "drop" or len(p) >= max_length:
                    # A prompt that alone fills max_length would leave nothing to learn: always dropped.
                    stats.dropped_over_length += 1
                    stats.dropped_ids.append(ex["id"])
                    continue
                ids, labels = ids[:max_length], labels[:max_length]
                stats.truncated += 1
            rows.append({"input_ids": ids, "labels": labels})
            stats.tokens += len(ids)
            stats.loss_tokens += sum(1 for x in labels if x != IGNORE)
    stats.kept = len(rows)
    if not rows:
        raise MathsynthError(f"no training examples left: all {stats.examples} are longer than max_length "
                             f"{max_length} tokens (raise max_length or use over_length: truncate)")
    return rows, stats
