import json
from pathlib import Path

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


# Every flag spelling the CLI had before its options were derived from the configs (and the field it sets).
OLD_FLAGS = {
    "eval": {"--model": "model", "--benchmark": "benchmark", "--out": "out", "--split": "split", "--limit": "limit",
             "--n": "n", "--temperature": "temperature", "--top-p": "top_p", "--max-tokens": "max_tokens",
             "--greedy-first": "greedy_first", "--no-greedy-first": "greedy_first", "--prompt": "prompt",
             "--seed": "seed", "--batch-size": "batch_size", "--dtype": "dtype", "--recipe": "recipe",
             "--base-url": "base_url", "--max-concurrency": "max_concurrency", "--rpm": "rpm", "--tpm": "tpm",
             "--request-timeout": "request_timeout", "--max-retries": "max_retries", "--max-cost": "max_cost",
             "--cache": "cache", "--no-cache": "cache", "--cache-path": "cache_path",
             "--tensor-parallel-size": "tensor_parallel_size", "--data-parallel-size": "data_parallel_size",
             "--n-ctx": "n_ctx", "--truncated-fallback": "truncated_fallback",
             "--no-truncated-fallback": "truncated_fallback"},
    "synth": {"--seeds": "seeds", "--teacher": "teacher", "--out": "out", "--mode": "mode", "--style": "style",
              "--prompt-file": "prompt_file", "--per-seed": "per_seed", "--answers": "answers", "--limit": "limit",
              "--temperature": "temperature", "--max-tokens": "max_tokens", "--min-agreement": "min_agreement",
              "--embeddings": "decontam_embeddings", "--no-embeddings": "decontam_embeddings", "--seed": "seed",
              "--recipe": "recipe", "--max-concurrency": "max_concurrency", "--max-cost": "max_cost",
              "--cache": "cache", "--no-cache": "cache", "--cache-path": "cache_path"},
    "train": {"--data": "data", "--out": "out", "--model": "model", "--limit": "limit", "--recipe": "recipe",
              "--prompt": "prompt", "--epochs": "epochs", "--max-steps": "max_steps",
              "--learning-rate": "learning_rate", "--batch-size": "batch_size", "--grad-accum": "grad_accum",
              "--max-length": "max_length", "--over-length": "over_length", "--packing": "packing",
              "--no-packing": "packing", "--lora-r": "lora_r", "--merge": "merge", "--no-merge": "merge",
              "--dtype": "dtype", "--save-steps": "save_steps", "--seed": "seed", "--resume": "resume",
              "--no-resume": "resume", "--restart": "restart", "--no-restart": "restart"},
    "run": {"--out": "out", "--model": "model"},
    "scale": {"--out": "out", "--model": "model"},
}


def _click_command(name):
    import typer

    from mathsynth.cli import app

    return typer.main.get_command(app).commands[name]


@pytest.mark.parametrize("command", list(OLD_FLAGS))
def test_old_flag_spellings_still_work(command):
    params = {o: p.name for p in _click_command(command).params for o in [*p.opts, *getattr(p, "secondary_opts", [])]}
    assert {flag: params.get(flag) for flag in OLD_FLAGS[command]} == OLD_FLAGS[command]


def _cli_config(monkeypatch, command, args):
    """The config a stage command would run with (the stage itself is replaced by a catcher)."""
    import importlib

    from typer.testing import CliRunner

    from mathsynth.cli import app

    seen = {}
    module, fn = {"eval": ("mathsynth.evaluate.runner", "run_eval"), "synth": ("mathsynth.synth.runner", "run_synth"),
                  "train": ("mathsynth.train.trainer", "run_train")}[command]

    def catch(cfg, **kw):
        seen["cfg"] = cfg
        raise SystemExit(0)

    monkeypatch.setattr(importlib.import_module(module), fn, catch)
    res = CliRunner().invoke(app, [command, *args])
    assert "cfg" in seen, res.output
    return seen["cfg"]


def test_cli_flags_recipe_and_set_reach_the_config(tmp_path, monkeypatch):
    r = tmp_path / "r.yaml"
    r.write_text("eval:\n  n: 4\n  temperature: 0.2\ntrain:\n  epochs: 1\n"
                 "synth:\n  - {name: a, limit: 3}\n  - {name: b, limit: 5, teacher: fake}\n")
    cfg = _cli_config(monkeypatch, "eval", ["--recipe", str(r), "--out", str(tmp_path / "o"), "--n", "8",
                                            "--set", "eval.max_tokens=9", "--set", "rules=[boxed]",
                                            "--no-cache", "--rules", "last-number,boxed"])
    assert (cfg.n, cfg.temperature, cfg.max_tokens, cfg.cache, cfg.rules) == (8, 0.2, 9, False, ["last-number", "boxed"])
    assert cfg.out == str(tmp_path / "o")
    cfg = _cli_config(monkeypatch, "synth", ["--recipe", str(r), "--job", "b", "--out", "x", "--no-embeddings"])
    assert (cfg.limit, cfg.teacher, cfg.decontam_embeddings) == (5, "fake", False)
    cfg = _cli_config(monkeypatch, "train", ["--recipe", str(r), "--data", "d.jsonl", "--out", "m",
                                             "--set", "lora_targets=q_proj", "--no-group-by-length"])
    assert (cfg.epochs, cfg.lora_targets, cfg.group_by_length) == (1.0, "q_proj", False)


def test_recipe_errors_name_file_line_and_field(tmp_path):
    from mathsynth.recipe import StudyConfig, read_recipe

    r = tmp_path / "r.yaml"
    r.write_text("out: x\neval:\n  n: 4\nsynth:\n  - name: a\n    limt: 3\ntrain:\n  epochs: -1\n")
    with pytest.raises(MathsynthError) as ei:
        read_recipe(r, StudyConfig)
    msg = str(ei.value)
    assert f"{r}:6: synth[0]: field 'limt': Extra inputs are not permitted" in msg
    assert f"{r}:8: train: field 'epochs': Input should be greater than 0" in msg
    r.write_text("out: x\neval:\n  model: m\nsynth: [{name: a}]\n")
    with pytest.raises(MathsynthError, match="'eval' must not set model"):
        read_recipe(r, StudyConfig)
    # --set on top of a study recipe, a job addressed by name
    r.write_text("out: x\nsynth: [{name: a, limit: 3}]\n")
    cfg = read_recipe(r, StudyConfig, sets=["synth.a.limit=7", "eval.n=2", "sizes=[1, 2]"])
    assert (cfg.synth[0].limit, cfg.eval.n, cfg.sizes) == (7, 2, [1, 2])
    with pytest.raises(MathsynthError, match="no item 'zz'"):
        read_recipe(r, StudyConfig, sets=["synth.zz.limit=7"])


@pytest.mark.parametrize("path", sorted(p.name for p in (Path(__file__).parents[1] / "recipes").glob("*.yaml")))
def test_shipped_recipes_are_valid(path):
    from mathsynth.recipe import Recipe, StudyConfig, read_recipe

    file = Path(__file__).parents[1] / "recipes" / path
    read_recipe(file, StudyConfig if "out:" in file.read_text() else Recipe)
