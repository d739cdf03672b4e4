"""Benchmark: README command (1)'s job — ``mathsynth run recipes/quickstart-cpu.yaml`` — timed per
stage, with the peak resident memory of each stage measured.

The run is a child process (a fresh folder, so nothing is skipped; the response cache is a fresh
folder too, so nothing is served from an earlier run; the converted embedded model is reused, as on
any machine after its first use). A sampler thread reads the resident set size of the run and all
its descendants (grading workers, the embedder) from /proc every 0.2 s; the study prints a line
``stage NAME`` when each stage starts, which splits the samples by stage. Last line::

    quickstart: T s total, peak RSS M MiB

Usage: ``MATHSYNTH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/quickstart.py
[--recipe recipes/quickstart-cpu.yaml] [--work /tmp/mathsynth-quickstart]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
_STAGE = re.compile(r"^stage (\S+?)(?:: .*)?$")  # "stage NAME" or "stage NAME: resuming"


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc; 0 once it is gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default="recipes/quickstart-cpu.yaml")
    ap.add_argument("--work", default="/tmp/mathsynth-quickstart")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / "cache").mkdir(parents=True)
    models = Path(os.environ.get("MATHSYNTH_CACHE") or Path.home() / ".cache" / "mathsynth") / "models"
    if models.is_dir():
        (work / "cache" / "models").symlink_to(models)
    env = dict(os.environ, MATHSYNTH_CACHE=str(work / "cache"), PYTHONUNBUFFERED="1", COLUMNS="200")
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "mathsynth.cli", "run", args.recipe, "--out", str(work / "run")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    current = ["startup"]
    stages: dict[str, dict] = {"startup": {"start": 0.0, "peak": 0}}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = tree_rss(p.pid)
            st = stages[current[0]]
            st["peak"] = max(st["peak"], rss)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    tail = []
    for line in p.stdout:
        tail = (tail + [line])[-40:]
        m = _STAGE.match(line.strip())
        if m and "skipped" not in line:
            name, now = m.group(1), time.monotonic() - t0
            last = stages[current[0]]  # the stage that just ended, printed now: a cut-short run keeps it
            print(f"  {now:7.1f} s  {current[0]} took {now - last['start']:.0f} s, peak RSS "
                  f"{last['peak'] / 2**20:.0f} MiB; next: {line.strip()}", flush=True)
            stages[name] = {"start": now, "peak": 0}
            current[0] = name
    p.wait()
    total = time.monotonic() - t0
    done.set()
    if p.returncode != 0:
        raise SystemExit(f"quickstart: the run failed (exit {p.returncode}):\n{''.join(tail)}")
    names = list(stages)
    print(f"{'stage':32} {'seconds':>8} {'peak RSS MiB':>13}")
    for i, name in enumerate(names):
        end = stages[names[i + 1]]["start"] if i + 1 < len(names) else total
        print(f"{name:32} {end - stages[name]['start']:8.0f} {stages[name]['peak'] / 2**20:13.0f}")
    peak = max(s["peak"] for s in stages.values())
    print(f"quickstart: {total:.0f} s total, peak RSS {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
