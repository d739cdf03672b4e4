"""Benchmark: the same evaluation locally and on a local Ray cluster with 1 and 2 workers, in one run.

Each run is ``run_eval`` on the embedded model (transformers backend, response cache off) into its
own folder; its generation time (``seconds_this_run``: model loading and Ray start-up excluded) and
completion tokens give tok/s. Scaling efficiency is ``tok/s(2 workers) / (2 x tok/s(1 worker))``.
Rounds alternate the three setups (``--repeats``); the best of each counts. The records of every
run are also compared (they must be identical). The last lines are::

    local: X tok/s (T s)
    ray-1: X tok/s (T s), vs local R
    ray-2: X tok/s (T s), vs local R, scaling efficiency E
    records identical: True

Usage: ``PYTHONPATH=. .venv/bin/python bench/ray.py [--problems 16] [--n 2] [--max-tokens 32]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# This file is named ray.py: drop its folder from the path, or ``import ray`` would import it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _run(out: Path, args, **executor) -> tuple[float, int]:
    from mathsynth.config import EvalConfig
    from mathsynth.evaluate.runner import run_eval

    cfg = EvalConfig(model="smollm2-135m", benchmark="demo", limit=args.problems, n=args.n,
                     max_tokens=args.max_tokens, batch_size=args.batch_size, temperature=0.7, cache=False,
                     grade_workers=1, out=str(out), **executor)
    m = run_eval(cfg, show_progress=False)
    return m["run"]["seconds_this_run"], m["run"]["tokens_this_run"]


def _records(out: Path) -> list[str]:
    return sorted(line for line in (out / "samples.jsonl").read_text().splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4, help="per worker; small so there are several shards")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of local, ray-1, ray-2")
    args = ap.parse_args()

    import ray

    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    results: dict[str, tuple[float, int]] = {}
    t = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, object_store_memory=128 * 2**20,
             log_to_driver=False)
    print(f"ray start-up: {time.perf_counter() - t:.1f} s", flush=True)
    try:
        # Rounds alternate the three setups; the best round of each counts (a shared machine's noise,
        # and the first run's cold start, would otherwise land on whichever runs first).
        for r in range(args.repeats):
            for name, kw in (("local", {}), ("ray-1", {"executor": "ray", "workers": 1}),
                             ("ray-2", {"executor": "ray", "workers": 2})):
                secs, toks = _run(root / f"{name}-{r}", args, **kw)
                print(f"round {r} {name}: {toks / secs:.1f} tok/s ({secs:.1f} s, {toks} tokens)", flush=True)
                if name not in results or secs < results[name][0]:
                    results[name] = (secs, toks)
    finally:
        ray.shutdown()
    rate = {name: toks / secs for name, (secs, toks) in results.items()}
    same = all(_records(root / "local-0") == _records(d) for d in sorted(root.iterdir()))
    print(json.dumps({k: {"seconds": round(s, 2), "tokens": n} for k, (s, n) in results.items()}))
    print(f"local: {rate['local']:.1f} tok/s ({results['local'][0]:.1f} s)")
    print(f"ray-1: {rate['ray-1']:.1f} tok/s ({results['ray-1'][0]:.1f} s), vs local {rate['ray-1'] / rate['local']:.2f}")
    print(f"ray-2: {rate['ray-2']:.1f} tok/s ({results['ray-2'][0]:.1f} s), vs local {rate['ray-2'] / rate['local']:.2f}, "
          f"scaling efficiency {rate['ray-2'] / (2 * rate['ray-1']):.2f}")
    print(f"records identical: {same}")


if __name__ == "__main__":
    main()
