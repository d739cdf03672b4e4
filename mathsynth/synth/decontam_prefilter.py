"""Content-token prefilter: which texts could paraphrase a benchmark test question, and so are worth embedding.

Embedding is the expensive part of decontamination (~150-200 short questions/s on 2 CPU cores), and a
paraphrase that reaches cosine 0.9 with a test question keeps most of its *numbers* and some of its key
nouns, while a synthetic question built from other seeds shares a number or two by chance. So each text
and test question is reduced to its set of *content tokens* (:func:`content_tokens`): numbers (number
words ``one``..``ninety``, ``twice``, ``dozen``... mapped to digits, ``16.00`` -> ``16``) and words of
>= 4 letters outside a small stopword list (a plural/possessive ``s`` stripped). A (text, test) pair is a
possible match when, with ``n`` = shared numbers and ``w`` = shared words,

* the test question has numbers: ``n >= ceil(number_ratio * max(text numbers, test numbers))`` (0.6:
  both of 2, 2 of 3, 3 of 4 or 5) and ``w >= ceil(word_ratio * min(text words, test words))`` (0.2);
* it has none (e.g. a purely symbolic MATH problem): ``n + w >= ceil(ratio * smaller token set)`` (0.4);
* always ``n + w >= min_shared`` (3).

Why these numbers: on 45 hand-written paraphrases of GSM8K/SVAMP/ASDiv/MATH test questions that reach
cosine >= 0.9 (``tests/fixtures/decontam_paraphrases.jsonl`` holds them), every one keeps at least 3 of 4
of the original's numbers, but heavy rewordings keep as few as 27% of its words -- so numbers carry the
filter and the word ratio stays low. Using the *larger* number count makes a synthetic question with many
numbers of its own need more of them to coincide. On 192,836 deduplicated symbolic GSM8K-style questions
this passes 31k (16%); the previous rule (40% of all tokens) passed 128k (66%).

What it misses (recall): paraphrases that rewrite numbers (``30 minutes`` for ``half an hour``,
``80 thousand`` for ``80,000``) or drop 2 of 4; pairs sharing no *rare* token (candidates come from an
inverted index over tokens in at most ``common`` = 2% of the test questions, so a pair sharing only
common tokens is never considered); texts with fewer than ``min_shared`` content tokens (verbatim copies
of those are still caught by the n-gram path).

>>> pf = ContentPrefilter(["Priya reads 18 pages on weekdays and 30 pages on weekend days."])
>>> pf.mask(["On every weekday Priya gets through 18 pages, and 30 pages a day at the weekend.",
...          "Priya bakes 18 cakes and 4 pies."]).tolist()
[True, False]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from mathsynth.synth.dedup import normalize_text

__all__ = ["ContentPrefilter", "content_tokens"]

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


def _is_number(tok: str) -> bool:
    return tok[0].isdigit()


class ContentPrefilter:
    """Index of the test questions' content tokens; :meth:`mask` says which texts pass (module docstring).

    >>> ContentPrefilter(["A tank holds 240 liters and 45 liters are used."]).mask(
    ...     ["A full 240 liter tank loses 45 liters.", "A tank holds 300 liters."]).tolist()
    [True, False]
    """

    def __init__(self, test_questions: Sequence[str], min_shared: int = 3, number_ratio: float = 0.6,
                 word_ratio: float = 0.2, ratio: float = 0.4, common: float = 0.02):
        self.min_shared, self.number_ratio = max(1, int(min_shared)), number_ratio
        self.word_ratio, self.ratio, self.common = word_ratio, ratio, common
        vocab: dict[str, int] = {}
        t_doc: list[int] = []
        t_tok: list[int] = []
        for j, q in enumerate(test_questions):
            for w in content_tokens(q):
                t_doc.append(j)
                t_tok.append(vocab.setdefault(w, len(vocab)))
        n, v = len(test_questions), len(vocab)
        doc, tok = np.asarray(t_doc, dtype=np.int64), np.asarray(t_tok, dtype=np.int64)
        self.n_test, self._vocab = n, vocab
        is_num = np.zeros(v, dtype=bool)
        is_num[[i for w, i in vocab.items() if _is_number(w)]] = True
        df = np.bincount(tok, minlength=v)
        # never call a token common in a tiny test set (e.g. demo): it would leave nothing to index
        common_tok = df > max(common * n, 10.0)
        bit = np.full(v, -1, dtype=np.int64)
        bit[common_tok] = np.arange(int(common_tok.sum()))
        self._bit, self._is_num = bit, is_num
        self._words = max(1, -(-int(common_tok.sum()) // 64))
        # which bits are numbers, to split a popcount of shared common tokens into numbers and words
        self._num_bits = self._bitsets(np.zeros(int(is_num.sum()), dtype=np.int64), np.flatnonzero(is_num), 1)[0]
        self._test_nums = np.bincount(doc, weights=is_num[tok], minlength=n).astype(np.int64)
        self._test_words = np.bincount(doc, minlength=n) - self._test_nums
        self._test_bits = self._bitsets(doc, tok, n)
        # postings (CSR) of the rare tokens: the only way a candidate pair is found
        rare = ~common_tok[tok]
        order = np.lexsort((doc[rare], tok[rare]))
        self._post = doc[rare][order]
        cnt = np.bincount(tok[rare], minlength=v)
        self._start = np.concatenate(([0], np.cumsum(cnt)))[:-1]
        self._len = np.where(common_tok, 0, cnt)

    def _bitsets(self, doc: np.ndarray, tok: np.ndarray, n: int) -> np.ndarray:
        """Per-document bitsets (n, words) of the common tokens among (doc, tok) pairs."""
        bits = np.zeros((n, self._words), dtype=np.uint64)
        b = self._bit[tok]
        m = b >= 0
        np.bitwise_or.at(bits, (doc[m], b[m] // 64), np.left_shift(np.uint64(1), (b[m] % 64).astype(np.uint64)))
        return bits

    def mask(self, texts: Sequence[str], chunk: int = 4096) -> np.ndarray:
        """Boolean array: which ``texts`` share enough numbers and words with some test question."""
        out = np.zeros(len(texts), dtype=bool)
        if not self.n_test:
            return out
        for s in range(0, len(texts), chunk):
            out[s:s + chunk] = self._mask_chunk(texts[s:s + chunk])
        return out

    def _mask_chunk(self, part: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(part), dtype=bool)
        nums = np.zeros(len(part), dtype=np.int64)
        size = np.zeros(len(part), dtype=np.int64)
        d_list: list[int] = []
        t_list: list[int] = []
        vocab = self._vocab
        for i, t in enumerate(part):
            toks = content_tokens(t)
            size[i] = len(toks)
            nums[i] = sum(map(_is_number, toks))
            ids = [vocab[w] for w in toks if w in vocab]
            d_list.extend([i] * len(ids))
            t_list.extend(ids)
        if not t_list:
            return out
        doc, tok = np.asarray(d_list, dtype=np.int64), np.asarray(t_list, dtype=np.int64)
        counts = self._len[tok]
        has = counts > 0
        doc_r, tok_r, counts = doc[has], tok[has], counts[has]
        total = int(counts.sum())
        if not total:
            return out
        # every (text, test) pair sharing a rare token, with its shared rare numbers and words
        rows = np.repeat(doc_r, counts)
        pos = np.repeat(self._start[tok_r] - np.cumsum(counts) + counts, counts) + np.arange(total)
        keys, inv = np.unique(rows * self.n_test + self._post[pos], return_inverse=True)
        shared = np.bincount(inv, minlength=len(keys))
        shared_n = np.bincount(inv, weights=np.repeat(self._is_num[tok_r], counts), minlength=len(keys))
        rows, tests = keys // self.n_test, keys % self.n_test
        both = self._bitsets(doc, tok, len(part))[rows] & self._test_bits[tests]
        shared = shared + np.bitwise_count(both).sum(axis=1)
        shared_n = shared_n.astype(np.int64) + np.bitwise_count(both & self._num_bits).sum(axis=1)
        shared_w = shared - shared_n
        t_nums, q_nums = nums[rows], self._test_nums[tests]
        t_words, q_words = size[rows] - t_nums, self._test_words[tests]
        eps = 1e-9  # ceil(0.6 * 5) must be 3, not 4 from float rounding
        with_nums = q_nums > 0
        need_n = np.where(with_nums, np.ceil(self.number_ratio * np.maximum(t_nums, q_nums) - eps), 0)
        need_w = np.where(with_nums, np.ceil(self.word_ratio * np.minimum(t_words, q_words) - eps), 0)
        smaller = np.minimum(size[rows], q_nums + q_words)
        need = np.where(with_nums, self.min_shared,
                        np.maximum(self.min_shared, np.ceil(self.ratio * smaller - eps)))
        ok = (shared_n >= need_n) & (shared_w >= need_w) & (shared >= need)
        out[np.unique(rows[ok])] = True
        return out
