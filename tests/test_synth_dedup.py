"""Dedup (exact + MinHash LSH near-duplicates) and test-set decontamination (13-grams + embeddings)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from mathsynth.synth.dedup import Deduper, dedup, lsh_params, normalize_text, shingle_hashes

HAS_DATA = bool(os.environ.get("MATHSYNTH_DATA_DIR")) and os.path.isdir(os.environ["MATHSYNTH_DATA_DIR"])
needs_data = pytest.mark.skipif(not HAS_DATA, reason="set MATHSYNTH_DATA_DIR (CI uses ../shared/data)")

BASE = [
    "Lena bakes 24 cupcakes for the school fair on Saturday morning. She sells 15 of them before noon and "
    "gives 4 to her teachers. Her brother eats 2 more. How many cupcakes does Lena have left to sell?",
    "A farmer plants 8 rows of corn with 35 plants in each row. A storm destroys 47 plants during the night "
    "and he replants 12 new ones the next day. How many corn plants are in the field now?",
    "The library lends out 132 books in March and 157 books in April. In May it lends out twice as many as "
    "in March. How many books does the library lend out over the three months in total?",
    "A bus leaves the station with 41 passengers aboard. At the first stop 9 people get off and 14 get on, "
    "and at the second stop 6 get off. How many passengers are on the bus after the second stop?",
]


def _random_questions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names = ["Ravi", "Mia", "Chen", "Ada", "Tomas", "Zoe", "Ibrahim", "Lucia"]
    things = ["stamps", "shells", "coins", "stickers", "marbles", "beads"]
    places = ["garage", "attic", "classroom", "garden", "kitchen"]
    out = []
    for _ in range(n):
        a, b, c = rng.choice(names), rng.choice(names), rng.choice(things)
        out.append(f"{a} collects {rng.randint(10, 999)} {c} in the {rng.choice(places)}. {b} gives {a} "
                   f"{rng.randint(2, 99)} more {c} every week for {rng.randint(2, 12)} weeks, and then {a} "
                   f"trades away {rng.randint(1, 40)} of them. How many {c} does {a} have now?")
    return out


def test_normalize_text():
    assert normalize_text("  HOW   many\tApples?? ") == "how many apples"
    assert normalize_text("It costs $1,200.50.") == "it costs $1200.50"
    assert normalize_text("Find x: 2x + 3 = 7.") == "find x 2x + 3 = 7"


def test_shingles_word_and_char():
    h, doc = shingle_hashes(["one two three four", "", "two three four"], ngram=3)
    assert doc.tolist() == [0, 0, 1, 2]
    assert h[1] == h[3]  # "two three four" is the same shingle in both texts
    h, doc = shingle_hashes(["abcdef", "ab"], ngram=5, unit="char")
    assert doc.tolist() == [0, 0, 1]


def test_lsh_params_recall():
    b, r = lsh_params(0.8, 64)
    assert b * r <= 64 and 1 - (1 - 0.8**r) ** b > 0.85


def test_minhash_estimates_jaccard():
    d = Deduper(num_perm=128)
    a = " ".join(f"w{i}" for i in range(60))
    b = " ".join(f"w{i}" for i in range(10, 70))  # word 3-grams: 48 shared of 68 -> J = 0.706
    sig = d.signatures([a, b])
    est = float(np.mean(sig[0] == sig[1]))
    assert abs(est - 48 / 68) < 0.12


def test_exact_and_near_duplicates_caught():
    d = Deduper()
    kept = [d.add(f"b{i}", q) for i, q in enumerate(BASE)]
    assert kept == [None] * len(BASE)  # distinct questions are kept
    q = BASE[0]
    assert d.add("x1", q) == "exact:b0"
    assert d.add("x2", "   " + q.upper().replace(" ", " \n ")) == "exact:b0"
    assert d.add("x3", q.replace("Saturday", "Sunday")) == "near:b0"  # one word changed
    assert d.add("x4", BASE[1].replace("storm", "hailstorm")) == "near:b1"
    assert d.add("x5", BASE[2].replace("157", "175")) is None  # one number changed: a number variant, kept
    assert Deduper(keep_number_variants=False).add_many(["b2", "x5"], [BASE[2], BASE[2].replace("157", "175")]) \
        == [None, "near:b2"]
    assert d.stats == {"seen": 9, "kept": 5, "exact": 2, "near": 2}
    assert len(d) == 5


def test_distinct_questions_kept_and_batches_match_streaming():
    qs = _random_questions(3000)
    plants = [(f"dup{i}", qs[i * 7].replace(" now?", " now ?")) for i in range(50)]
    d = Deduper()
    verdicts = d.add_many([f"q{i}" for i in range(len(qs))], qs)
    # random numbers in 4 slots change most word 3-grams: (almost) all are distinct questions
    assert sum(v is not None for v in verdicts) <= 0.01 * len(qs)
    pv = d.add_many([i for i, _ in plants], [t for _, t in plants])
    assert all(v is not None and v.startswith("exact:") for v in pv)
    # the streaming helper agrees with one big batch
    stream = [v for _, v in dedup(((f"q{i}", q) for i, q in enumerate(qs)), batch_size=257)]
    assert stream == verdicts


def test_flush_keeps_lookups_working():
    d = Deduper(flush_every=50)  # force many merges of the pending table into the sorted arrays
    qs = _random_questions(400, seed=3)
    first = d.add_many([f"a{i}" for i in range(len(qs))], qs)
    again = d.add_many([f"b{i}" for i in range(len(qs))], [q.lower() for q in qs])
    for i, (f, a) in enumerate(zip(first, again, strict=True)):
        if f is None:
            assert a == f"exact:a{i}"
        else:
            assert a is not None


def test_char_unit():
    d = Deduper(unit="char", ngram=5)
    assert d.add("a", BASE[3]) is None
    assert d.add("b", BASE[3].replace("bus", "van")) == "near:a"


def test_decontam_demo_ngram_without_data():
    from mathsynth.data import load_benchmark
    from mathsynth.synth.decontam import Decontaminator

    dc = Decontaminator(["demo"], use_embeddings=False)
    probs = load_benchmark("demo")
    res = dc.check_many([probs[3].question, BASE[0], probs[5].question + " Explain your reasoning."])
    assert res[0].kind == "ngram" and res[0].test_id == f"demo/{probs[3].id}" and res[0].score == 1.0
    assert res[1] is None
    assert res[2].test_id == f"demo/{probs[5].id}"


def test_decontam_skips_missing_data(monkeypatch, tmp_path):
    from mathsynth.synth.decontam import Decontaminator

    monkeypatch.setenv("MATHSYNTH_DATA_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match="gsm8k"):
        dc = Decontaminator(["gsm8k", "demo"], use_embeddings=False)
    assert dc.benchmarks == ["demo"] and "gsm8k" in dc.skipped


GSM8K_VERBATIM = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
                  "muffins for her friends every day with four. She sells the remainder at the farmers' market "
                  "daily for $2 per fresh duck egg. How much in dollars does she make every day at the "
                  "farmers' market?")
# written for this test: same numbers, reworded so that no 13 consecutive words survive
GSM8K_PARAPHRASE = ("Every day, the ducks that Janet owns produce 16 eggs. Each morning she has three of them "
                    "for breakfast, and she uses four daily when baking muffins for her friends. Whatever "
                    "remains she sells at the local farmers market at $2 per egg. How many dollars does Janet "
                    "earn daily at the market?")

# more paraphrases written for this test (reworded, same numbers) of gsm8k test questions 2, 3 and 5
GSM8K_MORE_PARAPHRASES = {
    "gsm8k/test/2": "Josh wants to flip a house. He purchases one for $80,000 and spends another $50,000 "
                    "repairing it, which raises the house's value by 150%. What profit does Josh make?",
    "gsm8k/test/3": "Three times every week, James runs 3 sprints, and each sprint is 60 meters long. How "
                    "many meters in total does James run in a week?",
    "gsm8k/test/5": "Kylar is buying glasses for his new apartment at the store. A single glass is priced "
                    "at $5, yet every second glass only costs 60% of that price. If Kylar buys 16 glasses, "
                    "how much will he pay for them?",
}


def test_content_tokens():
    from mathsynth.synth.decontam import content_tokens

    assert content_tokens("Tom's TWELVE apples cost $3.50, which is twice the price.") == \
        {"tom", "12", "apple", "cost", "3.5", "2", "price"}
    assert content_tokens("") == set()


def test_prefilter_demo():
    from mathsynth.data import load_benchmark
    from mathsynth.synth.decontam import Decontaminator

    dc = Decontaminator(["demo"], use_embeddings=False)
    q = load_benchmark("demo")[2].question
    mask = dc.prefilter([q, q.upper() + " Please answer.", "What is the weather like today?", ""])
    assert mask.tolist() == [True, True, False, False]
    assert Decontaminator(["demo"], use_embeddings=False, prefilter_min_shared=10**6).prefilter([q]).tolist() \
        == [False]


@pytest.fixture(scope="module")
def gsm8k_decontam(tmp_path_factory):
    from mathsynth.synth.decontam import Decontaminator

    old = os.environ.get("MATHSYNTH_CACHE")
    os.environ["MATHSYNTH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield Decontaminator(benchmarks=["gsm8k"])
    finally:
        if old is None:
            os.environ.pop("MATHSYNTH_CACHE", None)
        else:
            os.environ["MATHSYNTH_CACHE"] = old


@pytest.mark.slow  # embeds GSM8K's 1,319 test questions (minutes on 2 cores)
@needs_data
def test_decontam_gsm8k(gsm8k_decontam):
    dc = gsm8k_decontam
    assert len(dc) == 1319 and dc.benchmarks == ["gsm8k"]
    texts = [GSM8K_VERBATIM, GSM8K_PARAPHRASE, BASE[1], BASE[3], "What is the derivative of x^3 + 2x?"]
    assert dc.check_ngrams([GSM8K_PARAPHRASE]) == [None]  # the paraphrase is only caught by meaning
    res = dc.check_many(texts)
    assert res[0] is not None and res[0].kind == "ngram" and res[0].test_id == "gsm8k/test/0"
    assert res[1] is not None and res[1].kind == "embedding" and res[1].test_id == "gsm8k/test/0"
    assert res[1].score >= 0.9
    assert res[2:] == [None, None, None]
    # recall of the content-token prefilter on paraphrases: they pass it and are caught by embeddings
    paras = list(GSM8K_MORE_PARAPHRASES.values())
    assert dc.prefilter([GSM8K_PARAPHRASE, *paras]).tolist() == [True] * 4
    assert dc.check_ngrams(paras) == [None] * 3
    got = dc.check_many(paras)
    assert [m.test_id if m else None for m in got] == list(GSM8K_MORE_PARAPHRASES)
    assert all(m.kind == "embedding" and m.score >= 0.9 for m in got)
    # unrelated questions are not embedded at all: none of BASE shares enough numbers with a test question
    assert dc.prefilter([*BASE, "What is the derivative of x^3 + 2x?"]).tolist() == [False] * 5
    # end to end on the gsm8k part of the planted paraphrases (tests/test_synth_decontam.py has them all)
    planted = [json.loads(line) for line in (Path(__file__).parent / "fixtures" /
                                             "decontam_paraphrases.jsonl").read_text().splitlines()]
    planted = [p for p in planted if p["test_id"].startswith("gsm8k/")]
    got = dc.check_many([p["text"] for p in planted])
    assert [m.test_id if m else None for m in got] == [p["test_id"] for p in planted]
    assert all(m.kind == "embedding" and m.score >= dc.embed_threshold for m in got)
    # the test-set embeddings were cached and are reused
    from mathsynth.synth.decontam import Decontaminator

    assert dc.embedding_cache.exists() and not dc.embeddings_cached
    again = Decontaminator(benchmarks=["gsm8k"])
    assert again.embeddings_cached and again.embedding_cache == dc.embedding_cache
