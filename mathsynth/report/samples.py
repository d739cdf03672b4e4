"""What the sample browser shows of eval runs: per problem and per sample, read from ``samples.jsonl``.

Runs are arranged in *columns* (one model each: the base model, a student, one size of a scaling
study), so the browser can put the same problem side by side across models; a column may span
several benchmarks (one eval folder each). Problems are matched by (benchmark, id).

A sample's error type and its first wrong arithmetic step are taken from the record when the eval
stage stored them (``error_types``, ``first_wrong_step``), else worked out here from the stored
verdict, extracted answer and finish reason, with the one step checker
(:func:`mathsynth.grading.check_steps`): correct; else truncated (stopped at the token limit); else
no answer; else calculation (an arithmetic step is wrong) or reasoning (every step checks out).
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathsynth.contracts import SAMPLED_SUFFIX, SAMPLES_FILE
from mathsynth.grading import first_wrong_span
from mathsynth.io import read_jsonl
from mathsynth.report.load import EvalRun, ScaleStudy, num

# Positions in a sample's array in the page payload (kept short: 5,000 problems x 16 samples).
SAMPLE_FIELDS = ("text", "extracted", "verdict", "rule", "finish", "kind", "wrong_start", "wrong_end", "error")


@dataclass
class Column:
    """One model's results, possibly over several benchmarks (one eval folder each). ``sampled[i]``
    is a second folder holding the N samples when ``folders[i]`` holds only the greedy answer (a
    scaling study's ``...@sampled`` evals); None when the samples are in ``folders[i]`` itself."""

    label: str
    folders: list[Path] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)
    model: str = ""
    sampled: list[Path | None] = field(default_factory=list)


def _bench_of(metrics: dict, folder: Path) -> str:
    run = metrics.get("run") if isinstance(metrics.get("run"), dict) else {}
    b = run.get("benchmark")
    return b if isinstance(b, str) and b else folder.name


def _point_label(p: dict) -> str:
    """A study point's column name: the study's own label ("synthetic-256"), its prompt if any."""
    label = p.get("label")
    if not isinstance(label, str) or not label:
        size = num(p.get("size"))
        label = "base" if p["data"] == "base" else f"{p['data']}-{size:g}" if size is not None else p["data"]
    return label + (f" ~{p['prompt']}" if isinstance(p.get("prompt"), str) and p["prompt"] else "")


def eval_columns(evals: list[EvalRun], studies: list[ScaleStudy]) -> list[Column]:
    """Columns for the browser: eval folders grouped by model (a second run of the same model on the
    same benchmark gets its own column), then each scaling study's points (base first, then by data
    kind and size). Folders without ``samples.jsonl`` are left out.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> runs = []
    >>> for name, model, bench in [("a", "base", "gsm8k"), ("b", "base", "math"), ("c", "student", "gsm8k")]:
    ...     (root / name).mkdir(); _ = (root / name / "samples.jsonl").write_text("")
    ...     runs.append(EvalRun(root / name, name, {"run": {"model": model, "benchmark": bench}}))
    >>> [(c.label, c.benchmarks) for c in eval_columns(runs, [])]
    [('base', ['gsm8k', 'math']), ('student', ['gsm8k'])]
    """
    cols: list[Column] = []
    for r in evals:
        if not (r.path / SAMPLES_FILE).is_file():
            continue
        run = r.metrics.get("run") if isinstance(r.metrics.get("run"), dict) else {}
        model = run.get("model") if isinstance(run.get("model"), str) and run.get("model") else r.label
        bench = _bench_of(r.metrics, r.path)
        col = next((c for c in cols if c.model == model and bench not in c.benchmarks), None)
        if col is None:
            col = Column(model, model=model)
            cols.append(col)
        col.folders.append(r.path)
        col.benchmarks.append(bench)
        col.sampled.append(None)
    for study in studies:
        by_key: dict[str, tuple[tuple, Column]] = {}
        for p in study.data["points"]:
            rel = p.get("eval_dir")
            if not isinstance(rel, str) or not (study.path / rel / SAMPLES_FILE).is_file():
                continue
            name = _point_label(p)
            label = f"{study.label}: {name}" if len(studies) > 1 else name
            rank = (p["data"] != "base", p["data"], num(p.get("size")) or 0.0, name)
            col = by_key.setdefault(label, (rank, Column(label, model=label)))[1]
            named = p.get("sampled_eval_dir")  # where a point names its sampled eval, else the layout's name
            twin = study.path / (named if isinstance(named, str) and named else rel + SAMPLED_SUFFIX)
            col.folders.append(study.path / rel)
            col.benchmarks.append(p["benchmark"])
            col.sampled.append(twin if (twin / SAMPLES_FILE).is_file() else None)
        cols += [c for _, c in sorted(by_key.values(), key=lambda rc: rc[0])]
    _unique_labels(cols)
    return cols


def _unique_labels(cols: list[Column]) -> None:
    """Columns must be told apart: a model shown twice (two prompts, two seeds) gets its folder name,
    then a counter."""
    for attempt in ("folder", "counter"):
        seen: dict[str, int] = {}
        for c in cols:
            seen[c.label] = seen.get(c.label, 0) + 1
        counts: dict[str, int] = {}
        for c in cols:
            if seen[c.label] < 2:
                continue
            if attempt == "folder" and c.folders:
                c.label = f"{c.label} ({c.folders[0].name})"
            elif attempt == "counter":
                counts[c.label] = counts.get(c.label, 0) + 1
                if counts[c.label] > 1:
                    c.label = f"{c.label} #{counts[c.label]}"


def _stored_span(v: Any, text: str) -> tuple[int, int] | None:
    """A span stored by the eval stage: [start, end], {"start", "end"} or the step's text."""
    if isinstance(v, dict):
        v = [v.get("start"), v.get("end")]
    if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return (v[0], v[1]) if 0 <= v[0] < v[1] <= len(text) else None
    if isinstance(v, str) and v and v in text:
        i = text.index(v)
        return i, i + len(v)
    return None


def sample_kind(verdict: bool, extracted: str | None, finish: str | None, span: tuple | None) -> str:
    """A sample's error type, given the span of its first wrong step (None: every step checks out);
    the same order of tests as the eval stage.

    >>> sample_kind(False, "13", "stop", (0, 10)), sample_kind(False, "13", "stop", None)
    ('calculation', 'reasoning')
    >>> sample_kind(False, None, "length", (0, 10)), sample_kind(False, None, "stop", None), sample_kind(True, "1", "stop", None)
    ('truncated', 'no_answer', 'correct')
    """
    if verdict:
        return "correct"
    if finish == "length":
        return "truncated"
    if extracted is None:
        return "no_answer"
    return "calculation" if span else "reasoning"


# Below this many distinct texts to check, worker processes cost more than they save.
PARALLEL_OVER = 2000


def wrong_spans(texts: list[str], workers: int | None = None) -> dict[str, tuple[int, int] | None]:
    """:func:`first_wrong_span` of every distinct text, in worker processes when there are many
    (the step checker takes milliseconds per long completion: 80,000 of them are minutes on one core).

    >>> wrong_spans(["2 + 2 = 5", "2 + 2 = 4", "2 + 2 = 5"])
    {'2 + 2 = 5': (0, 9), '2 + 2 = 4': None}
    """
    uniq = list(dict.fromkeys(texts))
    workers = workers or min(8, os.cpu_count() or 1)
    if len(uniq) < PARALLEL_OVER or workers < 2:
        return {t: first_wrong_span(t) for t in uniq}
    # spawn, not fork: the caller may be a study process holding torch's thread pools.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return dict(zip(uniq, pool.map(first_wrong_span, uniq, chunksize=200), strict=True))


def _at(xs: Any, i: int) -> Any:
    return xs[i] if isinstance(xs, list) and i < len(xs) else None


def _to_check(rec: dict) -> list[str]:
    """The texts of a record's wrong samples whose first wrong step the eval stage did not store."""
    if isinstance(rec.get("first_wrong_step"), list):
        return []
    comps, verdicts = rec.get("completions"), rec.get("verdicts")
    out = [c for c, v in zip(comps if isinstance(comps, list) else [], verdicts if isinstance(verdicts, list) else [],
                             strict=False) if isinstance(c, str) and not v]
    g = rec.get("greedy")
    if isinstance(g, dict) and not g.get("verdict") and isinstance(g.get("completion"), str):
        out.append(g["completion"])
    return out


def sample_rows(rec: dict, spans: dict[str, tuple | None] | None = None) -> list[list]:
    """The samples of one record as arrays in :data:`SAMPLE_FIELDS` order; ``spans`` holds the first
    wrong step of texts already checked (see :func:`wrong_spans`), others are checked here.

    >>> sample_rows({"completions": ["2 + 2 = 5. The answer is: 5."], "verdicts": [False], "extracted": ["5"],
    ...              "rules": ["answer_is"], "finish_reasons": ["stop"]})
    [['2 + 2 = 5. The answer is: 5.', '5', 0, 'answer_is', 'stop', 'calculation', 0, 9, None]]
    """
    comps = rec.get("completions") if isinstance(rec.get("completions"), list) else []
    verdicts = rec.get("verdicts") if isinstance(rec.get("verdicts"), list) else []
    stored = rec.get("first_wrong_step") if isinstance(rec.get("first_wrong_step"), list) else None
    rows = []
    for i in range(max(len(comps), len(verdicts))):
        text = _at(comps, i) if isinstance(_at(comps, i), str) else ""
        verdict, extracted = bool(_at(verdicts, i)), _at(rec.get("extracted"), i)
        finish = _at(rec.get("finish_reasons"), i)
        if stored is not None:
            span = _stored_span(_at(stored, i), text)
        elif verdict:
            span = None
        else:
            span = spans[text] if spans is not None and text in spans else first_wrong_span(text)
        kind = _at(rec.get("error_types"), i)
        if not isinstance(kind, str):
            kind = sample_kind(verdict, extracted, finish, span)
        rows.append([text, extracted, int(verdict), _at(rec.get("rules"), i), finish, kind,
                     span[0] if span else None, span[1] if span else None, _at(rec.get("errors"), i)])
    return rows


def greedy_row(rec: dict, spans: dict[str, tuple | None] | None = None) -> list | None:
    """The greedy answer (``--greedy-first``) as a sample array, or None.

    >>> greedy_row({"greedy": {"completion": "3 * 4 = 13. The answer is: 13.", "verdict": False,
    ...     "extracted": "13", "rule": "answer_is", "finish_reason": "stop"}})[5:8]
    ['calculation', 0, 10]
    >>> greedy_row({"greedy": None}) is None
    True
    """
    g = rec.get("greedy")
    if not isinstance(g, dict):
        return None
    one = {"completions": [g.get("completion") or ""], "verdicts": [g.get("verdict")],
           "extracted": [g.get("extracted")], "rules": [g.get("rule")], "finish_reasons": [g.get("finish_reason")]}
    if isinstance(g.get("error_type"), str):
        one["error_types"] = [g["error_type"]]
    if "first_wrong_step" in g:
        one["first_wrong_step"] = [g["first_wrong_step"]]
    return sample_rows(one, spans)[0]


def _summary(samples: list[list], greedy: list | None) -> list:
    """[correct count, N, Pass@1 verdict, {kind: count}] for the problem list and its filters."""
    kinds: dict[str, int] = {}
    for s in samples:
        kinds[s[5]] = kinds.get(s[5], 0) + 1
    first = greedy if greedy is not None else (samples[0] if samples else None)
    return [sum(s[2] for s in samples), len(samples), None if first is None else first[2], kinds]


def _meta_value(meta: dict, key: str) -> Any:
    v = meta.get(key)
    return v if isinstance(v, str | int) and not isinstance(v, bool) else None


def eval_payload(columns: list[Column]) -> tuple[list[dict], list[dict]]:
    """(index, details) for the browser: one index entry per problem (what the list, filters and
    search need) and one details entry (reference solution, every sample of every column).

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "samples.jsonl").write_text(json.dumps({"id": "p1", "benchmark": "demo", "question": "1+1?",
    ...     "gold": "2", "meta": {"steps": 1}, "completions": ["1 + 1 = 2. The answer is: 2."],
    ...     "verdicts": [True], "extracted": ["2"]}) + "\\n")
    >>> index, details = eval_payload([Column("m", [d], ["demo"], sampled=[None])])
    >>> index[0]["q"], index[0]["st"], index[0]["r"], details[0]["runs"][0]["s"][0][5]
    ('1+1?', 1, [[1, 1, 1, {'correct': 1}]], 'correct')
    """
    # First read everything, so that all the step checks can run at once (in parallel when many).
    loaded: list[tuple[int, str, dict, dict | None]] = []  # column, benchmark, record, greedy-source record
    for j, col in enumerate(columns):
        for folder, bench, twin in zip(col.folders, col.benchmarks, col.sampled or [None] * len(col.folders),
                                       strict=True):
            greedy_src: dict[str, dict] = {}
            if twin is not None:  # the greedy answers are in `folder`, the N samples in its twin
                greedy_src = {str(r.get("id")): r for r in read_jsonl(folder / SAMPLES_FILE,
                                                                     tolerate_truncated_tail=True)}
            for rec in read_jsonl((twin or folder) / SAMPLES_FILE, tolerate_truncated_tail=True):
                loaded.append((j, bench, rec, greedy_src.get(str(rec.get("id"))) if twin is not None else rec))
    spans = wrong_spans([t for _, _, rec, g in loaded for t in _to_check(rec) + (_to_check(g) if g and g is not rec
                                                                                 else [])])
    order: dict[tuple[str, str], int] = {}
    index: list[dict] = []
    details: list[dict] = []
    for j, bench, rec, gsrc in loaded:
        pid = str(rec.get("id"))
        b = rec.get("benchmark") if isinstance(rec.get("benchmark"), str) else bench
        key = (b, pid)
        if key not in order:
            meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
            order[key] = len(index)
            index.append({"id": pid, "b": b, "lv": _meta_value(meta, "level"), "sj": _meta_value(meta, "subject"),
                          "st": _meta_value(meta, "steps"), "q": str(rec.get("question") or ""),
                          "g": str(rec.get("gold") or ""), "r": [None] * len(columns)})
            sol = rec.get("solution") or meta.get("solution")
            details.append({"sol": sol if isinstance(sol, str) else None, "runs": [None] * len(columns)})
        k = order[key]
        samples = sample_rows(rec, spans)
        greedy = None
        if gsrc is rec:
            greedy = greedy_row(rec, spans)
        elif gsrc is not None:  # a greedy-only eval: its one answer (or its greedy record) is the greedy
            one = sample_rows(gsrc, spans)
            greedy = greedy_row(gsrc, spans) or (one[0] if len(one) == 1 else None)
        index[k]["r"][j] = _summary(samples, greedy)
        details[k]["runs"][j] = {"s": samples, "g": greedy}
    return index, details
