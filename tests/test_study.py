"""`mathsynth run` / `mathsynth scale`: stage skipping and invalidation, recipe errors, and a real
tiny scaling study (embedded model, symbolic synthesis, real training and evaluation)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mathsynth.errors import MathsynthError
from mathsynth.recipe import StudyConfig, read_recipe
from mathsynth.scale.pipeline import Pipeline
from tests.conftest import REPO, needs_data


def test_pipeline_skips_done_redoes_changed_and_everything_downstream(tmp_path):
    calls: list[str] = []

    def run(settings_a, settings_b):
        p = Pipeline(tmp_path)
        a_out, b_out = tmp_path / "a", tmp_path / "b"

        def make(name, out):
            def fn():
                calls.append(name)
                out.mkdir(exist_ok=True)
                (out / "f").write_text(name)
                return name
            return fn

        p.stage("a", settings_a, a_out, make("a", a_out))
        p.stage("b", settings_b, b_out, make("b", b_out), upstream=["a"])

    run({"x": 1}, {"y": 1})
    assert calls == ["a", "b"]
    run({"x": 1}, {"y": 1})
    assert calls == ["a", "b"]                      # all done: nothing reruns
    run({"x": 1}, {"y": 2})
    assert calls == ["a", "b", "b"]                 # only the changed stage
    run({"x": 2}, {"y": 2})
    assert calls == ["a", "b", "b", "a", "b"]       # an upstream change invalidates what follows
    state = json.loads((tmp_path / "stages.json").read_text())
    state["b"]["status"] = "running"                # interrupted: rerun without deleting its files
    (tmp_path / "stages.json").write_text(json.dumps(state))
    (tmp_path / "b" / "partial").write_text("kept")
    run({"x": 2}, {"y": 2})
    assert calls[-1] == "b" and (tmp_path / "b" / "partial").exists()


@pytest.mark.parametrize("values, match", [
    ({"eval": {"model": "x"}}, "'eval' must not set model"),
    ({"eval": {"nn": 3}}, "field 'nn'"),
    ({"synth": []}, "at least one job"),
    ({"synth": [{"teacher": "symbolic"}]}, "unique 'name'"),
    ({"train": {"lr": 1}}, "field 'lr'"),
])
def test_bad_study_recipes_are_clear_errors(tmp_path, values, match):
    from mathsynth.scale.study import Study

    base = {"out": str(tmp_path), "synth": [{"name": "s", "teacher": "symbolic"}]}
    with pytest.raises(MathsynthError, match=match):
        Study(read_recipe(None, StudyConfig, {**base, **values}))


def test_cli_study_recipe_with_unknown_key(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("out: x\nsizez: [1, 2]\nsynth: [{name: s}]\n")
    r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "scale", str(recipe)], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2 and "field 'sizez'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@needs_data
def test_tiny_real_scaling_study_and_rerun(tmp_path):
    from mathsynth.scale.study import run_study

    values = {
        "out": str(tmp_path / "study"), "benchmarks": ["demo"],
        "eval": {"limit": 3, "n": 2, "max_tokens": 16, "cache": False},
        "synth": [{"name": "sym", "seeds": "gsm8k:train", "teacher": "symbolic", "limit": 40,
                   "decontam_embeddings": False}],
        "sizes": [4, 8], "real": "gsm8k:train", "real_sizes": [4], "real_max_steps": 3, "real_embeddings": False,
        "real_decontam_benchmarks": ["gsm8k"], "sampled": {"limit": 2, "n": 3}, "base_formats": ["chat"],
        "repeat_sizes": [4], "repeat_seeds": [1], "primary_outcome": "demo/synthetic/pass@1",
        "train": {"epochs": 1, "batch_size": 4, "max_length": 384, "save_steps": 1000},
    }
    res = run_study(StudyConfig(**values), scale=True, show_progress=False)
    root = tmp_path / "study"
    assert set(res["stages"].values()) == {"done"}
    summary = json.loads((root / "scale.json").read_text())
    kinds = sorted((p["data"], p["size"], p["seed"], p["prompt"] or "") for p in summary["points"])
    assert kinds == [("base", 0, 0, ""), ("base", 0, 0, "chat"), ("real", 4, 0, ""), ("synthetic", 4, 0, ""),
                     ("synthetic", 4, 1, ""), ("synthetic", 8, 0, "")]
    for p in summary["points"]:
        assert 0 <= p["pass@1"] <= 1 and p["pass@1"] <= p["pass@N"] + 1e-9 or p.get("sampled_problems", 0) < 3
        assert (root / p["eval_dir"] / "samples.jsonl").exists()
        assert abs(sum(p["errors"].values()) - 1) < 1e-9
        assert p["pass@1_source"] == "greedy"
        if p["prompt"] == "chat":  # the base's other formats are evaluated greedy only
            assert "sampled_problems" not in p and not (root / "base" / "demo~chat@sampled").exists()
        else:
            assert p["sampled_problems"] == 2 and p["n_samples"] == 3
        lo, hi = p["ci95"]["pass@1"]
        assert lo <= p["pass@1"] <= hi
    # the real arm passed the seed filter and decontamination; its students train on that file
    real = json.loads((root / "real" / "stats.json").read_text())
    assert real["kept"] > 0 and real["rejected_steps"] > 0 and real["max_steps"] == 3
    kinds = {(c["kind"], c["a"], c["b"], c["metric"]) for c in summary["comparisons"]}
    assert ("student vs base", "base~chat", "synthetic-8", "pass@1") in kinds
    assert ("real vs synthetic at equal size", "synthetic-4", "real-4", "pass_ratio@N") in kinds
    assert ("training seed vs training seed", "synthetic-4", "synthetic-4-seed1", "pass@1") in kinds
    for c in summary["comparisons"]:
        assert c["ci95"][0] <= c["diff"] <= c["ci95"][1] and 0 <= c["p_value"] <= 1
    fit = summary["fits"]["demo/synthetic/pass@1"]
    assert fit["slope_ci95"][0] <= fit["slope"] <= fit["slope_ci95"][1] and fit["n_problems"] == 3
    result = json.loads((root / "result.json").read_text())
    assert result["estimate"] == round(100 * fit["slope_per_doubling"], 3) and result["sizes"] == [4, 8]
    assert result["seeds"] == [0, 1] and result["test_problems"] == 3
    # nested data: the size-4 student saw a subset of the size-8 student's examples
    m4 = json.loads((root / "synthetic-4" / "model" / "train_config.json").read_text())
    m8 = json.loads((root / "synthetic-8" / "model" / "train_config.json").read_text())
    assert m4["encode"]["kept"] == 4 and m8["encode"]["kept"] == 8
    assert (root / "report" / "report.html").exists()
    browser = (root / "report" / "browser.html").read_text()
    assert '"syn/gsm8k/train/' in browser  # the study's synth job is in the sample browser beside the evals
    weights = root / "synthetic-8" / "model" / "model.safetensors"
    stamp = weights.stat().st_mtime
    # a changed eval setting redoes the evaluations only; the students are kept
    values["eval"]["n"] = 3
    run_study(StudyConfig(**values), scale=True, show_progress=False)
    assert weights.stat().st_mtime == stamp
    summary = json.loads((root / "scale.json").read_text())
    samples = [json.loads(x) for x in (root / "synthetic-8" / "eval" / "demo" / "samples.jsonl").read_text().splitlines()]
    assert all(len(s["completions"]) == 3 for s in samples)
    # A new machine: the study's committed results (docs/results/asdiv-cpu/collect.py) are put back
    # (restore.py) and the study resumes without retraining or re-evaluating a finished student.
    import importlib.util
    import shutil

    def script(name):
        spec = importlib.util.spec_from_file_location(name, REPO / "docs" / "results" / "asdiv-cpu" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    before = json.loads((root / "scale.json").read_text())
    script("collect").main(root, tmp_path / "committed")
    assert not list((tmp_path / "committed").rglob("*.safetensors"))
    shutil.rmtree(root)
    script("restore").main(root, tmp_path / "committed")
    assert json.loads((root / "stages.json").read_text()).keys() >= {"train:synthetic-8", "eval:synthetic-8:demo"}
    with pytest.raises(SystemExit, match="restore only into a new study folder"):
        script("restore").main(root, tmp_path / "committed")
    run_study(StudyConfig(**values), scale=True, show_progress=False)
    assert not weights.exists()  # its training was restored as done: not run again
    after = json.loads((root / "scale.json").read_text())
    assert after["points"] == before["points"] and after["fits"] == before["fits"]
