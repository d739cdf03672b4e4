"""Kill test: SIGKILL a small ``mathsynth run`` at random moments, rerun after each kill, and compare
what it finally writes with an uninterrupted run of the same recipe.

The recipe (written by this script) runs every stage on the embedded model: the base eval (sampled
and greedy), symbolic synthesis and an LLM-teacher slice, a few training steps with a checkpoint
after each, the student's eval and the report. Each run gets its own response cache, so the
interrupted run cannot borrow the reference's completions. Compared, file by file: the records of
every JSON Lines output (by id: lost, duplicated, different), the metrics, and the trained weights'
sha256. The last line is::

    chaos: K kills, lost L, duplicated D, outputs identical True|False

Usage: ``MATHSYNTH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/chaos.py [--kills 20]
[--work /tmp/chaos] [--seed 0] [--keep-ref]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

RECIPE = """\
model: smollm2-135m
benchmarks: ["asdiv:grade1-3"]
eval:
  limit: 12
  n: 2
  temperature: 0.7
  max_tokens: 48
  batch_size: 8
synth:
  - name: symbolic
    seeds: gsm8k:train
    teacher: symbolic
    seed_max_steps: 3
    limit: 80
    decontam_embeddings: false
    decontam_benchmarks: [asdiv]
  - name: llm
    seeds: gsm8k:train
    teacher: smollm2-135m
    limit: 3
    answers: 2
    max_tokens: 96
    decontam_embeddings: false
    decontam_benchmarks: [asdiv]
train:
  limit: 32
  max_steps: 4
  batch_size: 8
  save_steps: 1
  max_length: 384
"""

# Keys that record when or how fast, not what: they may differ between two correct runs
# (settings_key hashes settings that config.json holds, and config.json is compared).
VOLATILE = {"settings_key", "argv", "seconds_this_run", "tokens_this_run", "backend", "created", "elapsed", "tokens_per_s",
            "train_runtime", "train_samples_per_second", "train_steps_per_second", "seconds", "time"}


def run(recipe: Path, out: Path, cache: Path, *, kill_after: float | None = None) -> bool:
    """One ``mathsynth run``; SIGKILL its whole process group after ``kill_after`` seconds.
    Returns True when it ran to the end (exit 0), False when it was killed."""
    env = dict(os.environ, MATHSYNTH_CACHE=str(cache))
    cmd = [sys.executable, "-m", "mathsynth.cli", "run", str(recipe), "--out", str(out)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        p.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the run and its grading workers, as a power cut would
        p.wait()
        return False
    if p.returncode != 0:
        raise SystemExit(f"chaos: run failed (exit {p.returncode}): {p.stderr.read()[-3000:]}")
    return True


def strip(obj, run: Path | None = None):
    """``obj`` without its volatile keys, with the run's own folder and cache written as ``<root>``
    and ``<cache>``: the two runs live in different folders (a student's model path, ``out``)."""
    if isinstance(obj, dict):
        return {k: strip(v, run) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip(v, run) for v in obj]
    if isinstance(obj, str) and run is not None:
        return obj.replace(str(run.parent / f"cache-{run.name}"), "<cache>").replace(str(run), "<root>")
    return obj


def jsonl_records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def compare(ref: Path, got: Path) -> dict:
    """Lost, duplicated and differing records of every JSONL output; differing metrics and weights."""
    lost = dup = 0
    differ: list[str] = []
    for rp in sorted(ref.rglob("*.jsonl")):
        rel = rp.relative_to(ref)
        gp = got / rel
        if rel.name == "train_log.jsonl":  # timings per step: compare the losses only
            key = [(r.get("step"), r.get("loss")) for r in jsonl_records(rp)]
            if not gp.exists() or key != [(r.get("step"), r.get("loss")) for r in jsonl_records(gp)]:
                differ.append(str(rel))
            continue
        refs = {r.get("id", i): strip(r, ref) for i, r in enumerate(jsonl_records(rp))}
        gots = jsonl_records(gp) if gp.exists() else []
        counts = Counter(r.get("id", i) for i, r in enumerate(gots))
        lost += sum(1 for k in refs if k not in counts)
        dup += sum(c - 1 for c in counts.values() if c > 1)
        gmap = {r.get("id", i): strip(r, got) for i, r in enumerate(gots)}
        if any(gmap.get(k) != v for k, v in refs.items()):
            differ.append(str(rel))
    # config.json holds the settings a record's settings_key hashes (with the run's folder in the
    # student's model path), so the settings are compared there, with the folder written as <root>.
    for name in ("metrics.json", "config.json"):
        for rp in sorted(ref.rglob(name)):
            gp = got / rp.relative_to(ref)
            if not gp.exists() or strip(json.loads(rp.read_text()), ref) != \
                    strip(json.loads(gp.read_text()), got):
                differ.append(str(rp.relative_to(ref)))
    for rp in sorted(ref.rglob("model.safetensors")):
        gp = got / rp.relative_to(ref)
        if not gp.exists() or sha(rp) != sha(gp):
            differ.append(str(rp.relative_to(ref)))
    return {"lost": lost, "duplicated": dup, "differ": differ}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage_now(out: Path) -> str:
    """The first stage of the study not yet recorded as done (what a kill interrupted)."""
    try:
        stages = json.loads((out / "stages.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "start"
    done = [k for k, v in stages.items() if v.get("status") == "done"]
    return f"after {done[-1]}" if done else "start"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--work", default="/tmp/mathsynth-chaos")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-ref", action="store_true",
                    help="reuse the uninterrupted run in --work from an earlier call of the same recipe")
    args = ap.parse_args()
    work = Path(args.work)
    recipe = work / "chaos.yaml"
    ref_info = work / "ref.json"
    keep = args.keep_ref and ref_info.exists() and recipe.exists() and recipe.read_text() == RECIPE
    if keep:  # the reference run of an earlier call, same recipe: only the interrupted run is redone
        shutil.rmtree(work / "chaos", ignore_errors=True)
        shutil.rmtree(work / "cache-chaos", ignore_errors=True)
        full = json.loads(ref_info.read_text())["seconds"]
        print(f"chaos: uninterrupted run kept from an earlier call ({full:.0f} s)", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        recipe.write_text(RECIPE)
    models = Path(os.environ.get("MATHSYNTH_CACHE") or Path.home() / ".cache" / "mathsynth") / "models"
    for name in ("chaos",) if keep else ("ref", "chaos"):
        (work / f"cache-{name}").mkdir()
        if models.is_dir():  # the converted embedded model, shared (it is read-only); responses are not
            (work / f"cache-{name}" / "models").symlink_to(models)

    if not keep:
        t0 = time.monotonic()
        run(recipe, work / "ref", work / "cache-ref")
        full = time.monotonic() - t0
        ref_info.write_text(json.dumps({"seconds": full}))
        print(f"chaos: uninterrupted run {full:.0f} s", flush=True)
    # What a rerun costs before it does any work: a rerun of the finished reference (imports, checks,
    # skipping finished stages) plus loading the model, which an interrupted stage does again.
    t0 = time.monotonic()
    run(recipe, work / "ref", work / "cache-ref")
    rerun = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "from mathsynth.backends.models import load_generator; "
                    "load_generator('smollm2-135m', cache=False).close()"], check=True,
                   env=dict(os.environ, MATHSYNTH_CACHE=str(work / "cache-ref")), capture_output=True)
    overhead = rerun + time.monotonic() - t0
    print(f"chaos: rerun of a finished run {rerun:.0f} s, with loading the model {overhead:.0f} s", flush=True)

    rng = random.Random(args.seed)
    kills, where = 0, Counter()
    # Kill moments: past the rerun's own overhead, then on average 1/K of the whole run's work, so
    # the K kills spread over all stages (a stage's model loading is part of its work).
    while kills < args.kills:
        at = overhead + rng.uniform(0.0, max(10.0, 2 * full / args.kills))
        before = stage_now(work / "chaos")
        if run(recipe, work / "chaos", work / "cache-chaos", kill_after=at):
            break  # finished before the kill: the rest of the kills would find nothing to do
        kills += 1
        where[before] += 1
        print(f"chaos: kill {kills} at {at:.1f} s ({before})", flush=True)
    if kills >= args.kills:
        run(recipe, work / "chaos", work / "cache-chaos")
    res = compare(work / "ref", work / "chaos")
    print(f"chaos: kills by stage {dict(where)}")
    if res["differ"]:
        print(f"chaos: differing outputs: {', '.join(res['differ'])}")
    print(f"chaos: {kills} kills, lost {res['lost']}, duplicated {res['duplicated']}, "
          f"outputs identical {not res['differ'] and not res['lost'] and not res['duplicated']}")


if __name__ == "__main__":
    main()
