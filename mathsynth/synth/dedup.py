"""Deduplicate a synthetic question set: exact duplicates, then near-duplicates via MinHash LSH.

Texts are first normalized (:func:`normalize_text`); equal normalized texts are *exact* duplicates.
Near-duplicates are found with MinHash signatures over **word 3-gram shingles** and banded LSH, then
verified by the signatures' estimated Jaccard similarity (``>= threshold``, default 0.8).

Why word 3-grams: numbers are whole words after normalization, so a variant that changes every number
of a seed (what the symbolic generator produces) shares few shingles with its seed and is kept, while
a rewording that changes one word of a typical 30-60 word question keeps Jaccard ~0.85-0.9 and is
removed. Word 5-grams drop a one-word change in a 45-word question to Jaccard 0.78 (missed at 0.8);
character n-grams see a changed number as a few changed characters and would collapse the symbolic
number variants into one. ``unit="char"`` is available when surface similarity is what is wanted.
A variant that changes only one or two numbers of a long question still has Jaccard >= 0.8, so by
default a near-duplicate must also carry the same numbers (``keep_number_variants``): number variants
are kept, rewordings with the same numbers are removed.

Everything is vectorized with numpy (shingle hashing, MinHash, band keys) and batched
(:meth:`Deduper.add_many`); memory per kept item is one 16-bit signature (``2 * num_perm`` bytes),
``bands + 1`` (key, index) table entries (12 bytes each) and its id string.

>>> d = Deduper()
>>> q = ("Tom has 3 apples and buys 5 more at the store on Monday. On Tuesday he gives 2 of them to his "
...      "sister and eats one for lunch. How many apples does Tom have left at the end of Tuesday?")
>>> d.add("a", q)
>>> d.add("b", "  " + q.upper().replace(" ", "  "))
'exact:a'
>>> d.add("c", q.replace("store", "market"))
'near:a'
>>> d.add("d", "Ann reads 12 pages a day. How many pages does she read in a week?")
>>> d.stats
{'seen': 4, 'kept': 2, 'exact': 1, 'near': 1}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from mathsynth.synth.textnorm import mask_numbers, normalize_text, number_key  # noqa: F401 (re-exported)

__all__ = ["Deduper", "dedup", "lsh_params", "mask_numbers", "normalize_text", "number_key", "shingle_hashes"]

_M64 = (1 << 64) - 1
def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_P = np.uint64(0x100000001B3)  # odd multiplier for the polynomial byte hash
_Q = np.uint64(pow(int(_P), -1, 1 << 64))  # its inverse modulo 2**64


def _word_hashes(norms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hash every whitespace-separated word of every (normalized) text: (word hashes, doc of each word)."""
    buf = np.frombuffer(("\n".join(norms) + "\n").encode("utf-8"), dtype=np.uint8)
    sep = (buf == 32) | (buf == 10)
    prev = np.concatenate(([True], sep[:-1]))
    nxt = np.concatenate((sep[1:], [True]))
    starts = np.flatnonzero(~sep & prev)
    ends = np.flatnonzero(~sep & nxt) + 1
    with np.errstate(over="ignore"):
        qpow = np.empty(len(buf) + 1, dtype=np.uint64)
        qpow[0] = 1
        qpow[1:] = _Q
        qpow = np.cumprod(qpow, dtype=np.uint64)  # Q**k, wrapping
        ppow = np.empty(len(buf) + 1, dtype=np.uint64)
        ppow[0] = 1
        ppow[1:] = _P
        ppow = np.cumprod(ppow, dtype=np.uint64)
        g = np.zeros(len(buf) + 1, dtype=np.uint64)
        np.cumsum((buf.astype(np.uint64) + np.uint64(1)) * qpow[:-1], out=g[1:])
        words = _mix((g[ends] - g[starts]) * ppow[starts])  # position-independent: sum b[k] Q**(k-s)
    doc = np.cumsum(buf == 10)[starts] if len(starts) else np.zeros(0, dtype=np.int64)
    return words, doc.astype(np.int64)


def _char_windows(norms: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of character (byte) n-grams of each text; texts shorter than n give one padded shingle."""
    pad = b"\x00" * n
    parts = [t.encode("utf-8") for t in norms]
    buf = np.frombuffer(pad.join(parts) + pad, dtype=np.uint8).astype(np.uint64)
    lens = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    starts = np.concatenate(([0], np.cumsum(lens + n)[:-1])).astype(np.int64)
    counts = np.maximum(lens - n + 1, 1)
    doc = np.repeat(np.arange(len(parts)), counts)
    pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + starts[doc]
    h = np.zeros(len(pos), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _P + buf[pos + k] + np.uint64(1)
        return _mix(h), doc


def shingle_hashes(norms: Sequence[str], ngram: int = 3, unit: str = "word") -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every n-gram shingle of every normalized text, and the text index of each.

    Texts with fewer than ``ngram`` units yield one shingle of all they have; empty texts yield one
    fixed shingle. Windows never cross texts; result is grouped by text in order.

    >>> h, doc = shingle_hashes(["a b c d", "a b c", "x"], ngram=3)
    >>> doc.tolist(), bool(h[0] == h[2]), len(set(h.tolist()))
    ([0, 0, 1, 2], True, 3)
    """
    if unit == "char":
        return _char_windows(norms, ngram)
    if unit != "word":
        raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
    words, wdoc = _word_hashes(norms)
    nw = len(words)
    ndocs = len(norms)
    counts = np.bincount(wdoc, minlength=ndocs)
    first = np.cumsum(counts) - counts
    # window i (starting at word i) is valid when its last word is in the same text, or when it is the
    # first word of a text shorter than ngram (then the missing words count as 0)
    idx = np.arange(nw)
    end_doc = np.full(nw, -1, dtype=np.int64)
    if nw >= ngram:
        end_doc[: nw - ngram + 1] = wdoc[ngram - 1:]
    short_first = (counts[wdoc] < ngram) & (idx == first[wdoc])
    valid = (end_doc == wdoc) | short_first
    h = np.zeros(nw, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(ngram):
            w = np.zeros(nw, dtype=np.uint64)
            if k < nw:
                w[: nw - k] = words[k:]
                same = np.zeros(nw, dtype=bool)
                same[: nw - k] = wdoc[k:] == wdoc[: nw - k]
                w[~same] = 0
            h = (h + w) * np.uint64(0x9E3779B97F4A7C15 + 2 * k)
        h = _mix(h)
    h, doc = h[valid], wdoc[valid]
    empty = np.flatnonzero(counts == 0)
    if len(empty):  # one fixed shingle for empty texts, keeping the grouping by text
        h = np.concatenate((h, np.full(len(empty), 0x5EED, dtype=np.uint64)))
        doc = np.concatenate((doc, empty))
        order = np.argsort(doc, kind="stable")
        h, doc = h[order], doc[order]
    return h, doc


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimizing 0.1 * false-positive + 0.9 * false-negative area of the LSH S-curve.

    False negatives weigh more because candidates are verified by their signatures afterwards (a
    false positive costs a comparison, a false negative loses a duplicate). At 0.8 and 64
    permutations, a pair of Jaccard 0.8 becomes a candidate with probability 0.88 (0.997 at 0.9).

    >>> lsh_params(0.8, 64)
    (9, 7)
    """
    s = np.linspace(0.0, 1.0, 2001)
    lo, hi = s <= threshold, s >= threshold
    best, best_err = (1, num_perm), float("inf")
    for r in range(1, num_perm + 1):
        for b in range(1, num_perm // r + 1):
            p = 1.0 - (1.0 - s**r) ** b
            err = 0.1 * np.trapezoid(p[lo], s[lo]) + 0.9 * np.trapezoid(1.0 - p[hi], s[hi])
            if err < best_err - 1e-12:
                best, best_err = (b, r), err
    return best


class Deduper:
    """Streaming exact + near-duplicate filter. ``add``/``add_many`` return None for a kept text,
    ``"exact:<id>"`` or ``"near:<id>"`` naming the earlier kept text it duplicates.

    ``threshold`` is the Jaccard similarity (estimated from ``num_perm`` MinHash values) above which
    a text counts as a near-duplicate; ``ngram``/``unit`` choose the shingles (word 3-grams by
    default, see the module docstring); ``bands`` overrides the LSH banding (default: chosen by
    :func:`lsh_params`). Use :meth:`add_many` for speed (batches of thousands).

    ``keep_number_variants`` (default True): a near-duplicate must also have the same numbers, in
    order (:func:`number_key`), so variants of one seed that differ in their numbers are all kept.
    The paper's change-numbers strategy (and the symbolic generator) produce exactly those, and they
    are the data that scales; ``False`` restores removing them as near-duplicates.

    >>> q = ("Ann reads 12 pages of her book every day for a whole week and then reads 3 more pages on the "
    ...      "next Monday morning before school starts. How many pages has she read in total by then?")
    >>> Deduper().add_many(["a", "b"], [q, q.replace("12", "14")])
    [None, None]
    >>> Deduper(keep_number_variants=False).add_many(["a", "b"], [q, q.replace("12", "14")])
    [None, 'near:a']
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, ngram: int = 3, unit: str = "word",
                 bands: int | None = None, seed: int = 1, flush_every: int = 1 << 20,
                 keep_number_variants: bool = True):
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if unit not in ("word", "char"):
            raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
        self.threshold, self.num_perm, self.ngram, self.unit = threshold, num_perm, ngram, unit
        self.keep_number_variants = keep_number_variants
        self._numkeys: list[str] = []  # per kept text, its numbers (only with keep_number_variants)
        if bands is None:
            bands, rows = lsh_params(threshold, num_perm)
        else:
            rows = num_perm // bands
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
        self._row_mul = rng.integers(1, 1 << 63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._salt = rng.integers(0, 1 << 63, size=bands + 1, dtype=np.uint64)  # table 0 = exact
        self._ids: list[str] = []
        self._sigs = np.zeros((1024, num_perm), dtype=np.uint16)
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted, merged tables
        self._vals = np.zeros(0, dtype=np.uint32)
        self._pending: dict[int, int | list[int]] = {}
        self._flush_every = flush_every
        self.stats = {"seen": 0, "kept": 0, "exact": 0, "near": 0}

    # -- signatures -------------------------------------------------------------------------------

    def signatures(self, norms: Sequence[str]) -> np.ndarray:
        """MinHash signatures (len(norms), num_perm) uint32 of normalized texts (multiply-shift hashing)."""
        h, doc = shingle_hashes(norms, self.ngram, self.unit)
        out = np.empty((len(norms), self.num_perm), dtype=np.uint32)
        bounds = np.searchsorted(doc, np.arange(len(norms) + 1))
        chunk = max(1, (1 << 21) // self.num_perm)  # shingles per step, ~16 MiB of uint64 temporaries
        d0 = 0
        while d0 < len(norms):
            d1 = int(np.searchsorted(bounds, bounds[d0] + chunk, side="right")) - 1
            d1 = max(d1, d0 + 1)
            s0, s1 = bounds[d0], bounds[min(d1, len(norms))]
            with np.errstate(over="ignore"):
                v = (h[s0:s1, None] * self._a[None, :] + self._b[None, :]) >> np.uint64(32)
            out[d0:d1] = np.minimum.reduceat(v, bounds[d0:d1] - s0, axis=0)
            d0 = d1
        return out

    def _band_keys(self, sigs: np.ndarray) -> np.ndarray:
        b, r = self.bands, self.rows
        bs = sigs[:, : b * r].astype(np.uint64).reshape(len(sigs), b, r)
        with np.errstate(over="ignore"):
            keys = (bs * self._row_mul[None, None, :]).sum(axis=2, dtype=np.uint64)
            return _mix(keys + self._salt[None, 1:])

    # -- tables -----------------------------------------------------------------------------------

    def _pending_add(self, key: int, idx: int) -> None:
        old = self._pending.get(key)
        if old is None:
            self._pending[key] = idx
        elif isinstance(old, list):
            old.append(idx)
        else:
            self._pending[key] = [old, idx]

    def _flush(self) -> None:
        if not self._pending:
            return
        ks, vs = [], []
        for k, v in self._pending.items():
            if isinstance(v, list):
                ks.extend([k] * len(v))
                vs.extend(v)
            else:
                ks.append(k)
                vs.append(v)
        keys = np.concatenate((self._keys, np.array(ks, dtype=np.uint64)))
        vals = np.concatenate((self._vals, np.array(vs, dtype=np.uint32)))
        order = np.argsort(keys, kind="stable")  # timsort: merging two runs is ~linear
        self._keys, self._vals = keys[order], vals[order]
        self._pending = {}

    def _lookup(self, key: int) -> list[int]:
        out: list[int] = []
        v = self._pending.get(key)
        if v is not None:
            out.extend(v if isinstance(v, list) else [v])
        return out

    # -- public API -------------------------------------------------------------------------------

    def add(self, id: str, text: str) -> str | None:
        """Add one text; None when kept, else ``"exact:<id>"`` / ``"near:<id>"`` of the earlier text."""
        return self.add_many([id], [text])[0]

    def add_many(self, ids: Sequence[str], texts: Sequence[str], max_candidates: int = 16) -> list[str | None]:
        """Add a batch (processed in order, so duplicates inside the batch are found too)."""
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        if not texts:
            return []
        norms = [normalize_text(t) for t in texts]
        exact = np.array([int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")
                          for s in norms], dtype=np.uint64)
        with np.errstate(over="ignore"):
            exact = _mix(exact + self._salt[0])
        sigs = self.signatures(norms)
        sig16 = sigs.astype(np.uint16)
        bkeys = self._band_keys(sigs)
        allkeys = np.concatenate((exact[:, None], bkeys), axis=1)  # (n, bands + 1)
        lo = np.searchsorted(self._keys, allkeys, side="left")
        hi = np.searchsorted(self._keys, allkeys, side="right")
        hit_rows = set(np.flatnonzero((hi > lo).any(axis=1)).tolist())
        need = int(np.ceil(self.threshold * self.num_perm - 1e-9))
        results: list[str | None] = []
        for i in range(len(texts)):
            self.stats["seen"] += 1
            keys_i = allkeys[i].tolist()
            # exact
            cands = self._lookup(keys_i[0])
            if i in hit_rows and hi[i, 0] > lo[i, 0]:
                cands.extend(self._vals[lo[i, 0]:hi[i, 0]].tolist())
            if cands:
                self.stats["exact"] += 1
                results.append("exact:" + self._ids[min(cands)])
                continue
            near: set[int] = set()
            for t in range(1, self.bands + 1):
                near.update(self._lookup(keys_i[t])[:max_candidates])
                if i in hit_rows and hi[i, t] > lo[i, t]:
                    near.update(self._vals[lo[i, t]:min(hi[i, t], lo[i, t] + max_candidates)].tolist())
            dup = None
            if near:
                cl = sorted(near)
                agree = np.count_nonzero(self._sigs[cl] == sig16[i], axis=1)
                ok = [cl[int(j)] for j in np.flatnonzero(agree >= need)]
                if self.keep_number_variants:
                    nk = number_key(norms[i])
                    ok = [j for j in ok if self._numkeys[j] == nk]
                if ok:
                    dup = ok[0]
            if dup is not None:
                self.stats["near"] += 1
                results.append("near:" + self._ids[dup])
                continue
            k = len(self._ids)
            self._ids.append(str(ids[i]))
            if self.keep_number_variants:
                self._numkeys.append(number_key(norms[i]))
            if k >= len(self._sigs):
                grown = np.zeros((2 * len(self._sigs), self.num_perm), dtype=np.uint16)
                grown[: len(self._sigs)] = self._sigs
                self._sigs = grown
            self._sigs[k] = sig16[i]
            for key in keys_i:
                self._pending_add(key, k)
            self.stats["kept"] += 1
            results.append(None)
        if len(self._pending) >= self._flush_every:
            self._flush()
        return results

    def __len__(self) -> int:
        """Number of kept texts."""
        return len(self._ids)


def dedup(items: Iterable[tuple[str, str]], batch_size: int = 4096, **kwargs) -> Iterator[tuple[str, str | None]]:
    """Stream ``(id, text)`` pairs through a :class:`Deduper`; yield ``(id, verdict)`` in order.

    >>> list(dedup([("1", "What is 2 + 3?"), ("2", "what is 2 + 3"), ("3", "What is 7 * 8?")]))
    [('1', None), ('2', 'exact:1'), ('3', None)]
    """
    d = Deduper(**kwargs)
    batch: list[tuple[str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            yield from zip([i for i, _ in batch], d.add_many(*zip(*batch, strict=True)), strict=True)
            batch = []
    if batch:
        yield from zip([i for i, _ in batch], d.add_many(*zip(*batch, strict=True)), strict=True)
