import json

import pytest

from mathsynth.config import EvalConfig
from mathsynth.errors import InputError, MathsynthError
from mathsynth.io import JsonlAppender, atomic_write_json, read_jsonl, repair_truncated_tail
from mathsynth.recipe import load_recipe, resolve


def test_read_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2\n{"a": 3}\n')
    with pytest.raises(InputError) as ei:
        list(read_jsonl(p))
    assert str(ei.value).startswith(f"{p}:3: not valid JSON")


def test_read_jsonl_rejects_non_objects(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('[1, 2]\n')
    with pytest.raises(InputError, match=r"x.jsonl:1: expected a JSON object"):
        list(read_jsonl(p))


def test_truncated_tail_tolerated_only_when_asked(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n{"a": ')
    assert [r["a"] for r in read_jsonl(p, tolerate_truncated_tail=True)] == [1]
    with pytest.raises(InputError):
        list(read_jsonl(p))
    # a malformed line in the middle is never tolerated
    p.write_text('{"a": \n{"a": 1}\n')
    with pytest.raises(InputError, match=":1:"):
        list(read_jsonl(p, tolerate_truncated_tail=True))


def test_appender_repairs_tail_before_appending(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n{"a": 2, "b"')
    with JsonlAppender(p) as out:
        out.write({"a": 3})
    assert [r["a"] for r in read_jsonl(p)] == [1, 3]
    assert repair_truncated_tail(p) is False


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_recipe_and_overrides(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("eval:\n  n: 4\n  benchmark: demo\n  out: runs/a\n")
    cfg = resolve(EvalConfig, "eval", r, {"n": 8, "limit": None})
    assert (cfg.n, cfg.benchmark, cfg.out, cfg.limit) == (8, "demo", "runs/a", None)
    assert load_recipe(r)["eval"]["n"] == 4


def test_unknown_recipe_key_is_an_error(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("eval:\n  nn: 4\n  out: x\n")
    with pytest.raises(MathsynthError, match=r"field 'nn'"):
        resolve(EvalConfig, "eval", r, {})


def test_bad_yaml_names_line(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("eval:\n  n: [1, 2\n")
    with pytest.raises(InputError, match=r"r.yaml:\d+: not valid YAML"):
        load_recipe(r)


def test_invalid_values(tmp_path):
    with pytest.raises(MathsynthError, match="field 'n'"):
        resolve(EvalConfig, "eval", None, {"n": 0, "out": "x"})
