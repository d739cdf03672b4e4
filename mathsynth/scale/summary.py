"""``scale.json``: one point per (data kind, size, benchmark) read from the eval folders, plus
log-linear fits of each metric against data size (the paper's scaling curves)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mathsynth.config import StudyConfig
from mathsynth.io import atomic_write_json
from mathsynth.scale.study import bench_dir

METRICS = ("pass@1", "pass_ratio@N", "pass@N")
_GROUP_KEYS = ("pass@1", "pass_ratio@N", "pass@N", "n_problems", "errors")


def _point(root: Path, eval_dir: Path, data: str, size: int, bench: str) -> dict[str, Any]:
    m = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    o = m["overall"]
    point = {"data": data, "size": size, "benchmark": bench, "eval_dir": str(eval_dir.relative_to(root)),
             **{k: o.get(k) for k in (*METRICS, "no_answer_rate", "pass@k", "maj@k")},
             "errors": o.get("errors"), "step_fit": m.get("step_fit")}
    for section in ("by_level", "by_steps"):
        point[section] = {g: {k: v.get(k) for k in _GROUP_KEYS} for g, v in (m.get(section) or {}).items()}
    return point


def fit_log_linear(sizes: list[float], values: list[float]) -> dict[str, float] | None:
    """Least squares ``value = intercept + slope * log10(size)``, with R².

    >>> f = fit_log_linear([100, 1000, 10000], [0.1, 0.2, 0.3])
    >>> round(f["slope"], 6), round(f["intercept"], 6), round(f["r2"], 6)
    (0.1, -0.1, 1.0)
    """
    pts = [(math.log10(s), v) for s, v in zip(sizes, values, strict=True) if s > 0 and v is not None]
    if len({x for x, _ in pts}) < 2:
        return None
    n = len(pts)
    mx, my = sum(x for x, _ in pts) / n, sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in pts)
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0}


def write_scale_summary(root: Path, cfg: StudyConfig, runs: list[tuple[str, int | None]]) -> dict:
    """Collect every eval of the study into ``root/scale.json`` and fit the scaling trends."""
    points = [_point(root, root / "base" / bench_dir(b), "base", 0, b) for b in cfg.benchmarks]
    for label, size in runs:
        data = label.split("-")[0]
        for b in cfg.benchmarks:
            points.append(_point(root, root / label / "eval" / bench_dir(b), data, int(size or 0), b))
    fits = {}
    for b in cfg.benchmarks:
        for data in ("synthetic", "real"):
            series = sorted((p["size"], p) for p in points if p["benchmark"] == b and p["data"] == data)
            for metric in (*METRICS, "acc_step"):
                values = [(p.get("step_fit") or {}).get("acc_step") if metric == "acc_step" else p.get(metric)
                          for _, p in series]
                fit = fit_log_linear([s for s, _ in series], values)
                if fit is not None:
                    fits[f"{b}/{data}/{metric}"] = fit
    summary = {"model": cfg.model, "n": (cfg.eval or {}).get("n", 1), "benchmarks": cfg.benchmarks,
               "sizes": sorted(cfg.sizes or []), "real": cfg.real, "points": points, "fits": fits}
    atomic_write_json(root / "scale.json", summary)
    return summary
