"""Decontaminate synthetic questions against benchmark test sets: word 13-grams, then embeddings.

:class:`Decontaminator` loads the *test* split of every registered benchmark whose local data is present
(``$MATHSYNTH_DATA_DIR``; missing ones are skipped with a warning and listed in ``.skipped``; ``demo``
is left out unless named). A text is contaminated when

1. it shares at least ``ngram_threshold`` hashed word 13-grams (over :func:`normalize_text` words) with
   one test question (texts shorter than 13 words count as one shingle, so a short question copied
   verbatim is caught too) -- a sorted numpy array lookup, ~1M questions/min on one core; or
2. it is a *number variant* of a test question: with every number masked (:func:`mask_numbers`), at
   least ``variant_fraction`` (0.5) of its word 13-grams occur in one test question. A test problem
   with its numbers changed (what the symbolic generator and the change-numbers prompt produce from a
   test seed) shares no unmasked 13-gram when every 13-word window holds a number, so the plain rule
   misses it; the masked rule needs a majority of grams, not one, because masked text is more generic;
3. (``use_embeddings=True``) the cosine similarity of its all-MiniLM-L6-v2 embedding with a test
   question's is ``>= embed_threshold`` (0.9). The test-set embeddings are cached under
   ``cache_dir()/decontam/``. Cost: ~170 short questions/s on 2 CPU cores in bf16 (fp32 sentence-transformers
   managed 70-90/s), hence the prefilter below; a GPU (``device="cuda"``) or the n-gram path only
   (``use_embeddings=False``) are the other ways out.

Content-token prefilter (``prefilter=True``, the default): before embedding, :meth:`Decontaminator.prefilter`
keeps only texts that share enough numbers and words with some test question to be a plausible paraphrase
(:mod:`mathsynth.synth.decontam_prefilter`, which documents the rule, its recall check on hand-written
paraphrases and what it misses); only those are embedded (and compared against *all* test embeddings).
``prefilter=False`` embeds every text the n-grams did not flag. The embedding model and how it is run
fast on CPU: :mod:`mathsynth.synth.decontam_embed`.

>>> from mathsynth.data import load_benchmark
>>> dc = Decontaminator(["demo"], use_embeddings=False)
>>> q = load_benchmark("demo")[0].question
>>> m = dc.check(q.upper() + "  ")
>>> m.kind, m.test_id, m.score
('ngram', 'demo/demo-01', 1.0)
>>> dc.check("A train leaves at 3 pm and arrives at 7 pm. How long is the trip?") is None
True
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mathsynth.data import get_benchmark, list_benchmarks, load_benchmark, resolve
from mathsynth.data.registry import data_dir
from mathsynth.errors import MathsynthError
from mathsynth.synth.decontam_embed import EMBED_MODEL, Embedder, embed_texts, load_embedder
from mathsynth.synth.decontam_prefilter import ContentPrefilter, content_tokens
from mathsynth.synth.dedup import mask_numbers, normalize_text, shingle_hashes

# the embedding and prefilter helpers are re-exported: callers import them from here
__all__ = ["EMBED_MODEL", "ContentPrefilter", "Decontaminator", "Embedder", "Match", "content_tokens",
           "embed_texts", "load_embedder"]


@dataclass(frozen=True)
class Match:
    """Why a text is contaminated: ``kind`` is ``"ngram"`` (``score`` = fraction of the text's
    n-grams found in ``test_id``) or ``"embedding"`` (``score`` = cosine similarity)."""

    kind: str
    test_id: str
    score: float


class Decontaminator:
    """Flag texts that overlap benchmark test questions (see the module docstring).

    ``benchmarks``: names to load (default: every registered benchmark but ``demo``); unavailable ones
    are skipped with a warning and listed in ``skipped``. ``ngram``/``ngram_threshold``: n-gram length
    and how many distinct shared n-grams make a match. ``embed_threshold``: cosine cut-off.
    ``use_embeddings``: load the embedding model now (only then does :meth:`check_many` embed; see also
    :meth:`enable_embeddings`); ``precision``: its numerics (``"auto"``: bf16 where the hardware has it).
    ``prefilter``: in :meth:`check_many`, embed only texts passing :meth:`prefilter`; the
    ``prefilter_*`` knobs are :class:`ContentPrefilter`'s ``min_shared``, ``number_ratio``,
    ``word_ratio``, ``ratio`` (for test questions without numbers) and ``common`` -- lower them for more
    recall and more embedding time.
    """

    def __init__(self, benchmarks: list[str] | None = None, ngram: int = 13, ngram_threshold: int = 1,
                 embed_threshold: float = 0.9, use_embeddings: bool = True, device: str = "cpu",
                 batch_size: int = 32, cache: bool = True, prefilter: bool = True,
                 prefilter_min_shared: int = 3, prefilter_number_ratio: float = 0.6,
                 prefilter_word_ratio: float = 0.2, prefilter_ratio: float = 0.4,
                 prefilter_common: float = 0.02, precision: str = "auto", variant_fraction: float = 0.5):
        if benchmarks is None:
            benchmarks = [b.name for b in list_benchmarks() if b.name != "demo"]
        self.ngram, self.ngram_threshold = ngram, max(1, int(ngram_threshold))
        self.embed_threshold, self.use_embeddings = embed_threshold, use_embeddings
        self.batch_size = batch_size
        self.benchmarks: list[str] = []
        self.skipped: dict[str, str] = {}
        self.test_ids, self.test_questions = self._load_tests(benchmarks)
        if self.skipped:
            warnings.warn("decontamination skips " + "; ".join(f"{k}: {v}" for k, v in self.skipped.items()),
                          stacklevel=2)
        self.variant_fraction = variant_fraction
        norms = [normalize_text(q) for q in self.test_questions]
        self._grams = _gram_table(norms, ngram)
        self._masked = _gram_table([mask_numbers(n) for n in norms], ngram)
        self.prefilter_enabled = prefilter
        self.prefilter_index = ContentPrefilter(self.test_questions, min_shared=prefilter_min_shared,
                                                number_ratio=prefilter_number_ratio,
                                                word_ratio=prefilter_word_ratio, ratio=prefilter_ratio,
                                                common=prefilter_common)
        self._model: Embedder | None = None
        self._emb: np.ndarray | None = None
        if use_embeddings:
            self.enable_embeddings(device, cache, precision)

    def _load_tests(self, benchmarks: list[str]) -> tuple[list[str], list[str]]:
        ids: list[str] = []
        questions: list[str] = []
        root = data_dir()
        seen: set[str] = set()
        for name in benchmarks:
            # "name" means its test split; "name:split" (e.g. a development split) names another
            ref = resolve(name, check=False)
            info, split, label = ref.info, ref.split, ref.label
            if info is None:
                get_benchmark(name)  # a file is no test set: raises, listing the benchmarks
            if split not in info.splits:
                self.skipped[label] = f"no {split} split"
                continue
            if not info.builtin:
                path = info.local_path(split, root) if root is not None else None
                if path is None or not path.exists():
                    self.skipped[label] = f"data missing ({path or '$MATHSYNTH_DATA_DIR unset'})"
                    continue
            try:
                probs = load_benchmark(ref)
            except MathsynthError as e:
                self.skipped[label] = str(e)
                continue
            self.benchmarks.append(label)
            for p in probs:
                if p.question in seen:  # math500 repeats math problems under other ids: keep first
                    continue
                seen.add(p.question)
                ids.append(p.id if p.id.startswith(info.name + "/") else f"{info.name}/{p.id}")
                questions.append(p.question)
        return ids, questions

    @property
    def prefilter_min_shared(self) -> int:
        """:class:`ContentPrefilter` ``min_shared`` in use."""
        return self.prefilter_index.min_shared

    def prefilter(self, texts: Sequence[str], chunk: int = 4096) -> np.ndarray:
        """Boolean mask: which texts share enough numbers and words with some test question to be
        embedded (:class:`ContentPrefilter`; its module docstring says what this misses).

        >>> from mathsynth.data import load_benchmark
        >>> dc = Decontaminator(["demo"], use_embeddings=False)
        >>> dc.prefilter([load_benchmark("demo")[1].question, "What is 2 + 2?"]).tolist()
        [True, False]
        """
        return self.prefilter_index.mask(texts, chunk)

    def enable_embeddings(self, device: str = "cpu", cache: bool = True, precision: str = "auto") -> None:
        """Load the embedding model and the test-set embeddings (cached under ``cache_dir()/decontam/``
        unless ``cache=False``), so that :meth:`check_many` also compares embeddings.

        >>> dc = Decontaminator(["demo"], use_embeddings=False)
        >>> dc.enable_embeddings(cache=False)
        >>> m = dc.check("Priya gets through 18 pages of her novel every weekday and 30 pages on every "
        ...              "weekend day. How many pages will she have read after two weeks?")
        >>> m.kind, m.test_id, m.score >= 0.9
        ('embedding', 'demo/demo-02', True)
        """
        self._model = load_embedder(device, precision, self.batch_size)
        self._emb = self._test_embeddings(cache)
        self.use_embeddings = True

    def _test_embeddings(self, cache: bool) -> np.ndarray:
        from mathsynth.models import cache_dir

        assert self._model is not None
        digest = hashlib.sha256(self._model.key.encode())
        for i, q in zip(self.test_ids, self.test_questions, strict=True):
            digest.update(f"{i}\t{q}\n".encode())
        path = Path(cache_dir()) / "decontam" / f"{digest.hexdigest()[:24]}.npy"
        self.embedding_cache = path
        if cache and path.exists():
            emb = np.load(path)
            if emb.shape[0] == len(self.test_ids):
                self.embeddings_cached = True
                return emb.astype(np.float32, copy=False)
        self.embeddings_cached = False
        emb = self._model.encode(self.test_questions)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, emb)
            tmp.replace(path)
            path.with_suffix(".json").write_text(json.dumps(
                {"model": self._model.key, "benchmarks": self.benchmarks, "n": len(self.test_ids)}))
        return emb

    def __len__(self) -> int:
        """Number of test questions loaded."""
        return len(self.test_ids)

    def check(self, text: str) -> Match | None:
        """:meth:`check_many` for one text."""
        return self.check_many([text])[0]

    def check_ngrams(self, texts: Sequence[str]) -> list[Match | None]:
        """The n-gram paths alone (fast, no model): shared 13-grams, then masked-number variants.

        >>> from mathsynth.data import load_benchmark
        >>> dc = Decontaminator(["demo"], use_embeddings=False)
        >>> q = load_benchmark("demo")[1].question
        >>> m = dc.check_ngrams([q.replace("18", "21").replace("30", "35")])[0]
        >>> m.kind, m.test_id
        ('number-variant', 'demo/demo-02')
        """
        out: list[Match | None] = [None] * len(texts)
        if not texts:
            return out
        norms = [normalize_text(t) for t in texts]
        for r, t, score in _gram_hits(self._grams, norms, self.ngram, 1, self.ngram_threshold):
            if out[r] is None or score > out[r].score:
                out[r] = Match("ngram", self.test_ids[t], round(score, 4))
        rest = [i for i, m in enumerate(out) if m is None]
        masked = [mask_numbers(norms[i]) for i in rest]
        for r, t, score in _gram_hits(self._masked, masked, self.ngram, self.variant_fraction, 1):
            i = rest[r]
            if out[i] is None or score > out[i].score:
                out[i] = Match("number-variant", self.test_ids[t], round(score, 4))
        return out

    def check_embeddings(self, texts: Sequence[str], chunk: int = 4096) -> list[Match | None]:
        """The embedding path alone (requires ``use_embeddings=True`` or :meth:`enable_embeddings`)."""
        if self._model is None or self._emb is None:
            raise MathsynthError("no embedding model: build with use_embeddings=True or call enable_embeddings()")
        out: list[Match | None] = [None] * len(texts)
        for s in range(0, len(texts), chunk):
            q = self._model.encode(texts[s:s + chunk])
            if not len(self._emb):
                continue
            sims = q @ self._emb.T
            best = sims.argmax(axis=1)
            score = sims[np.arange(len(q)), best]
            for j in np.flatnonzero(score >= self.embed_threshold).tolist():
                out[s + j] = Match("embedding", self.test_ids[int(best[j])], round(float(score[j]), 4))
        return out

    def check_many(self, texts: Sequence[str]) -> list[Match | None]:
        """One verdict per text: a :class:`Match` (n-gram match first, else embedding) or None if clean.

        With ``prefilter`` on, only texts passing :meth:`prefilter` are embedded."""
        out = self.check_ngrams(texts)
        if self._model is not None:
            rest = [i for i, m in enumerate(out) if m is None]
            if self.prefilter_enabled and rest:
                keep = self.prefilter([texts[i] for i in rest])
                rest = [i for i, k in zip(rest, keep.tolist(), strict=True) if k]
            for i, m in zip(rest, self.check_embeddings([texts[i] for i in rest]), strict=True):
                out[i] = m
        return out


def _gram_table(norms: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique (gram hash, test index) pairs of normalized texts, as two arrays."""
    h, doc = shingle_hashes(norms, ngram, "word")
    pairs = np.unique(np.stack((h, doc.astype(np.uint64)), axis=1), axis=0) if len(h) else \
        np.zeros((0, 2), dtype=np.uint64)
    return pairs[:, 0].copy(), pairs[:, 1].astype(np.int64)


def _gram_hits(table: tuple[np.ndarray, np.ndarray], norms: list[str], ngram: int, min_fraction: float,
               min_count: int):
    """Yield (text index, test index, fraction of the text's grams found in that test question) for
    pairs sharing at least ``min_count`` distinct grams and at least ``min_fraction`` of them."""
    keys, docs = table
    if not norms or not len(keys):
        return
    h, doc = shingle_hashes(norms, ngram, "word")
    hd = np.unique(np.stack((doc.astype(np.uint64), h), axis=1), axis=0)  # distinct grams per text
    doc, h = hd[:, 0].astype(np.int64), hd[:, 1]
    total = np.bincount(doc, minlength=len(norms))
    lo = np.searchsorted(keys, h, side="left")
    hi = np.searchsorted(keys, h, side="right")
    hit = np.flatnonzero(hi > lo)
    if not len(hit):
        return
    counts = hi[hit] - lo[hit]  # expand (text, test) pairs for every shared gram
    rows = np.repeat(doc[hit], counts)
    pos = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    pair, n = np.unique(np.stack((rows, docs[pos]), axis=1), axis=0, return_counts=True)
    frac = n / np.maximum(1, total[pair[:, 0]])
    for j in np.flatnonzero((n >= min_count) & (frac >= min_fraction - 1e-12)).tolist():
        yield int(pair[j, 0]), int(pair[j, 1]), float(frac[j])
