"""Training data: specs, nested selection, mixing, bad input, tokenization against the eval prompt."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from mathsynth.errors import InputError, MathsynthError
from mathsynth.train.data import Source, load_training_data, parse_spec, read_examples, select
from tests.conftest import REPO, needs_data


def _write(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _ex(i, tag="x"):
    return {"id": f"{tag}{i}", "messages": [{"role": "user", "content": f"What is {i} + 1?"},
                                            {"role": "assistant", "content": f"{i} + 1 = {i + 1}.\nThe answer is: {i + 1}."}]}


def test_parse_spec_forms():
    assert parse_spec("a.jsonl") == [Source("a.jsonl")]
    assert parse_spec("a.jsonl:2,b.jsonl:1") == [Source("a.jsonl", 2.0), Source("b.jsonl", 1.0)]
    assert parse_spec("gsm8k:train") == [Source("gsm8k:train")]
    a, b, c = parse_spec("a.jsonl,b.jsonl,math:train:0.5")
    assert (a.ratio, b.ratio, c.ratio) == (0.25, 0.25, 0.5)
    for bad in ("", "a.jsonl:0", "a.jsonl,b.jsonl:1.5", "a.jsonl:-1"):
        with pytest.raises(MathsynthError):
            parse_spec(bad)


def test_selection_is_nested_deterministic_and_independent_of_file_order():
    pool = [_ex(i) | {"source": "f"} for i in range(200)]
    srcs = [Source("f")]
    sizes = [10, 25, 50, 100]
    chosen = [select(srcs, [pool], n) for n in sizes]
    for small, big in zip(chosen, chosen[1:], strict=False):
        assert [e["id"] for e in small] == [e["id"] for e in big[:len(small)]]
    shuffled = pool[:]
    random.Random(1).shuffle(shuffled)
    assert [e["id"] for e in select(srcs, [shuffled], 50)] == [e["id"] for e in chosen[2]]
    # a hash order, not the file's: the first 10 are not simply the first 10 lines
    assert [e["id"] for e in chosen[0]] != [f"x{i}" for i in range(10)]


def test_mixing_keeps_ratio_at_every_size_and_stays_nested():
    a = [_ex(i, "a") | {"source": "a"} for i in range(300)]
    b = [_ex(i, "b") | {"source": "b"} for i in range(300)]
    srcs = [Source("a", 0.75), Source("b", 0.25)]
    prev: set[str] = set()
    for n in (8, 40, 100, 200):
        got = select(srcs, [a, b], n)
        share = sum(e["source"] == "a" for e in got) / n
        assert abs(share - 0.75) <= 1 / n + 1e-9
        ids = {e["source"] + e["id"] for e in got}
        assert prev <= ids
        prev = ids
    # no limit: stop where the first source (a, at 3 parts) runs out so the 3:1 ratio holds
    allmix = select(srcs, [a, b], None)
    assert (sum(e["source"] == "a" for e in allmix), sum(e["source"] == "b" for e in allmix)) == (300, 100)


def test_load_training_data_files_and_counts(tmp_path):
    f1 = _write(tmp_path / "a.jsonl", [_ex(i, "a") for i in range(30)])
    f2 = _write(tmp_path / "b.jsonl", [_ex(i, "b") for i in range(30)])
    ex, counts = load_training_data(f"{f1},{f2}:0.5", limit=20)
    assert len(ex) == 20 and counts[str(f1)]["selected"] == 10 and counts[str(f2)]["selected"] == 10
    with pytest.raises(MathsynthError, match="more examples than the data has"):
        load_training_data(str(f1), limit=31)


@pytest.mark.parametrize("lines, expect", [
    (["{not json"], r"bad\.jsonl:1"),
    ([_ex(1), {"id": "q"}], r"bad\.jsonl:2: field 'messages' is missing"),
    ([{"messages": [{"role": "user", "content": "hi"}]}], r"bad\.jsonl:1: field 'messages' has no final assistant"),
    ([{"messages": [{"role": "bot", "content": "hi"}]}], r"bad\.jsonl:1: field 'messages' item 0"),
    ([{"messages": "hello"}], r"bad\.jsonl:1: field 'messages' must be a non-empty list"),
    ([{"messages": [{"role": "assistant", "content": "x"}]}], r"bad\.jsonl:1: field 'messages' has no user turn"),
])
def test_bad_training_records_name_file_line_and_field(tmp_path, lines, expect):
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(InputError, match=expect):
        read_examples(str(path))


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(MathsynthError, match="has no examples"):
        load_training_data(str(empty))
    with pytest.raises(InputError, match="not found"):
        load_training_data(str(tmp_path / "nope.jsonl"))
    # pooled: an empty part is counted, not fatal (e.g. an LLM-teacher job that kept nothing)
    full = _write(tmp_path / "full.jsonl", [_ex(i) for i in range(5)])
    ex, counts = load_training_data(f"{full},{empty}")
    assert len(ex) == 5 and counts[str(empty)] == {"available": 0, "selected": 0, "ratio": None,
                                                   "dropped_empty_answer": 0, "empty_answer_lines": []}
    with pytest.raises(MathsynthError, match="mix ratio"):
        load_training_data(f"{full}:1,{empty}:1")


@needs_data
def test_reference_solutions_as_training_data():
    ex, _ = load_training_data("gsm8k:train", limit=5)
    for e in ex:
        answer = e["messages"][-1]["content"]
        assert "<<" not in answer and "####" not in answer
        assert answer.splitlines()[-1].startswith("The answer is: ")


def test_unknown_recipe_key_is_a_clear_error(tmp_path):
    from mathsynth.config import TrainConfig
    from mathsynth.recipe import resolve

    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  learning_rat: 1.0e-5\n")
    with pytest.raises(MathsynthError, match="learning_rat"):
        resolve(TrainConfig, "train", recipe, {"data": "x.jsonl", "out": "m"})


def test_cli_train_bad_data_is_one_line(tmp_path):
    path = _write(tmp_path / "d.jsonl", [_ex(1), {"messages": [{"role": "user", "content": "q"}]}])
    r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "train", "--data", str(path), "--out",
                        str(tmp_path / "m")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2
    assert "d.jsonl:2: field 'messages' has no final assistant turn" in r.stderr
    assert "Traceback" not in r.stderr


def test_accelerate_configs_are_valid():
    from accelerate.commands.config.config_args import load_config_from_file

    names = {p.stem: p for p in (REPO / "recipes" / "accelerate").glob("*.yaml")}
    assert set(names) == {"ddp", "fsdp", "zero2", "zero3"}
    kinds = {name: load_config_from_file(str(p)).distributed_type for name, p in names.items()}
    assert str(kinds["zero3"]).endswith("DEEPSPEED") and str(kinds["fsdp"]).endswith("FSDP")
    assert str(kinds["ddp"]).endswith("MULTI_GPU")


def test_line_numbers_count_blank_lines_and_empty_answers_are_dropped_and_counted(tmp_path):
    path = tmp_path / "d.jsonl"
    good, no_answer = json.dumps(_ex(1)), {"messages": [{"role": "user", "content": "q"}]}
    empty = {"id": "e", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " \n "}]}
    path.write_text(f"{good}\n\n\n{json.dumps(empty)}\n\n{json.dumps(no_answer)}\n")
    with pytest.raises(InputError, match=r"d\.jsonl:6: field 'messages' has no final assistant turn"):
        read_examples(str(path))
    path.write_text(f"{good}\n\n{json.dumps(empty)}\n")
    ex, counts = load_training_data(str(path))
    assert [e["id"] for e in ex] == [_ex(1)["id"]]
    assert counts[str(path)]["dropped_empty_answer"] == 1
    assert counts[str(path)]["empty_answer_lines"] == [f"{path}:3"]


@pytest.mark.parametrize("spec, says", [("syn.jsonl:abc", "'abc' is not a mixing ratio"),
                                        ("gsm8k:train:x", "'x' is not a mixing ratio"),
                                        ("syn.jsonl:0", "must be a finite number > 0"),
                                        ("syn.jsonl:inf", "must be a finite number > 0")])
def test_bad_mixing_ratio_is_named(spec, says):
    with pytest.raises(MathsynthError, match=says):
        parse_spec(spec)


def test_selection_does_not_depend_on_where_the_files_live(tmp_path):
    recs_a, recs_b = [_ex(i, "a") for i in range(40)], [_ex(i, "b") for i in range(40)]
    picks = []
    for folder in ("one", "elsewhere/two"):
        (tmp_path / folder).mkdir(parents=True)
        fa = _write(tmp_path / folder / "a.jsonl", recs_a)
        fb = _write(tmp_path / folder / "b.jsonl", recs_b)
        for spec in (f"{fa},{fb}", f"{fa}:3,{fb}:1"):
            ex, _ = load_training_data(spec, limit=12)
            picks.append([(e["id"], e["messages"]) for e in ex])
    assert picks[0] == picks[2] and picks[1] == picks[3]  # a copy in another folder: the same examples
    assert picks[0] != picks[1]
