"""Audit: our grader against its peers on real model samples (SVAMP and MATH500, the embedded model).

Every response in the fixture is graded four ways:

* **ours**: ``Grader.grade_many(..., benchmark, truncated=...)`` exactly as ``mathsynth eval`` grades
  (a response cut off at the token limit needs a final-answer statement);
* **math-verify**: the loop everyone writes first, ``verify(parse("$" + gold + "$"), parse(response))``
  with math-verify's defaults, run in a time-bounded worker (the gold is wrapped in ``$`` so that
  LaTeX golds parse at all);
* **lm-eval strict** and **lm-eval flexible**: lm-evaluation-harness's GSM8K filters, re-implemented
  from their documented regexes (strict: the first ``#### (\\-?[0-9\\.\\,]+)``; flexible: the last
  match of ``(-?[$0-9.,]{2,})|(-?[0-9]+)``), scored by its ``exact_match`` (ignore case; drop ``,``,
  ``$``, everything up to ``#### `` and a final ``.`` on both sides, then compare strings).

It prints the agreement matrix and every disagreement group (ours vs one peer, grouped by the
mechanism behind it, see :func:`mechanism`), with a count, an example, and the hand judgement of
which side is right (:data:`JUDGEMENTS`; the reasoning is in docs/benchmarks.md, "Grader audit").
A group is *open* while a peer is right and we are not.

Usage::

    PYTHONPATH=. .venv/bin/python bench/grader_audit.py                 # replay the fixture (seconds)
    PYTHONPATH=. .venv/bin/python bench/grader_audit.py --recompute-reference   # math-verify again
    PYTHONPATH=. .venv/bin/python bench/grader_audit.py --collect RUN_DIR [RUN_DIR ...]

``--collect`` rebuilds ``tests/fixtures/grader_audit.jsonl.gz`` from ``mathsynth eval`` run folders
(their ``samples.jsonl``) and stores math-verify's verdict beside each response, so a replay needs
no sampling and no math-verify. The last line printed is
``audit: N responses, ours vs math-verify agree X%, ours vs lm-eval flexible agree Y%, open
disagreement groups Z``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mathsynth.grading import Grader, truncated_flags  # noqa: E402
from mathsynth.grading.pool import WorkerPool  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "grader_audit.jsonl.gz"
PEERS = ("math-verify", "lm-eval strict", "lm-eval flexible")

# -- lm-evaluation-harness GSM8K rules (re-implemented from the task's documented regexes) -------

_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
_FLEX = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_IGNORE = (re.compile(","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$"))


def _em_norm(s: str) -> str:
    for rx in _IGNORE:
        s = rx.sub("", s)
    return s.lower()


def lm_eval_strict(response: str) -> str | None:
    """The first ``#### N`` (lm-eval's regex filter with group 0, then take_first).

    >>> lm_eval_strict("so 5\\n#### 1,234\\n#### 7"), lm_eval_strict("no hash")
    ('1,234', None)
    """
    m = _STRICT.search(response)
    return m.group(1).strip() if m else None


def lm_eval_flexible(response: str) -> str | None:
    """The last number-like match (lm-eval's regex filter with ``group_select: -1``).

    >>> lm_eval_flexible("3 + 4 = 7 apples, $12.50."), lm_eval_flexible("none")
    ('$12.50.', None)
    """
    last = None
    for last in _FLEX.finditer(response):
        pass
    if last is None:
        return None
    return (last.group(1) or last.group(2)).strip()


def lm_eval_match(extracted: str | None, gold: str) -> bool:
    """lm-eval's ``exact_match`` with the GSM8K task's settings.

    >>> lm_eval_match("$1,234.", "1234"), lm_eval_match("18.0", "18")
    (True, False)
    """
    return extracted is not None and _em_norm(extracted) == _em_norm(gold)


# -- fixture --------------------------------------------------------------------------------------

def collect(run_dirs: list[Path], out: Path, workers: int, timeout: float) -> list[dict]:
    rows = []
    for d in run_dirs:
        with open(d / "samples.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                for k, (text, fin) in enumerate(zip(rec["completions"], rec["finish_reasons"],
                                                    strict=True)):
                    # a benchmark sampled in parts (copies of slices of it as .jsonl files named
                    # like "svamp_p1.jsonl") is one benchmark
                    bench = re.sub(r"_p\d+$", "", rec["benchmark"])
                    rows.append({"id": f"{rec['id']}#{k}", "benchmark": bench,
                                 "gold": rec["gold"], "response": text, "finish_reason": fin})
    reference(rows, workers, timeout)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"collect: {len(rows)} responses from {len(run_dirs)} runs -> {out} "
          f"({out.stat().st_size / 1e6:.2f} MB)")
    return rows


def load(path: Path = FIXTURE) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def reference(rows: list[dict], workers: int, timeout: float) -> None:
    """math-verify's plain verdict on each row, in time-bounded workers (a timeout: wrong)."""
    with WorkerPool(workers) as pool:
        inner = max(1, int(timeout / 2))
        got = pool.run([("mv_plain", (r["gold"], r["response"], inner)) for r in rows], timeout=timeout)
    for r, (status, value) in zip(rows, got, strict=True):
        ok, ext = value if status == "ok" else (False, "")
        r["mv"], r["mv_extracted"] = bool(ok), ext


# -- grading and grouping -------------------------------------------------------------------------

def grade_all(rows: list[dict], workers: int) -> None:
    by_bench: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_bench[r["benchmark"]].append(i)
    with Grader(workers=workers) as g:
        for bench, idx in by_bench.items():
            items = [(rows[i]["gold"], rows[i]["response"]) for i in idx]
            flags = truncated_flags([rows[i]["finish_reason"] for i in idx])
            for i, res in zip(idx, g.grade_many(items, benchmark=bench, truncated=flags), strict=True):
                rows[i].update(ours=res.correct, ours_extracted=res.extracted, ours_rule=res.rule)
        for r in rows:
            r["strict_extracted"] = lm_eval_strict(r["response"])
            r["flex_extracted"] = lm_eval_flexible(r["response"])
            r["lm-eval strict"] = lm_eval_match(r["strict_extracted"], r["gold"])
            r["lm-eval flexible"] = lm_eval_match(r["flex_extracted"], r["gold"])
            r["math-verify"] = r["mv"]
        pairs = [(r["ours_extracted"], r["flex_extracted"]) for r in rows]
        ok = [i for i, (a, b) in enumerate(pairs) if a is not None and b is not None]
        same = g.equivalent_many([(pairs[i][0], pairs[i][1].rstrip(".").replace("$", ""))
                                  for i in ok])
    for r in rows:
        r["flex_same"] = False
    for i, s in zip(ok, same, strict=True):
        rows[i]["flex_same"] = s


_STATEMENT = ("answer_is", "gsm8k_hash", "boxed")


def mechanism(r: dict, peer: str) -> str:
    """Why ours and ``peer`` disagree on row ``r``: a short, checkable description."""
    ours_rule, fin = r["ours_rule"], r["finish_reason"]
    if peer == "lm-eval strict" and r["strict_extracted"] is None:
        return "no '#### N' line: strict finds nothing"
    if fin == "length" and ours_rule is None:
        return "cut off at the token limit before any final-answer statement"
    if ours_rule is None:
        return "no final-answer statement and no number"
    where = ("a final statement of one number" if _kind(r["ours_extracted"]) == "number" else
             f"a final statement of {_kind(r['ours_extracted'])}") if ours_rule in _STATEMENT \
        else "no statement, last number"
    if peer == "math-verify":
        if not r["mv_extracted"]:
            return f"{where}: math-verify extracts nothing"
        if _kind(r["ours_extracted"]) == "prose":
            return f"{where}: math-verify reads an expression from the response"
        return f"{where}: math-verify reads {'the same answer' if r['mv_same'] else 'another expression'}"
    ext = r["flex_extracted"] if peer == "lm-eval flexible" else r["strict_extracted"]
    if ext is None:
        return f"{where}: {peer} finds no number"
    same = r["flex_same"] if peer == "lm-eval flexible" else False
    if same:
        return f"{where}: {peer} reads the same value, its string match differs"
    return f"{where}: {peer} reads another number"


def _kind(ans: str | None) -> str:
    """What our extracted answer is: one number, prose (words), or math."""
    from mathsynth.grading.equivalence import normalize, parse_number

    if ans is None:
        return "nothing"
    n = normalize(ans)
    if parse_number(n) is not None:
        return "number"
    return "prose" if re.search(r"(?<![\\A-Za-z])[A-Za-z]{2,}", n) else "math"


#: Hand judgement per (mechanism, ours' verdict): the side that is right, and why (shortened;
#: docs/benchmarks.md "Grader audit" has the full reasoning and examples).
_ONE = "a final statement of one number"
JUDGEMENTS: dict[tuple[str, bool], tuple[str, str]] = {
    ("no '#### N' line: strict finds nothing", True): (
        "ours", "the prompt asks for 'The answer is: X'; strict reads '#### N' lines only"),
    ("cut off at the token limit before any final-answer statement", False): (
        "ours", "a response cut off mid-way states no answer; the peer matched a number of the "
        "unfinished working"),
    (f"{_ONE}: math-verify reads another expression", False): (
        "ours", "the final statement names one wrong number; math-verify matched an expression of "
        "the working ('43 - 21' of '43 - 21 = 5')"),
    (f"{_ONE}: math-verify reads another expression", True): (
        "ours", "the final statement is the gold; math-verify read another expression"),
    (f"{_ONE}: math-verify extracts nothing", True): (
        "ours", "the final statement is the gold; math-verify extracts nothing"),
    (f"{_ONE}: lm-eval flexible reads another number", True): (
        "ours", "the final statement is the gold; the last number is text after it"),
    (f"{_ONE}: lm-eval flexible reads another number", False): (
        "ours", "the final statement names a wrong number; the gold is a number of other text"),
    (f"{_ONE}: lm-eval strict reads another number", False): (
        "ours", "an earlier '#### N' is overridden by the last statement ('#### 1' then 'The "
        "answer is: 11')"),
    (f"{_ONE}: lm-eval flexible reads the same value, its string match differs", True): (
        "ours", "the same value written differently ('18.0', '1,000.'); exact_match compares strings"),
    ("a final statement of prose: lm-eval flexible reads another number", False): (
        "ours", "the statement names two values or hedges ('17 more orchids and 10 less than ...'); "
        "the last number is one of them"),
    ("a final statement of prose: math-verify reads an expression from the response", False): (
        "ours", "the statement names two values or hedges ('10% of 1%, which is not ...'); "
        "math-verify picks one number"),
    ("a final statement of math: lm-eval flexible reads another number", True): (
        "ours", "an equal expression ('\\sqrt{242}' for '11\\sqrt2'); flexible reads '$.'"),
    ("a final statement of math: math-verify reads another expression", False): (
        "ours", "the statement is another expression ('f(x,y) = 1 + x...'); math-verify matched a "
        "'1' elsewhere"),
}


def judge(mech: str, ours: bool) -> tuple[str, str]:
    return JUDGEMENTS.get((mech, ours), ("unjudged", ""))


def hand_tables(workers: int, timeout: float) -> str:
    """Accuracy of ours and of plain math-verify on the hand-written equivalence tables of the
    tests (expected verdicts written by hand): equivalence, notations, traps and their controls."""
    import importlib.util

    tests = Path(__file__).resolve().parent.parent / "tests"
    pairs: list[tuple[str, str, str, bool]] = []
    for name in ("test_grading_equivalence", "test_grading_notations", "test_grading_traps"):
        spec = importlib.util.spec_from_file_location(name, tests / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        if name == "test_grading_traps":
            pairs += [(name, g, p, False) for g, p, _ in mod.TRAPS]
            pairs += [(name, g, p, True) for g, p in mod.CONTROLS]
        else:
            pairs += [(name, row[1], row[2], row[3]) for row in mod.TABLE]
    pairs = [p for p in pairs if p[2].strip()]
    with Grader(workers=workers) as g:
        ours = g.equivalent_many([(gold, pred) for _, gold, pred, _ in pairs])
    with WorkerPool(workers) as pool:
        got = pool.run([("mv_plain", (gold, "$" + pred + "$", max(1, int(timeout / 2))))
                        for _, gold, pred, _ in pairs], timeout=timeout)
    mv = [status == "ok" and value[0] for status, value in got]
    lines = []
    for name in sorted({p[0] for p in pairs}) + ["all"]:
        idx = [i for i, p in enumerate(pairs) if name in ("all", p[0])]
        o = sum(ours[i] == pairs[i][3] for i in idx)
        m = sum(mv[i] == pairs[i][3] for i in idx)
        lines.append(f"hand-written tables {name}: {len(idx)} pairs, ours {100 * o / len(idx):.1f}%, "
                     f"math-verify {100 * m / len(idx):.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--collect", nargs="+", type=Path, default=None, metavar="RUN_DIR")
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    ap.add_argument("--recompute-reference", action="store_true",
                    help="run math-verify again instead of the verdicts stored in the fixture")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="math-verify bound per response, s")
    ap.add_argument("--examples", type=int, default=1, help="examples printed per group")
    ap.add_argument("--tables", action="store_true",
                    help="also score ours and math-verify on the tests' hand-written tables")
    args = ap.parse_args(argv)
    if args.tables:
        print(hand_tables(args.workers, args.timeout))

    if args.collect:
        rows = collect(args.collect, args.fixture, args.workers, args.timeout)
    else:
        rows = load(args.fixture)
        if args.recompute_reference:
            reference(rows, args.workers, args.timeout)
    summary = audit(rows, args.workers, args.examples)
    print(summary["line"])
    return 0


def audit(rows: list[dict], workers: int = 2, examples: int = 1, out=print) -> dict:
    """Grade, print the matrix and the groups; returns the counts (used by the tests)."""
    grade_all(rows, workers)
    with Grader(workers=workers) as g:
        idx = [i for i, r in enumerate(rows) if r["ours_extracted"] and r["mv_extracted"]]
        same = g.equivalent_many([(rows[i]["ours_extracted"], rows[i]["mv_extracted"]) for i in idx])
    for r in rows:
        r["mv_same"] = False
    for i, s in zip(idx, same, strict=True):
        rows[i]["mv_same"] = s
    n = len(rows)
    names = ("ours",) + PEERS
    out(f"responses: {n} ({dict(Counter(r['benchmark'] for r in rows))}), finish reasons "
        f"{dict(Counter(r['finish_reason'] for r in rows))}")
    out("graded correct: " + ", ".join(f"{a} {sum(r[a] for r in rows)}" for a in names))
    out("agreement matrix (% of responses with the same verdict):")
    out(" " * 18 + "".join(f"{a:>18}" for a in names))
    for a in names:
        out(f"{a:>18}" + "".join(f"{100 * sum(r[a] == r[b] for r in rows) / n:17.1f}%" for b in names))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        for peer in PEERS:
            if r["ours"] != r[peer]:
                groups[(peer, mechanism(r, peer), r["ours"])].append(r)
    open_groups = 0
    out(f"disagreement groups: {len(groups)} (ours vs one peer; count | peer | mechanism | "
        "verdicts | right side)")
    for (peer, mech, ours), members in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        right, why = judge(mech, ours)
        is_open = right not in ("ours", "both wrong")
        open_groups += is_open
        out(f"{len(members):5d} | {peer} | {mech} | ours {'right' if ours else 'wrong'}, "
            f"{peer} {'right' if not ours else 'wrong'} | right: {right}{' (OPEN)' if is_open else ''}"
            f"{' - ' + why if why else ''}")
        for r in members[:examples]:
            tail = r["response"][-160:].replace("\n", "\\n")
            out(f"        e.g. {r['id']} gold {r['gold']!r} ours {r['ours_extracted']!r} "
                f"({r['ours_rule']}) mv {r['mv_extracted'][:40]!r} flex {r['flex_extracted']!r} "
                f"fin {r['finish_reason']} ...{tail!r}")
    agree_mv = 100 * sum(r["ours"] == r["math-verify"] for r in rows) / n
    agree_flex = 100 * sum(r["ours"] == r["lm-eval flexible"] for r in rows) / n
    line = (f"audit: {n} responses, ours vs math-verify agree {agree_mv:.1f}%, ours vs lm-eval "
            f"flexible agree {agree_flex:.1f}%, open disagreement groups {open_groups}")
    return {"n": n, "groups": len(groups), "open": open_groups, "line": line}


if __name__ == "__main__":
    raise SystemExit(main())
