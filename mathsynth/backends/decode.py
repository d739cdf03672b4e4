"""A decode loop that drops finished rows from the batch (for the transformers backend).

``model.generate`` keeps every row of a batch in every forward pass until the *last* row finishes:
finished rows are fed padding and computed anyway. With answers of very different lengths (most
stop after ~60 tokens, one rambles to the limit) that wastes most of the work, since on a CPU the
cost of a step is proportional to the rows in it. This loop does what ``generate`` does for greedy
decoding and for our per-row sampler -- one forward pass per step over a KV cache, argmax of the
(processed) logits -- but after each step it removes the rows that produced an end-of-sequence
token or a stop string, from the inputs, the attention mask, the position ids, the KV cache
(``Cache.batch_select_indices``) and the sampler's per-row random streams.

A row's tokens do not depend on which other rows are in its batch except through floating-point
rounding in batched kernels (the same caveat as ``generate`` with another batch size).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any


def decode(model: Any, input_ids: Any, attention_mask: Any, max_new_tokens: int, eos_ids: set[int],
           *, processor: Callable | None = None, stopped: Callable[[int, list[int]], bool] | None = None
           ) -> list[list[int]]:
    """Generate up to ``max_new_tokens`` tokens per row; returns each row's new tokens (ending with
    its EOS token when it stopped on one).

    ``processor(row_indices, scores)`` turns the step's logits into the scores whose argmax is taken
    (our :class:`~mathsynth.backends.transformers_backend.RowSampler`; None: greedy). ``stopped(row,
    tokens)`` says whether a row's tokens so far end in a stop string.
    """
    import torch
    from transformers import DynamicCache

    rows = input_ids.shape[0]
    out: list[list[int]] = [[] for _ in range(rows)]
    if max_new_tokens < 1 or rows == 0:
        return out
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long) if eos_ids else None
    active = torch.arange(rows)
    mask = attention_mask.long()
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache(config=model.config)
    # transformers renamed the forward's cache argument (past_key_values -> cache) within 5.x
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    step_ids, step_pos = input_ids, pos
    with torch.inference_mode():
        for step in range(max_new_tokens):
            logits = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                           **{cache_kw: cache}).logits[:, -1, :].float()
            scores = processor(active, logits) if processor is not None else logits
            nxt = scores.argmax(dim=-1)
            done = torch.zeros(len(active), dtype=torch.bool)
            if eos is not None:
                done |= torch.isin(nxt, eos)
            for j, (r, t) in enumerate(zip(active.tolist(), nxt.tolist(), strict=True)):
                out[r].append(t)
                if not done[j] and stopped is not None and stopped(r, out[r]):
                    done[j] = True
            if step + 1 == max_new_tokens or bool(done.all()):
                break
            last_pos = step_pos[:, -1:]
            if done.any():  # drop finished rows everywhere before the next step
                keep = (~done).nonzero().squeeze(-1)
                cache.batch_select_indices(keep)
                active, mask, nxt, last_pos = active[keep], mask[keep], nxt[keep], last_pos[keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            step_ids, step_pos = nxt.unsqueeze(-1), last_pos + 1
    return out


def stop_checker(tok: Any, stops: Sequence[str], window: int = 24) -> Callable[[int, list[int]], bool] | None:
    """``stopped(row, tokens)`` for stop strings: decode the last ``window`` tokens and look for any
    stop string (the caller cuts the text at it afterwards, as with ``generate``'s stop strings)."""
    if not stops:
        return None
    longest = max(len(s) for s in stops)

    def stopped(_row: int, toks: list[int]) -> bool:
        tail = tok.decode(toks[-window:], skip_special_tokens=True)
        return any(s in tail[-(longest + 64):] for s in stops)

    return stopped
