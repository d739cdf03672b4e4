"""``--executor ray``: eval and synth on a real local Ray cluster (started here, 2 CPUs, shut down at
the end) write the same records as the local run; killed workers and drivers lose nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mathsynth.config import EvalConfig, SynthConfig
from mathsynth.errors import MathsynthError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray cluster for the module: starting one takes ~20 s on two busy cores."""
    ray = pytest.importorskip("ray")  # the tests above it run without Ray (mathsynth[ray])
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20,
             log_to_driver=False, _temp_dir=str(tmp_path_factory.mktemp("ray")))
    try:
        yield ray
    finally:
        ray.shutdown()


def records(out: Path, name: str = "samples.jsonl") -> list[dict]:
    rows = [json.loads(line) for line in (out / name).read_text().splitlines()]
    return sorted(rows, key=lambda r: r["id"])


def same_records(a: Path, b: Path, name: str = "samples.jsonl") -> None:
    ra, rb = records(a, name), records(b, name)
    assert [r["id"] for r in ra] == [r["id"] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        assert x == y, x["id"]


def run_eval(**kw):
    from mathsynth.evaluate.runner import run_eval as run

    return run(EvalConfig(**{"grade_workers": 1, "cache": False, **kw}), show_progress=False)


# -- without a cluster ---------------------------------------------------------------------------

def test_without_ray_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MathsynthError, match=r"^--executor ray needs Ray, which is not installed: "
                                             r"pip install 'mathsynth\[ray\]'$"):
        run_eval(model="fake", benchmark="demo", limit=2, out=str(tmp_path), executor="ray")


def test_cli_without_ray_exits_with_the_hint(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from mathsynth.cli import main; "
            f"sys.argv = ['mathsynth', 'eval', '--model', 'fake', '--benchmark', 'demo', '--limit', '2', "
            f"'--executor', 'ray', '--out', {str(tmp_path)!r}]; main()")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "pip install 'mathsynth[ray]'" in p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr


def test_local_executor_never_imports_ray(tmp_path):
    code = ("import sys; from mathsynth.config import EvalConfig; from mathsynth.evaluate.runner import run_eval; "
            f"run_eval(EvalConfig(model='fake', benchmark='demo', limit=3, out={str(tmp_path)!r}, grade_workers=1), "
            "show_progress=False); print('ray' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


def test_recipe_executor_mapping(tmp_path):
    from mathsynth.recipe import read_recipe, resolve

    path = tmp_path / "r.yaml"
    path.write_text("eval:\n  executor: {kind: ray, address: auto, workers: 3, gpus_per_worker: 1}\n")
    cfg = resolve(EvalConfig, "eval", path, {"out": "x", "workers": 4})
    assert (cfg.executor, cfg.ray_address, cfg.workers, cfg.gpus_per_worker) == ("ray", "auto", 4, 1.0)
    path.write_text("eval:\n  executor: {kind: ray, gpus: 1}\n")
    with pytest.raises(MathsynthError, match="executor: unknown key"):
        read_recipe(path)
    path.write_text("synth:\n  executor: {kind: slurm}\n")
    with pytest.raises(MathsynthError, match="executor"):
        read_recipe(path)


# -- on a local cluster (fake backend: the logic) -------------------------------------------------

def test_fake_eval_on_ray_matches_local_and_resumes(cluster, tmp_path):
    kw = dict(model="fake", benchmark="demo", n=3, batch_size=6, greedy_first=True)
    run_eval(**kw, out=str(tmp_path / "local"))
    m = run_eval(**kw, out=str(tmp_path / "ray"), executor="ray", workers=2)
    same_records(tmp_path / "local", tmp_path / "ray")
    backend = m["run"]["backend"]
    assert backend["ray_shards"] > 2 and backend["ray_shards_failed"] == 0
    cfg = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert cfg["backend"]["executor"] == "ray" and cfg["backend"]["workers"] == 2
    # The executor is not a record setting: a local rerun into the Ray folder resumes it as done.
    lines = (tmp_path / "ray" / "samples.jsonl").read_text().splitlines()
    (tmp_path / "ray" / "samples.jsonl").write_text("\n".join(lines[:5]) + "\n")
    run_eval(**kw, out=str(tmp_path / "ray"))
    same_records(tmp_path / "local", tmp_path / "ray")


# -- on a local cluster, the real embedded model ----------------------------------------------------

# Two chunks of two problems (4 batches of 1 x 2 samples per chunk): two shards, one per worker.
REAL = dict(model="smollm2-135m", benchmark="demo", limit=4, n=2, batch_size=1, max_tokens=16, temperature=0.7)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The local run every Ray run of the real model must reproduce."""
    out = tmp_path_factory.mktemp("local-ref")
    run_eval(**REAL, out=str(out))
    return out


@pytest.mark.slow
def test_embedded_eval_on_ray_matches_local(cluster, local_reference, tmp_path):
    m = run_eval(**REAL, out=str(tmp_path), executor="ray", workers=2)
    same_records(local_reference, tmp_path)
    assert m["run"]["backend"]["ray_shards"] == 2  # two chunks: both workers had work


@pytest.mark.slow
def test_worker_killed_mid_shard_is_survived(cluster, local_reference, tmp_path):
    from mathsynth.backends.models import load_generator
    from mathsynth.evaluate.runner import run_eval as run

    gen = load_generator("smollm2-135m", cache=False, batch_size=REAL["batch_size"], executor="ray", workers=2)
    killed = []

    def kill_one_busy_worker():
        deadline = time.time() + 300
        while time.time() < deadline and not gen.busy_pids():
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the shard (each takes seconds here)
        pids = gen.busy_pids()
        if pids:
            killed.append(pids[0])
            os.kill(pids[0], signal.SIGKILL)

    t = threading.Thread(target=kill_one_busy_worker, daemon=True)
    t.start()
    try:
        m = run(EvalConfig(**REAL, out=str(tmp_path), grade_workers=1, cache=False), generator=gen,
                show_progress=False)
    finally:
        t.join(timeout=10)
        after = set(gen.pids())
        gen.close()
    assert killed and killed[0] not in after  # that process is gone and another took its place
    assert m["run"]["problems_with_failed_samples"] == 0
    same_records(local_reference, tmp_path)


# -- synthesis ----------------------------------------------------------------------------------------

def run_synth(**kw):
    from mathsynth.synth.runner import run_synth as run

    return run(SynthConfig(**{"seeds": "demo", "decontam_embeddings": False, "cache": False, **kw}),
               show_progress=False)


def test_symbolic_synth_on_ray_matches_local(cluster, tmp_path):
    kw = dict(teacher="symbolic", per_seed=3, batch_size=8)
    run_synth(**kw, out=str(tmp_path / "local"))
    stats = run_synth(**kw, out=str(tmp_path / "ray"), executor="ray", workers=2)
    same_records(tmp_path / "local", tmp_path / "ray", "generated.jsonl")
    assert stats["backend"]["ray_tasks"] >= 4
    for name in ("questions.jsonl", "sft.jsonl"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "ray" / name).read_text()


def test_fake_teacher_synth_on_ray_matches_local(cluster, tmp_path):
    kw = dict(teacher="fake", per_seed=2, answers=3, batch_size=4)
    run_synth(**kw, out=str(tmp_path / "local"))
    run_synth(**kw, out=str(tmp_path / "ray"), executor="ray", workers=2)
    same_records(tmp_path / "local", tmp_path / "ray", "generated.jsonl")


@pytest.mark.slow
def test_llm_teacher_synth_on_ray_matches_local(cluster, tmp_path):
    kw = dict(teacher="smollm2-135m", limit=2, answers=2, max_tokens=32, batch_size=1)
    run_synth(**kw, out=str(tmp_path / "local"))
    stats = run_synth(**kw, out=str(tmp_path / "ray"), executor="ray", workers=2)
    same_records(tmp_path / "local", tmp_path / "ray", "generated.jsonl")
    assert stats["backend"]["ray_shards"] >= 2


# -- the driver killed ------------------------------------------------------------------------------

def _ray_processes(marker: str) -> dict[int, str]:
    """Processes of the private cluster whose temp folder is ``marker``: pid -> command line. Ray
    renames its processes' command lines; they are found by the folder in their environment (workers)
    or among their open files (Ray's agents)."""
    found = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            hit = marker.encode() in (p / "environ").read_bytes() or any(
                marker in os.readlink(fd) for fd in (p / "fd").iterdir())
            if hit:
                found[int(p.name)] = (p / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
        except OSError:
            pass
    return found


AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")  # exit by themselves a minute or two later


@pytest.mark.slow
def test_driver_sigkilled_mid_run_then_rerun_writes_every_record_once(cluster, tmp_path):
    import tempfile

    # Many small problems, so the run spans several generate calls (records land call by call).
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"p{i}", "question": f"What is {i} + 1?", "answer": str(i + 1)})
                             + "\n" for i in range(3000)))
    kw = dict(model="fake", benchmark=str(bench), n=2, batch_size=64)
    run_eval(**kw, out=str(tmp_path / "local"))
    out = tmp_path / "ray"
    ray_tmp = tempfile.mkdtemp(prefix="rk", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "mathsynth.cli", "eval", "--model", "fake", "--benchmark", str(bench), "--n", "2",
           "--batch-size", "64", "--grade-workers", "1", "--no-cache", "--executor", "ray", "--workers", "2",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if samples.exists() and samples.stat().st_size > 0:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        written = len(samples.read_text().splitlines())
        assert 0 < written < 3000
        # The private cluster goes with its driver (Ray ties its processes' fate to the driver): its
        # GCS, raylet and workers within seconds; Ray's two agents poll and follow a minute or two later.
        deadline = time.time() + 60
        while time.time() < deadline and any(not c.startswith(AGENTS) for c in _ray_processes(ray_tmp).values()):
            time.sleep(1)
        left = {pid: c for pid, c in _ray_processes(ray_tmp).items() if not c.startswith(AGENTS)}
    finally:
        for pid in _ray_processes(ray_tmp):  # never leave Ray processes behind, whatever happened
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert not left, f"Ray processes outlived their killed driver: {left}"
    m = run_eval(**kw, out=str(out), executor="ray", workers=2)
    assert m["overall"]["n_problems"] == 3000
    ids = [json.loads(line)["id"] for line in samples.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 3000  # every record once
    same_records(tmp_path / "local", out)


# -- studies ------------------------------------------------------------------------------------------

def _scale_json(root: Path) -> dict:
    data = json.loads((root / "scale.json").read_text())
    return json.loads(json.dumps(data).replace(str(root), "ROOT"))


@pytest.mark.slow
def test_two_students_trained_and_evaluated_concurrently_match_the_sequential_study(cluster, tmp_path):
    from mathsynth.recipe import StudyConfig
    from mathsynth.scale.study import run_study

    def values(out, **extra):
        return {"out": str(out), "benchmarks": ["demo"], "report": False,
                "eval": {"limit": 3, "n": 1, "temperature": 0.0, "max_tokens": 16, "cache": False,
                         "grade_workers": 1},
                "synth": [{"name": "sym", "seeds": "demo", "teacher": "symbolic", "per_seed": 2,
                           "decontam_embeddings": False}],
                "sizes": [4, 8], "train": {"epochs": 1, "batch_size": 4, "max_length": 384, "save_steps": 1000},
                **extra}

    run_study(StudyConfig(**values(tmp_path / "seq")), scale=True, show_progress=False)
    res = run_study(StudyConfig(**values(tmp_path / "ray", executor={"kind": "ray"})), scale=True,
                    show_progress=False)
    assert set(res["stages"].values()) == {"done"}
    assert _scale_json(tmp_path / "seq") == _scale_json(tmp_path / "ray")
    seq = json.loads((tmp_path / "seq" / "stages.json").read_text())
    par = json.loads((tmp_path / "ray" / "stages.json").read_text())
    assert set(seq) == set(par)
    (a0, a1), (b0, b1) = par["train:synthetic-4"]["ran"], par["train:synthetic-8"]["ran"]
    assert a0 < b1 and b0 < a1, "the two students' trainings did not overlap"
    assert par["train:synthetic-4"]["pid"] != par["train:synthetic-8"]["pid"]
    # Skip-on-rerun with today's stage keys: a sequential rerun of the Ray study's folder, and a Ray
    # rerun, find every stage done (same keys) and run nothing again.
    weights = tmp_path / "ray" / "synthetic-8" / "model" / "model.safetensors"
    stamp = weights.stat().st_mtime
    for extra in ({}, {"executor": {"kind": "ray"}}):
        run_study(StudyConfig(**values(tmp_path / "ray", **extra)), scale=True, show_progress=False)
        again = json.loads((tmp_path / "ray" / "stages.json").read_text())
        assert {k: v["key"] for k, v in again.items()} == {k: v["key"] for k, v in par.items()}
        assert again["train:synthetic-8"]["ran"] == par["train:synthetic-8"]["ran"]  # not run again
    assert weights.stat().st_mtime == stamp
