"""Read result folders (an eval's ``metrics.json``, a scaling study's ``scale.json``) for the report.

The report only ever reads these files; it never imports the stages that wrote them, so a report can
be built on a laptop from folders copied off a GPU box. Structural problems (no result file, bad
JSON, a JSON array where an object belongs) raise :class:`~mathsynth.errors.MathsynthError` naming
the file; a missing or oddly typed *value* is treated as absent so that one plot or table is skipped
instead of the whole report failing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mathsynth.errors import InputError, MathsynthError

METRICS_FILE = "metrics.json"
SCALE_FILE = "scale.json"
# The three headline metrics of the paper, in the order every table and plot shows them.
HEADLINE = ("pass@1", "pass_ratio@N", "pass@N")
ERROR_KINDS = ("correct", "calculation", "reasoning", "no_answer")


@dataclass
class EvalRun:
    """One evaluation folder: its ``metrics.json`` and the name shown in legends and tables."""

    path: Path
    label: str
    metrics: dict


@dataclass
class ScaleStudy:
    """One scaling-study folder: its ``scale.json`` and the name shown in section titles."""

    path: Path
    label: str
    data: dict


def num(x: Any) -> float | None:
    """A finite float, or None for anything else (missing, string, bool, NaN).

    >>> num(0.25), num("0.25"), num(None), num(True), num(float("nan"))
    (0.25, None, None, None, None)
    """
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def group_key(name: Any) -> tuple:
    """Sort key for breakdown groups: numeric names in numeric order, then the rest ("unknown") by name.

    >>> sorted(["10", "2", "unknown", "1"], key=group_key)
    ['1', '2', '10', 'unknown']
    """
    s = str(name)
    try:
        return (0, float(s), "")
    except ValueError:
        return (1, 0.0, s)


def read_json_object(path: str | Path) -> dict:
    """Parse a JSON file that must hold an object; any problem is a :class:`MathsynthError` naming it.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
    >>> _ = p.write_text('{"a": 1}')
    >>> read_json_object(p)
    {'a': 1}
    >>> _ = p.write_text('{"a": ')
    >>> read_json_object(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    mathsynth.errors.InputError: .../m.json: not valid JSON (...)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path=str(path)) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                         path=str(path)) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=str(path))
    return obj


def _check_metrics(metrics: dict, path: Path) -> None:
    if not isinstance(metrics.get("overall"), dict):
        raise InputError("has no 'overall' object; is this an eval metrics file?", path=str(path))


def _check_scale(data: dict, path: Path) -> None:
    points = data.get("points")
    if not isinstance(points, list):
        raise InputError("needs a 'points' list; is this a scaling-study file?", path=str(path))
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise InputError(f"points[{i}] is a {type(p).__name__}, expected an object", path=str(path))
        for field in ("data", "benchmark"):
            if not isinstance(p.get(field), str):
                raise InputError(f"points[{i}]: field '{field}' is missing or not a string", path=str(path))
        # A size is what places a fine-tuned point on the x axis; base points sit at size 0.
        if p["data"] != "base" and num(p.get("size")) is None:
            raise InputError(f"points[{i}]: field 'size' is missing or not a number", path=str(path))


def _run_label(metrics: dict, folder: Path) -> str:
    run = metrics.get("run") if isinstance(metrics.get("run"), dict) else {}
    parts = [str(run[k]) for k in ("model", "benchmark") if isinstance(run.get(k), str) and run[k]]
    return " / ".join(parts) if parts else folder.name


def _dedupe_labels(items: list) -> None:
    """Make labels unique (legends must tell runs apart): add the folder name, then a counter."""
    seen: dict[str, int] = {}
    for it in items:
        seen[it.label] = seen.get(it.label, 0) + 1
    for it in items:
        if seen[it.label] > 1:
            it.label = f"{it.label} ({it.path.name})"
    counts: dict[str, int] = {}
    for it in items:
        counts[it.label] = counts.get(it.label, 0) + 1
        if counts[it.label] > 1:
            it.label = f"{it.label} #{counts[it.label]}"


def load_dirs(dirs: list[str | Path]) -> tuple[list[EvalRun], list[ScaleStudy]]:
    """Load result folders (or their ``metrics.json`` / ``scale.json`` files directly), in order.

    A folder holding both files contributes to both lists.

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "ev"; d.mkdir()
    >>> _ = (d / "metrics.json").write_text(json.dumps(
    ...     {"overall": {"pass@1": 0.5}, "run": {"model": "m", "benchmark": "gsm8k"}}))
    >>> evals, studies = load_dirs([d])
    >>> evals[0].label, studies
    ('m / gsm8k', [])
    """
    if not dirs:
        raise MathsynthError("no result folders given")
    evals: list[EvalRun] = []
    studies: list[ScaleStudy] = []
    for d in dirs:
        d = Path(d)
        if d.is_file() and d.name in (METRICS_FILE, SCALE_FILE):
            folder, names = d.parent, [d.name]
        elif d.is_dir():
            folder, names = d, [n for n in (METRICS_FILE, SCALE_FILE) if (d / n).is_file()]
            if not names:
                raise MathsynthError(f"{d}: holds neither {METRICS_FILE} (an eval) nor {SCALE_FILE} "
                                     "(a scaling study)")
        else:
            raise MathsynthError(f"{d}: no such folder")
        for name in names:
            path = folder / name
            obj = read_json_object(path)
            if name == METRICS_FILE:
                _check_metrics(obj, path)
                evals.append(EvalRun(folder, _run_label(obj, folder), obj))
            else:
                _check_scale(obj, path)
                model = obj.get("model")
                label = str(model) if isinstance(model, str) and model else folder.name
                studies.append(ScaleStudy(folder, label, obj))
    _dedupe_labels(evals)
    _dedupe_labels(studies)
    return evals, studies


def slug(text: str) -> str:
    """A file-name-safe version of ``text`` (for plot names built from benchmark names).

    >>> slug("gsm8k / real data")
    'gsm8k-real-data'
    """
    s = re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.")
    return s or "x"
