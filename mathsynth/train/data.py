"""Training data: read ``messages`` examples, select a deterministic nested subset, mix sources by ratio.

A data spec is a comma-separated list of sources, each ``SOURCE[:ratio]``. A source is a JSONL file
of ``{"messages": [...]}`` records (``sft.jsonl`` from ``mathsynth synth``) or a benchmark with
reference solutions (``gsm8k:train``, ``math:train``) for real-data baselines.

Scaling studies need size-``N`` subsets where larger sizes contain the smaller ones. Each source is
put in a fixed order by hashing record ids (not file position, so appending to a file does not
reshuffle it), and sources are interleaved by their ratios with a sequential rule (item ``j`` of a
source with weight ``w`` is placed at ``(j + 0.5) / w``). The first ``N`` of that one sequence is the
size-``N`` set, so every prefix is nested by construction, which a per-size apportionment is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mathsynth.errors import InputError, MathsynthError
from mathsynth.formats import sft_solution
from mathsynth.io import read_jsonl_numbered

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Source:
    """One entry of a data spec: where the examples come from and its mixing weight (None = unweighted).

    >>> parse_spec("a.jsonl,gsm8k:train")
    [Source(ref='a.jsonl', ratio=None), Source(ref='gsm8k:train', ratio=None)]
    >>> parse_spec("a.jsonl,gsm8k:train:0.25")
    [Source(ref='a.jsonl', ratio=0.75), Source(ref='gsm8k:train', ratio=0.25)]
    """

    ref: str
    ratio: float | None = None


def parse_spec(spec: str) -> list[Source]:
    """Split ``FILE.jsonl[,FILE2.jsonl:ratio]`` into sources. Ratios are relative weights when every
    source has one, shares of the mix when only some do; with none, sources are simply pooled.

    >>> parse_spec("syn.jsonl:3,math:train:1")[1]
    Source(ref='math:train', ratio=1.0)
    >>> parse_spec("syn.jsonl:abc")
    Traceback (most recent call last):
    mathsynth.errors.MathsynthError: data source 'syn.jsonl:abc': 'abc' is not a mixing ratio (a number > 0, as in FILE.jsonl:0.3)
    """
    sources = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        ref, ratio = part, None
        head, _, tail = part.rpartition(":")
        if head:
            try:
                ratio = float(tail)
                ref = head
            except ValueError:
                # "gsm8k:train": the suffix is a split. After a file or a benchmark:split only a
                # ratio can follow, so "syn.jsonl:abc" is a bad ratio, not a file of that name.
                if head.endswith((".jsonl", ".json")) or ":" in head:
                    raise MathsynthError(f"data source {part!r}: {tail!r} is not a mixing ratio (a number "
                                         "> 0, as in FILE.jsonl:0.3)") from None
        if ratio is not None and not (ratio > 0 and ratio != float("inf")):
            raise MathsynthError(f"data source {part!r}: the mixing ratio must be a finite number > 0")
        sources.append(Source(ref, ratio))
    if not sources:
        raise MathsynthError("--data is empty: give FILE.jsonl[,FILE2.jsonl:ratio]")
    given = [s.ratio for s in sources if s.ratio is not None]
    if given and len(given) < len(sources):
        # "a.jsonl,b.jsonl:0.3": ratios are shares of the mix; sources without one split the rest.
        if sum(given) >= 1:
            raise MathsynthError(f"data spec {spec!r}: the given ratios are shares of the mix and must sum "
                                 "to less than 1 when some sources have none")
        rest = (1 - sum(given)) / (len(sources) - len(given))
        sources = [s if s.ratio is not None else Source(s.ref, rest) for s in sources]
    return sources


def format_spec(refs: Sequence[str]) -> str:
    """The data spec that pools ``refs`` (no ratios): the one writer of what :func:`parse_spec` reads,
    so a caller never joins sources itself. A source the spec cannot carry is refused.

    >>> format_spec(["s/synth/a/sft.jsonl", "s/synth/b/sft.jsonl"])
    's/synth/a/sft.jsonl,s/synth/b/sft.jsonl'
    >>> [s.ref for s in parse_spec(format_spec(["a.jsonl", "gsm8k:train"]))]
    ['a.jsonl', 'gsm8k:train']
    >>> format_spec(["a,b.jsonl"])
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: data source 'a,b.jsonl' cannot be written in a data spec (a comma, or a ':number' end read as a mixing ratio); rename it
    """
    for ref in refs:
        if "," in ref or ref != ref.strip() or not ref or parse_spec(ref) != [Source(ref)]:
            raise MathsynthError(f"data source {ref!r} cannot be written in a data spec (a comma, or a ':number' "
                                 "end read as a mixing ratio); rename it")
    return ",".join(refs)


def _check_messages(msgs, path: str, line: int) -> list[dict]:
    if not isinstance(msgs, list) or not msgs:
        raise InputError("must be a non-empty list of {role, content}", path=path, line=line, field="messages")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise InputError(f"item {i} must be {{role: system|user|assistant, content: str}}", path=path,
                             line=line, field="messages")
    if msgs[-1]["role"] != "assistant":
        raise InputError("has no final assistant turn to learn from", path=path, line=line, field="messages")
    if not any(m["role"] == "user" for m in msgs):
        raise InputError("has no user turn", path=path, line=line, field="messages")
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


def _content_id(msgs: list[dict]) -> str:
    return hashlib.sha256(json.dumps(msgs, sort_keys=True).encode()).hexdigest()[:16]


def read_examples(ref: str, *, prompt: str = "vicuna", empty: list[str] | None = None) -> list[dict]:
    """Examples ``{id, source, messages}`` of one source, validated (errors name the file and line).
    Examples whose final assistant turn is empty or whitespace are dropped; their ``file:line`` is
    appended to ``empty``.

    >>> ex = read_examples("demo")
    >>> ex[0]["messages"][-1]["content"].splitlines()[-1].startswith("The answer is:")
    True
    """
    empty = [] if empty is None else empty
    path = Path(ref)
    if ref.endswith(".jsonl") or path.exists():
        if not path.is_file():
            raise InputError("training data file not found", path=ref)
        out = []
        for line, rec in read_jsonl_numbered(path):
            if "messages" not in rec:
                raise InputError("is missing (each line needs chat messages)", path=ref, line=line,
                                 field="messages")
            msgs = _check_messages(rec["messages"], ref, line)
            if not msgs[-1]["content"].strip():
                # Nothing to learn from an empty answer (and the loss would teach stopping at once).
                empty.append(f"{ref}:{line}")
                continue
            out.append({"id": str(rec.get("id") or _content_id(msgs)), "source": ref, "messages": msgs})
        return out
    return _benchmark_examples(ref, prompt)


def _benchmark_examples(ref: str, prompt: str) -> list[dict]:
    # Real (seed) data in the same SFT shape as synthetic data, for the paper's real-vs-synthetic table.
    from mathsynth.data import get_benchmark, load_benchmark, resolve
    from mathsynth.formats import get_format

    fmt = get_format(prompt)
    bench = resolve(ref, None)  # no split named: the training split
    if bench.info is None:
        get_benchmark(ref)  # not a file (read_examples saw none) and not a benchmark: raises, naming both
    problems = load_benchmark(bench)
    out = []
    for p in problems:
        if not p.solution:
            raise MathsynthError(f"benchmark {ref!r} has no reference solution for {p.id}; it cannot be "
                                 "used as training data")
        out.append({"id": p.id, "source": ref, "messages": fmt.sft_messages(p.question,
                                                                            sft_solution(p.solution, p.answer))})
    return out


def _rank(position: int, example: dict) -> str:
    # The order is keyed by the source's position in the spec and the example's id, not by the
    # file's path: the same data in another folder (a copy, another study folder, a rerun after a
    # move) selects the same examples in the same order.
    return hashlib.sha256(f"{position}\0{example['id']}".encode()).hexdigest()


def select(sources: list[Source], examples: list[list[dict]], limit: int | None) -> list[dict]:
    """The first ``limit`` examples of the nested, ratio-mixed order (all of it when ``limit`` is None;
    with ratios and no limit, as many as keeps the ratios before a source runs out).

    >>> a = [{"id": str(i), "source": "a", "messages": []} for i in range(30)]
    >>> b = [{"id": str(i), "source": "b", "messages": []} for i in range(30)]
    >>> srcs = [Source("a", 3.0), Source("b", 1.0)]
    >>> small, big = select(srcs, [a, b], 8), select(srcs, [a, b], 20)
    >>> [sum(e["source"] == "a" for e in s) for s in (small, big)]
    [6, 15]
    >>> all(e in big for e in small)
    True
    """
    empty = [src.ref for src, exs in zip(sources, examples, strict=True) if not exs]
    if len(empty) == len(sources):
        raise MathsynthError(f"no training examples: data source {', '.join(map(repr, empty))} has no "
                             "examples (empty data)")
    if empty and sources[0].ratio is not None:
        # A mix cannot keep its ratio without one of its parts; pooled sources can do without one.
        raise MathsynthError(f"data source {empty[0]!r} has no examples (empty data), so the mix ratio "
                             "cannot be kept")
    if sources[0].ratio is None:
        merged = [e for _, e in sorted(((_rank(k, e), e) for k, exs in enumerate(examples) for e in exs),
                                       key=lambda t: t[0])]
        return merged[:limit] if limit else merged
    total = sum(s.ratio for s in sources)
    keyed = []
    for k, (src, exs) in enumerate(zip(sources, examples, strict=True)):
        w = src.ratio / total
        for j, (rank, e) in enumerate(sorted(((_rank(k, e), e) for e in exs), key=lambda t: t[0])):
            keyed.append(((j + 0.5) / w, rank, e))
    keyed.sort(key=lambda t: (t[0], t[1]))
    if limit is None:
        # Stop where the first source runs out, so the mix keeps its ratio.
        end = min(len(exs) / (s.ratio / total) for s, exs in zip(sources, examples, strict=True))
        return [e for t, _, e in keyed if t < end]
    return [e for _, _, e in keyed[:limit]]


def load_training_data(spec: str, *, limit: int | None = None, prompt: str = "vicuna") -> tuple[list[dict], dict]:
    """Read, validate, select and mix; returns the examples and per-source counts for the manifest.

    >>> ex, counts = load_training_data("demo", limit=5)
    >>> len(ex), counts["demo"]["selected"]
    (5, 5)
    """
    sources = parse_spec(spec)
    empties: list[list[str]] = [[] for _ in sources]
    examples = [read_examples(s.ref, prompt=prompt, empty=e) for s, e in zip(sources, empties, strict=True)]
    chosen = select(sources, examples, limit)
    if limit is not None and len(chosen) < limit:
        raise MathsynthError(f"--limit {limit} asks for more examples than the data has ({len(chosen)})")
    counts = {s.ref: {"available": len(exs), "selected": sum(e["source"] == s.ref for e in chosen),
                      "ratio": s.ratio, "dropped_empty_answer": len(emp), "empty_answer_lines": emp[:20]}
              for s, exs, emp in zip(sources, examples, empties, strict=True)}
    return chosen, counts
