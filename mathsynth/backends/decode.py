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

#: Free key/value columns a cache layer reserves when it grows (see :class:`GrowingLayer`).
GROW_COLUMNS = 64


def _growing_layer_class():
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A dynamic cache layer that writes each step's keys and values into free columns reserved
        ahead, instead of concatenating (``DynamicLayer.update`` copies the whole cache of every
        layer at every step: for 64 rows of ~300 tokens, ~0.9 GB of memory traffic a step in fp32).
        ``keys``/``values`` read as views of the filled columns; assigning them (the decode loops'
        merges and trims) starts a new buffer, so every operation of ``DynamicLayer`` still works.
        """

        def lazy_initialization(self, key_states, value_states) -> None:
            self.device, self.is_initialized = key_states.device, True
            self._k = self._v = None
            self._n = 0

        @property
        def keys(self):
            return None if self._k is None else self._k[:, :, :self._n]

        @keys.setter
        def keys(self, t) -> None:
            self._k, self._n = t, (0 if t is None or t.dim() < 4 else t.shape[-2])

        @property
        def values(self):
            return None if self._v is None else self._v[:, :, :self._n]

        @values.setter
        def values(self, t) -> None:
            self._v = t

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n, add = self._n, key_states.shape[-2]
            if self._k is None or self._k.dim() < 4 or n + add > self._k.shape[-2]:
                def grown(old, new):
                    buf = new.new_empty((*new.shape[:2], n + add + GROW_COLUMNS, new.shape[-1]))
                    if n:
                        buf[:, :, :n] = old[:, :, :n]
                    return buf

                self._k, self._v = grown(self._k, key_states), grown(self._v, value_states)
            self._k[:, :, n:n + add] = key_states
            self._v[:, :, n:n + add] = value_states
            self._n = n + add
            return self.keys, self.values

        def batch_select_indices(self, indices) -> None:
            if self._n:  # keep the reserved columns: the next step needs no new buffer
                self._k, self._v = self._k[indices], self._v[indices]

    return GrowingLayer


_GROWING = None


def new_cache(model: Any) -> Any:
    """An empty KV cache for ``model``: a ``DynamicCache`` whose full-attention layers are
    :class:`GrowingLayer`\\ s (other layer kinds, e.g. sliding-window ones, are kept as they are).

    >>> from transformers import LlamaConfig
    >>> from types import SimpleNamespace
    >>> cfg = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    >>> [type(layer).__name__ for layer in new_cache(SimpleNamespace(config=cfg)).layers]
    ['GrowingLayer', 'GrowingLayer']
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    global _GROWING
    _GROWING = _GROWING or _growing_layer_class()
    cache = DynamicCache(config=model.config)
    cache.layers = [_GROWING() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def last_logits(model: Any) -> Callable:
    """``forward(ids, mask, positions, cache)``: one cached forward pass, returning the float logits of
    each row's last position (the only ones the decode loops use)."""
    params = inspect.signature(model.forward).parameters
    # transformers renamed the forward's cache argument (past_key_values -> cache) within 5.x
    cache_kw = "cache" if "cache" in params else "past_key_values"
    # Without logits_to_keep the prefill computes the LM head (a 49k-vocabulary matmul, a fifth of
    # the model) for every prompt token of every row.
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    def forward(ids, mask, positions, cache):
        return model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                     **{cache_kw: cache}, **extra).logits[:, -1, :].float()

    return forward


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

    rows = input_ids.shape[0]
    out: list[list[int]] = [[] for _ in range(rows)]
    if max_new_tokens < 1 or rows == 0:
        return out
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long) if eos_ids else None
    active = torch.arange(rows)
    mask = attention_mask.long()
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = new_cache(model)
    forward = last_logits(model)
    step_ids, step_pos = input_ids, pos
    with torch.inference_mode():
        for step in range(max_new_tokens):
            logits = forward(step_ids, mask, step_pos, cache)
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


def _left_pad(seqs: Sequence[Sequence[int]], pad_id: int):
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        if s:
            ids[r, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
            mask[r, width - len(s):] = 1
    return ids, mask


def _merge_left(old_cache: Any, old_mask: Any, new_cache: Any, new_mask: Any) -> Any:
    """Stack two KV caches along the batch, left-padding the shorter one with masked zeros."""
    import torch
    import torch.nn.functional as F

    width = max(old_mask.shape[1], new_mask.shape[1])
    def stack(a, b):
        return torch.cat([F.pad(a, (0, 0, width - a.shape[-2], 0)), F.pad(b, (0, 0, width - b.shape[-2], 0))])

    for lo, ln in zip(old_cache.layers, new_cache.layers, strict=True):
        # Both read before either is assigned: a GrowingLayer's views follow its length.
        lo.keys, lo.values = stack(lo.keys, ln.keys), stack(lo.values, ln.values)
    return torch.cat([F.pad(old_mask, (width - old_mask.shape[1], 0)),
                      F.pad(new_mask, (width - new_mask.shape[1], 0))], dim=0)


def can_refill(model: Any) -> bool:
    """Whether :func:`decode_queue` can merge this model's KV caches: every layer a plain dynamic
    (full-attention) layer. Sliding-window or static caches keep the per-batch loop."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=model.config)
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


#: Prefill each distinct prompt of a refill once and copy its KV cache to the rows that share it (the
#: n samples of a request): the prefill of a long prompt costs as much as dozens of decode steps.
SHARE_PREFILL = True


def _prefill(model: Any, forward: Callable, seqs: Sequence[Sequence[int]], pad_id: int):
    """Run the prompts ``seqs`` through the model into a new cache: (cache, mask, positions, last
    logits), one row per prompt in order; with :data:`SHARE_PREFILL` a prompt that occurs several
    times is computed once and its row copied."""
    import torch

    first: dict[tuple[int, ...], int] = {}
    inverse = [first.setdefault(tuple(s), len(first)) for s in seqs] if SHARE_PREFILL else list(range(len(seqs)))
    uniq = [list(s) for s in first] if SHARE_PREFILL else list(seqs)
    ids, m = _left_pad(uniq, pad_id)
    pos = (m.cumsum(-1) - 1).masked_fill(m == 0, 0)
    cache = new_cache(model)
    logits = forward(ids, m, pos, cache)
    if len(uniq) < len(seqs):
        index = torch.tensor(inverse, dtype=torch.long)
        cache.batch_select_indices(index)
        m, pos, logits = m[index], pos[index], logits[index]
    return cache, m, pos, logits


def decode_queue(model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int, eos_ids: set[int], *,
                 max_rows: int, pad_id: int, processor: Callable | None = None,
                 stopped: Callable[[int, list[int]], bool] | None = None,
                 on_done: Callable[[int, list[int]], None] | None = None, refill: int | None = None
                 ) -> list[list[int]]:
    """Continuous batching: decode every prompt (token ids, unpadded) with at most ``max_rows`` rows
    in a forward pass, starting queued prompts as soon as ``refill`` rows (default: a quarter of the
    batch) have finished; returns each prompt's new tokens, like :func:`decode`.

    Why: with :func:`decode` a batch shrinks as its rows finish, and a step over a few rows costs on a
    CPU almost what a full step costs (the weights are read either way), so the long answers at the
    end of every batch run at a fraction of the throughput. Here the freed rows are refilled: the new
    prompts are prefilled in a cache of their own, which is then stacked under the running one, both
    left-padded with masked zeros to one width; columns that no remaining row uses are trimmed.
    ``processor(rows, scores)`` and ``stopped(row, tokens)`` get prompt indices; ``on_done(row,
    tokens)`` is called as each prompt finishes. A row's tokens depend on its batch mates only through
    floating-point rounding, as with :func:`decode`.
    """
    import torch

    out: list[list[int]] = [[] for _ in prompts]
    if max_new_tokens < 1 or not prompts:
        return out
    refill = max(1, refill if refill is not None else max_rows // 4)
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long) if eos_ids else None
    forward = last_logits(model)
    queue = list(range(len(prompts)))[::-1]  # pop() from the end = first prompt first
    active = torch.zeros(0, dtype=torch.long)
    cache = mask = nxt = last_pos = None

    def pick(rows, logits):
        scores = processor(rows, logits) if processor is not None else logits
        tok = scores.argmax(dim=-1)
        done = torch.isin(tok, eos) if eos is not None else torch.zeros(len(rows), dtype=torch.bool)
        for j, (r, t) in enumerate(zip(rows.tolist(), tok.tolist(), strict=True)):
            out[r].append(t)
            if not done[j] and (len(out[r]) >= max_new_tokens or (stopped is not None and stopped(r, out[r]))):
                done[j] = True
            if done[j] and on_done is not None:
                on_done(r, out[r])
        return tok, done

    with torch.inference_mode():
        while queue or len(active):
            free = max_rows - len(active)
            if queue and (len(active) == 0 or free >= min(refill, len(queue))):
                rows = torch.tensor([queue.pop() for _ in range(min(free, len(queue)))], dtype=torch.long)
                c, m, pos, logits = _prefill(model, forward, [prompts[r] for r in rows.tolist()], pad_id)
                tok, done = pick(rows, logits)
                keep = (~done).nonzero().squeeze(-1)
                if len(keep):
                    c.batch_select_indices(keep)
                    m, tok, lp = m[keep], tok[keep], pos[keep][:, -1:]
                    if len(active):
                        mask = _merge_left(cache, mask, c, m)
                        active = torch.cat([active, rows[keep]])
                        nxt, last_pos = torch.cat([nxt, tok]), torch.cat([last_pos, lp])
                    else:
                        cache, mask, active, nxt, last_pos = c, m, rows[keep], tok, lp
                continue
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            last_pos = last_pos + 1
            logits = forward(nxt.unsqueeze(-1), mask, last_pos, cache)
            nxt, done = pick(active, logits)
            if done.any():
                keep = (~done).nonzero().squeeze(-1)
                if len(keep) == 0:
                    active = active[keep]
                    cache = mask = None
                    continue
                cache.batch_select_indices(keep)
                active, mask, nxt, last_pos = active[keep], mask[keep], nxt[keep], last_pos[keep]
                lead = int(mask.any(dim=0).long().argmax())  # columns before it are padding for every row
                if lead:
                    mask = mask[:, lead:]
                    for layer in cache.layers:
                        layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
    return out
