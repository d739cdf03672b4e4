"""Kill test: SIGKILL a small ``mathsynth run`` at random moments, rerun after each kill, and compare
what it finally writes with an uninterrupted run of the same recipe.

Each kill comes at a random moment shortly after the rerun has written new work of its own (a
record, a training step, a stage begun or finished), never by the clock from launch alone: a rerun's
start-up differs from stage to stage (training's is the longest), and clock-placed kills kept
falling into the same start-up. So the kills walk through every stage, one piece of work at a time.

The recipe (written by this script) runs every stage on the embedded model: the base eval (sampled
and greedy), symbolic synthesis and an LLM-teacher slice, a few training steps with a checkpoint
after each, the student's eval and the report. Each run gets its own response cache, so the
interrupted run cannot borrow the reference's completions. Compared, file by file: the records of
every JSON Lines output (by id: lost, duplicated, different), the metrics, and the trained weights'
sha256. The last line is::

    chaos: K kills, lost L, duplicated D, outputs identical True|False

Usage: ``MATHSYNTH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/chaos.py [--kills 20]
[--work /tmp/chaos] [--seed 0] [--window 3] [--keep-ref]``
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
  batch_size: 2             # small chunks: an eval writes its records chunk by chunk, so kills land inside it
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


def run(recipe: Path, out: Path, cache: Path, *, kill_window: float | None = None,
        rng: random.Random | None = None) -> tuple[bool, str]:
    """One ``mathsynth run``. With ``kill_window``: SIGKILL its whole process group at a random moment
    within ``kill_window`` seconds after the run first makes progress of its own (see
    :func:`progress`). Returns ``(finished, stage)``: True when it ran to the end (exit 0), False when
    killed, and the stage that was running when it was killed."""
    env = dict(os.environ, MATHSYNTH_CACHE=str(cache))
    cmd = [sys.executable, "-m", "mathsynth.cli", "run", str(recipe), "--out", str(out)]
    start = progress(out)
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    deadline, t0 = None, time.monotonic()
    while p.poll() is None:
        time.sleep(0.1)
        if kill_window is None:
            continue
        now = time.monotonic()
        if deadline is None and progress(out) > start:
            # Kills placed by progress, not by the clock: each rerun first redoes its stage's
            # start-up (imports, model loading), which differs from stage to stage; a kill is only
            # counted once the run has done new work, so the kills walk through every stage.
            deadline = now + (rng or random).uniform(0.0, kill_window)
        if deadline is not None and now >= deadline:
            stage = stage_now(out)
            os.killpg(p.pid, signal.SIGKILL)  # the run and its grading workers, as a power cut would
            p.wait()
            return False, stage
        if deadline is None and now - t0 > 900:
            os.killpg(p.pid, signal.SIGKILL)
            raise SystemExit("chaos: a rerun made no progress in 15 minutes: it is not resuming")
    if p.returncode != 0:
        raise SystemExit(f"chaos: run failed (exit {p.returncode}): {p.stderr.read()[-3000:]}")
    return True, "finished"


def progress(out: Path) -> int:
    """How much work a run folder holds: distinct records (by id, or step for the training log) over
    all its JSON Lines files, plus stages begun and stages finished. Only new work raises it: a rerun
    that trims a file back to its last checkpoint lowers it, and redoing those records brings it back."""
    n = 0
    for path in out.rglob("*.jsonl"):
        try:
            lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # the last one may be half-written
        except (OSError, UnicodeDecodeError):
            continue
        keys = set()
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            keys.add(str(rec.get("id", rec.get("step", line))) if isinstance(rec, dict) else line)
        n += len(keys)
    try:
        # a stage begun counts (its start-up is work a kill may interrupt), and a stage finished again
        stages = json.loads((out / "stages.json").read_text())
        n += len(stages) + sum(1 for v in stages.values() if v.get("status") == "done")
    except (OSError, json.JSONDecodeError):
        pass
    return n


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
    """The stage of the study that is running now (what a kill interrupts)."""
    try:
        stages = json.loads((out / "stages.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "start"
    running = [k for k, v in stages.items() if v.get("status") != "done"]
    done = [k for k, v in stages.items() if v.get("status") == "done"]
    return running[-1] if running else f"after {done[-1]}" if done else "start"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--work", default="/tmp/mathsynth-chaos")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=float, default=3.0,
                    help="seconds after a rerun's first new work within which its kill comes (uniform)")
    ap.add_argument("--keep-ref", action="store_true",
                    help="reuse the uninterrupted run in --work from an earlier call of the same recipe")
    args = ap.parse_args()
    work = Path(args.work)
    recipe = work / "chaos.yaml"
    ref_info = work / "ref.json"
    keep = args.keep_ref and ref_info.exists() and recipe.exists() and recipe.read_text() == RECIPE
    if keep:  # the reference run of an earlier call, same recipe: only the interrupted runs are redone
        for old in work.glob("*chaos-*"):
            shutil.rmtree(old)
        full = json.loads(ref_info.read_text())["seconds"]
        print(f"chaos: uninterrupted run kept from an earlier call ({full:.0f} s)", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        recipe.write_text(RECIPE)
    models = Path(os.environ.get("MATHSYNTH_CACHE") or Path.home() / ".cache" / "mathsynth") / "models"

    def fresh_cache(name: str) -> Path:
        (work / f"cache-{name}").mkdir()
        if models.is_dir():  # the converted embedded model, shared (it is read-only); responses are not
            (work / f"cache-{name}" / "models").symlink_to(models)
        return work / f"cache-{name}"

    if not keep:
        t0 = time.monotonic()
        run(recipe, work / "ref", fresh_cache("ref"))
        full = time.monotonic() - t0
        ref_info.write_text(json.dumps({"seconds": full}))
        print(f"chaos: uninterrupted run {full:.0f} s", flush=True)

    rng = random.Random(args.seed)
    kills, where = 0, Counter()
    lost = dup = 0
    differ: list[str] = []
    # Each kill lands within --window seconds of the rerun's first new work: every kill interrupts
    # real work, and a short window lets the kills walk through the stages a few records at a time
    # (a window scaled to the whole run's time let one kill skip past several short stages). When an
    # interrupted run reaches its end before K kills, another one starts from an empty folder (a
    # "pass"); every pass is compared with the uninterrupted run.
    passes = 0
    while kills < args.kills:
        passes += 1
        name = f"chaos-{passes}"
        out, cache = work / name, fresh_cache(name)
        while kills < args.kills:
            finished, stage = run(recipe, out, cache, kill_window=args.window, rng=rng)
            if finished:
                break
            kills += 1
            where[stage] += 1
            print(f"chaos: pass {passes}, kill {kills} in {stage}", flush=True)
        else:
            run(recipe, out, cache)  # the K-th kill came: the last rerun goes to the end
        res = compare(work / "ref", out)
        lost, dup = lost + res["lost"], dup + res["duplicated"]
        differ += [f"{name}/{d}" for d in res["differ"]]
    print(f"chaos: kills by stage {dict(where)} in {passes} interrupted run(s)")
    if differ:
        print(f"chaos: differing outputs: {', '.join(differ)}")
    print(f"chaos: {kills} kills, lost {lost}, duplicated {dup}, "
          f"outputs identical {not differ and not lost and not dup}")


if __name__ == "__main__":
    main()
