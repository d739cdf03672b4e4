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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathsynth.contracts import (
    CONFIG_FILE,
    ERROR_KINDS,
    METRICS_FILE,
    SCALE_FILE,
    STATS_FILE,
    SYNTH_DIR,
    SYNTH_FILES,
)
from mathsynth.errors import InputError, MathsynthError


def error_kinds(shares: Iterable[dict | None]) -> list[str]:
    """The error kinds present in any of ``shares``: the known ones in :data:`ERROR_KINDS` order, then
    the others by name (a producer adding a kind must not need a report change).

    >>> error_kinds([{"no_answer": 0.1, "correct": 0.5}, {"looping": 0.1, "truncated": 0.2}, None])
    ['correct', 'truncated', 'no_answer', 'looping']
    """
    found: set[str] = set()
    for s in shares:
        if isinstance(s, dict):
            found.update(str(k) for k in s)
    return [k for k in ERROR_KINDS if k in found] + sorted(found - set(ERROR_KINDS))


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


@dataclass
class SynthRun:
    """One synthesis output folder (``generated.jsonl``, ``questions.jsonl``, ``rejects.jsonl``,
    ``stats.json``); ``stats`` and ``config`` are {} when those files are missing."""

    path: Path
    label: str
    stats: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


@dataclass
class Comparisons:
    """Paired comparisons of two runs (``mathsynth compare A B --out X.json``): a list of objects."""

    path: Path
    label: str
    items: list[dict]


@dataclass
class Inputs:
    """Everything the report was given, by kind, in the order given."""

    evals: list[EvalRun] = field(default_factory=list)
    studies: list[ScaleStudy] = field(default_factory=list)
    synths: list[SynthRun] = field(default_factory=list)
    comparisons: list[Comparisons] = field(default_factory=list)


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
        for key in ("data", "benchmark"):
            if not isinstance(p.get(key), str):
                raise InputError(f"points[{i}]: field '{key}' is missing or not a string", path=str(path))
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


def _synth_run(folder: Path) -> SynthRun:
    stats = read_json_object(folder / STATS_FILE) if (folder / STATS_FILE).is_file() else {}
    manifest = read_json_object(folder / CONFIG_FILE) if (folder / CONFIG_FILE).is_file() else {}
    cfg = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    teacher, seeds = cfg.get("teacher"), cfg.get("seeds")
    label = f"{teacher} on {seeds}" if isinstance(teacher, str) and isinstance(seeds, str) else folder.name
    return SynthRun(folder, label, stats, cfg)


def _comparisons(path: Path, obj: dict) -> Comparisons:
    items = obj.get("comparisons")
    if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
        raise InputError("needs a 'comparisons' list of objects; is this a mathsynth compare file?",
                         path=str(path))
    return Comparisons(path, path.stem, items)


def _study_synths(study: ScaleStudy) -> list[SynthRun]:
    """Synthesis jobs inside a study folder (``synth/<job>/``): their rejects explain the training data."""
    root = study.path / SYNTH_DIR
    if not root.is_dir():
        return []
    return [_synth_run(d) for d in sorted(root.iterdir())
            if d.is_dir() and any((d / f).is_file() for f in SYNTH_FILES)]


def load_inputs(dirs: list[str | Path]) -> Inputs:
    """Load result folders or files, in order: eval folders (``metrics.json``), scaling studies
    (``scale.json``; their ``synth/<job>`` folders come along), synthesis folders (``generated.jsonl``
    ...) and comparison files (any JSON file holding a ``comparisons`` list).

    A folder holding several kinds of result contributes to each list.

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "syn").mkdir()
    >>> _ = (d / "syn" / "rejects.jsonl").write_text("")
    >>> _ = (d / "cmp.json").write_text(json.dumps({"comparisons": [{"a": "x", "b": "y"}]}))
    >>> got = load_inputs([d / "syn", d / "cmp.json"])
    >>> got.synths[0].label, got.comparisons[0].items
    ('syn', [{'a': 'x', 'b': 'y'}])
    """
    if not dirs:
        raise MathsynthError("no result folders given")
    got = Inputs()
    for d in dirs:
        d = Path(d)
        if d.is_file() and d.suffix == ".json" and d.name not in (METRICS_FILE, SCALE_FILE):
            got.comparisons.append(_comparisons(d, read_json_object(d)))
            continue
        if d.is_file() and d.name in (METRICS_FILE, SCALE_FILE):
            folder, names = d.parent, [d.name]
        elif d.is_dir():
            folder, names = d, [n for n in (METRICS_FILE, SCALE_FILE) if (d / n).is_file()]
            is_synth = any((d / f).is_file() for f in SYNTH_FILES)
            if is_synth:
                got.synths.append(_synth_run(d))
            if not names and not is_synth:
                raise MathsynthError(f"{d}: holds neither {METRICS_FILE} (an eval) nor {SCALE_FILE} "
                                     "(a scaling study) nor {SYNTH_FILES[0]} (a synthesis run)")
        else:
            raise MathsynthError(f"{d}: no such folder")
        for name in names:
            path = folder / name
            obj = read_json_object(path)
            if name == METRICS_FILE:
                _check_metrics(obj, path)
                got.evals.append(EvalRun(folder, _run_label(obj, folder), obj))
            else:
                _check_scale(obj, path)
                model = obj.get("model")
                label = str(model) if isinstance(model, str) and model else folder.name
                study = ScaleStudy(folder, label, obj)
                got.studies.append(study)
                known = {s.path.resolve() for s in got.synths}
                got.synths += [s for s in _study_synths(study) if s.path.resolve() not in known]
    for items in (got.evals, got.studies, got.synths, got.comparisons):
        _dedupe_labels(items)
    return got


def load_dirs(dirs: list[str | Path]) -> tuple[list[EvalRun], list[ScaleStudy]]:
    """Load result folders (or their ``metrics.json`` / ``scale.json`` files directly), in order.

    A folder holding both files contributes to both lists (see :func:`load_inputs` for every kind).

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "ev"; d.mkdir()
    >>> _ = (d / "metrics.json").write_text(json.dumps(
    ...     {"overall": {"pass@1": 0.5}, "run": {"model": "m", "benchmark": "gsm8k"}}))
    >>> evals, studies = load_dirs([d])
    >>> evals[0].label, studies
    ('m / gsm8k', [])
    """
    got = load_inputs(dirs)
    return got.evals, got.studies


def slug(text: str) -> str:
    """A file-name-safe version of ``text`` (for plot names built from benchmark names).

    >>> slug("gsm8k / real data")
    'gsm8k-real-data'
    """
    s = re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.")
    return s or "x"
