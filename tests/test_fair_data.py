"""Fair comparisons: number variants of test problems are contaminated, the real-data arm passes the
same gates, number variants of one seed survive deduplication, and derived benchmark splits."""

from __future__ import annotations

import json

import pytest
from conftest import needs_data

from mathsynth.config import SynthConfig
from mathsynth.data import load_benchmark
from mathsynth.synth.decontam import Decontaminator
from mathsynth.synth.dedup import Deduper


@needs_data
def test_symbolic_variants_of_test_questions_are_all_rejected_with_their_test_id(tmp_path):
    # the probe: 30 GSM8K *test* questions as seeds, number variants by the symbolic teacher
    from mathsynth.synth.runner import run_synth

    stats = run_synth(SynthConfig(seeds="gsm8k:test", split="test", teacher="symbolic", per_seed=2, limit=30,
                                  decontam_embeddings=False, out=str(tmp_path)), show_progress=False)
    assert stats["accepted"] == 0
    rejects = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    contaminated = [r for r in rejects if r["stage"] == "decontamination"]
    assert len(contaminated) >= 9
    for r in contaminated:
        assert r["test_id"] == r["seed_id"], r     # the very test problem the variant came from


@needs_data
def test_house_flipping_variant_is_caught_and_clean_questions_pass():
    dc = Decontaminator(["gsm8k"], use_embeddings=False)
    house = next(p for p in load_benchmark("gsm8k:test") if "flipping a house" in p.question)
    variant = house.question.replace("50,000", "70,000").replace("80,000", "90,000")
    assert variant != house.question
    m = dc.check(variant)
    assert m is not None and m.kind == "number-variant" and m.test_id == house.id
    clean = load_benchmark("gsm8k:train", limit=300)
    flagged = [c for c, m in zip(clean, dc.check_many([p.question for p in clean]), strict=True) if m]
    assert len(flagged) <= 3, [f.question for f in flagged]   # train questions are not test variants


def test_dedup_keeps_number_variants_and_removes_same_number_rewordings():
    q = ("Maria buys 4 boxes of pencils for her art class at the school supply store, with 12 pencils in "
         "each box. After the first week of class she gives 9 pencils to her friends and keeps the rest in "
         "her desk drawer. How many pencils does Maria have left?")
    variants = [q.replace("4 boxes", f"{k} boxes") for k in (5, 6, 7)]
    reworded = q.replace("gives", "hands")
    d = Deduper()
    assert d.add_many(["q", "v5", "v6", "v7", "r"], [q, *variants, reworded]) == [None, None, None, None, "near:q"]
    old = Deduper(keep_number_variants=False)
    assert old.add_many(["q", "v5"], [q, variants[0]]) == [None, "near:q"]


@needs_data
def test_real_arm_is_filtered_and_decontaminated_like_the_synthetic_arm(tmp_path):
    from mathsynth.scale.real import prepare_real

    test = load_benchmark("gsm8k:test", limit=5)
    train = load_benchmark("gsm8k:train", limit=40)
    rows = [{"question": p.question, "answer": p.solution, "id": f"copy-{i}"} for i, p in enumerate(test)]
    rows += [{"question": p.question.replace("5", "7"), "answer": p.solution, "id": f"variant-{i}"}
             for i, p in enumerate(test) if "5" in p.question]
    rows += [{"question": p.question, "answer": p.solution, "id": f"train-{i}"} for i, p in enumerate(train)]
    src = tmp_path / "real.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = prepare_real(str(src), tmp_path / "out", prompt="vicuna", max_steps=3, decontam_benchmarks=["gsm8k"],
                         embeddings=False)
    rejects = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "rejects.jsonl").read_text().splitlines())}
    kept = [json.loads(x)["id"] for x in (tmp_path / "out" / "sft.jsonl").read_text().splitlines()]
    easy = {r["id"] for r, p in zip(rows, load_benchmark(str(src)), strict=True) if 1 <= p.meta.get("steps", 0) <= 3}
    assert set(kept) | set(rejects) == easy and stats["kept"] == len(kept)
    for rid in easy:
        if rid.startswith(("copy", "variant")):
            assert rid in rejects and rejects[rid]["test_id"].startswith("gsm8k/test/"), rid
    assert all(k.startswith("train") for k in kept) and kept


@needs_data
def test_asdiv_grade_subsets_partition_the_test_set():
    full = load_benchmark("asdiv")
    low, high = load_benchmark("asdiv:grade1-3"), load_benchmark("asdiv:grade4-6")
    assert len(low) == 1318 and len(high) == 841 and len(low) + len(high) == len(full)
    assert not {p.id for p in low} & {p.id for p in high}
    assert all(1 <= p.meta["grade"] <= 3 for p in low)
    assert [p.id for p in load_benchmark("asdiv:grade1-3", limit=5)] == [p.id for p in low[:5]]


@needs_data
def test_seed_max_steps_keeps_only_easy_seeds(tmp_path):
    from mathsynth.synth.runner import run_synth

    run_synth(SynthConfig(seeds="gsm8k:train", teacher="symbolic", limit=20, seed_max_steps=2,
                          decontam_embeddings=False, out=str(tmp_path)), show_progress=False)
    gen = [json.loads(x) for x in (tmp_path / "generated.jsonl").read_text().splitlines()]
    steps = {p.id: p.meta["steps"] for p in load_benchmark("gsm8k:train")}
    assert len({g["seed_id"] for g in gen}) == 20
    assert all(1 <= steps[g["seed_id"]] <= 2 for g in gen)


@pytest.mark.parametrize("text", ["What is 12 + 30?", "No numbers at all in this one"])
def test_number_variant_check_needs_a_majority_of_masked_grams(text):
    dc = Decontaminator(["demo"], use_embeddings=False)
    assert dc.check_ngrams([text]) == [None]
