"""What the synthesis browser shows of a synth folder: every unit, accepted or rejected, and why.

``generated.jsonl`` holds every unit as the teacher produced it (its raw text with the verification
section, the parsed question, the answers' agreement and checks); ``rejects.jsonl`` and
``questions.jsonl`` hold the final verdicts, including the rejects that only dedup and
decontamination decide (duplicate of X, contaminated by test id Y with score Z). Both are merged here
by unit id; a folder whose run has not finished yet shows its candidates as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mathsynth.contracts import GENERATED_FILE, QUESTIONS_FILE, REJECT_STAGES, REJECTS_FILE
from mathsynth.io import read_jsonl
from mathsynth.report.load import SynthRun, num


def _read(path: Path) -> list[dict]:
    return list(read_jsonl(path, tolerate_truncated_tail=True)) if path.is_file() else []


def _span(text: str, step: Any) -> tuple[int, int] | None:
    """Where the wrong step named by a reject reason sits in ``text`` (first occurrence), if at all."""
    if not isinstance(step, str) or not step or not isinstance(text, str):
        return None
    i = text.find(step)
    return (i, i + len(step)) if i >= 0 else None


def _answers(rec: dict, wrong: Any) -> list[list]:
    """The M answers as [text, parsed answer, reject reason, wrong start, wrong end].

    Answer texts are shown where the synth stage recorded them (``answers``: strings or objects with
    ``text``/``solution``, ``answer``, ``reject``); otherwise only the per-answer reject reasons are known.
    """
    texts = rec.get("answers") if isinstance(rec.get("answers"), list) else []
    rejects = rec.get("answer_rejects") if isinstance(rec.get("answer_rejects"), list) else []
    out = []
    for i in range(max(len(texts), len(rejects))):
        a = texts[i] if i < len(texts) else None
        if isinstance(a, dict):
            text, parsed, rej = a.get("text") or a.get("solution"), a.get("answer"), a.get("reject")
        else:
            text, parsed, rej = a, None, None
        if rej is None and i < len(rejects):
            rej = rejects[i]
        text = text if isinstance(text, str) else None
        span = _span(text, wrong) if text else None
        out.append([text, parsed if isinstance(parsed, str) else None, rej if isinstance(rej, str) else None,
                    span[0] if span else None, span[1] if span else None])
    return out


def _status(rec: dict, accepted: set[str], final: bool) -> str:
    if rec["id"] in accepted:
        return "accepted"
    if rec.get("status") == "candidate" and not final:
        return "candidate"
    return "rejected"


def synth_payload(run: SynthRun) -> tuple[list[dict], list[dict]]:
    """(index, details) of one synth folder for the browser, in unit-id order.

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> gen = [{"id": "syn/s/0", "seed_id": "s", "status": "candidate", "question": "Q?", "answer": "4"},
    ...        {"id": "syn/s/1", "seed_id": "s", "status": "candidate", "question": "Q?", "answer": "4"}]
    >>> _ = (d / "generated.jsonl").write_text("".join(json.dumps(g) + "\\n" for g in gen))
    >>> _ = (d / "questions.jsonl").write_text(json.dumps({"id": "syn/s/0"}) + "\\n")
    >>> _ = (d / "rejects.jsonl").write_text(json.dumps({"id": "syn/s/1", "stage": "dedup",
    ...     "reason": "exact duplicate of syn/s/0", "duplicate_of": "syn/s/0"}) + "\\n")
    >>> index, _ = synth_payload(SynthRun(d, "sym"))
    >>> [(i["st"], i["sg"], i["dup"]) for i in index]
    [('accepted', None, None), ('rejected', 'dedup', 'syn/s/0')]
    """
    gen: dict[str, dict] = {}
    for rec in _read(run.path / GENERATED_FILE):
        if isinstance(rec.get("id"), str):
            gen[rec["id"]] = rec  # a unit recorded twice (crash between write and flush) counts once
    questions = _read(run.path / QUESTIONS_FILE)
    rejects = {r["id"]: r for r in _read(run.path / REJECTS_FILE) if isinstance(r.get("id"), str)}
    accepted = {q["id"] for q in questions if isinstance(q.get("id"), str)}
    final = (run.path / REJECTS_FILE).is_file() or (run.path / QUESTIONS_FILE).is_file()
    for q in questions:  # a folder copied without generated.jsonl still shows its final items
        if isinstance(q.get("id"), str):
            gen.setdefault(q["id"], {**q, "status": "candidate"})
    for rid, r in rejects.items():
        gen[rid] = {**gen.get(rid, {}), **r, "status": "rejected"}
    index, details = [], []
    for uid in sorted(gen):
        rec = gen[uid]
        checks = rec.get("checks") if isinstance(rec.get("checks"), dict) else {}
        wrong = checks.get("first_wrong_step")
        status = _status(rec, accepted, final)
        index.append({
            "id": uid, "seed": _s(rec.get("seed_id")), "st": status,
            "sg": _s(rec.get("stage")) if status == "rejected" else None,
            "rs": _s(rec.get("reason")) if status == "rejected" else None,
            "q": _s(rec.get("question")), "sq": _s(rec.get("seed_question")),
            "ag": num(rec.get("agreement")), "a": _s(rec.get("answer")),
            "dup": _s(rec.get("duplicate_of")), "tid": _s(rec.get("test_id")), "sc": num(rec.get("score")),
            "t": _s(rec.get("teacher")), "m": _s(rec.get("mode")),
        })
        sol = rec.get("solution") if isinstance(rec.get("solution"), str) else None
        sspan = _span(sol, wrong) if sol else None
        details.append({"raw": _s(rec.get("raw_question")), "sol": sol, "ss": list(sspan) if sspan else None,
                        "ans": _answers(rec, wrong), "wrong": _s(wrong),
                        "chk": {k: v for k, v in checks.items() if isinstance(v, int | float | str)},
                        "chg": rec.get("question_changed_by_verification")
                        if isinstance(rec.get("question_changed_by_verification"), bool) else None})
    return index, details


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def stage_counts(index: list[dict]) -> list[tuple[str, int]]:
    """Rejects per stage in pipeline order (unknown stages last), for the filter and the report.

    >>> stage_counts([{"st": "rejected", "sg": "dedup"}, {"st": "rejected", "sg": "answer"},
    ...               {"st": "accepted", "sg": None}, {"st": "rejected", "sg": "dedup"}])
    [('answer', 1), ('dedup', 2)]
    """
    counts: dict[str, int] = {}
    for i in index:
        if i["st"] == "rejected":
            counts[i["sg"] or "unknown"] = counts.get(i["sg"] or "unknown", 0) + 1
    rank = {s: n for n, s in enumerate(REJECT_STAGES)}
    return sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
