"""Load benchmarks (or any JSONL file of question/answer records) as :class:`Problem` records."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mathsynth.data import hub
from mathsynth.data.refs import BenchmarkRef, resolve
from mathsynth.data.registry import DATA_DIR_ENV, BenchmarkInfo, data_dir
from mathsynth.errors import InputError, MathsynthError
from mathsynth.io import read_jsonl
from mathsynth.latex import last_boxed

_CALC = re.compile(r"<<[^<>\n]*>>")


@dataclass
class Problem:
    """One benchmark problem with its gold final answer.

    >>> p = Problem(id="x/1", question="What is 2+3?", answer="5", meta={"benchmark": "x", "split": "test"})
    >>> p.to_dict()["answer"], Problem.from_dict(p.to_dict()) == p
    ('5', True)
    """

    id: str
    question: str
    answer: str
    solution: str | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict with keys id, question, answer, solution, meta."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Problem:
        """Rebuild a problem from :meth:`to_dict` output."""
        return cls(id=str(d["id"]), question=d["question"], answer=d["answer"],
                   solution=d.get("solution"), meta=dict(d.get("meta") or {}))


def count_steps(solution: str | None) -> int:
    """Number of GSM8K ``<<expr=result>>`` calculator annotations in a solution (its step count).

    >>> count_steps("16 - 3 - 4 = <<16-3-4=9>>9 eggs; 9 * 2 = $<<9*2=18>>18\\n#### 18")
    2
    """
    return len(_CALC.findall(solution or ""))


# ---- field helpers -------------------------------------------------------------------------------------

Where = tuple[str, int]


def _err(message: str, where: Where, fld: str | None = None) -> InputError:
    return InputError(message, path=where[0], line=where[1], field=fld)


def _text(rec: dict, key: str, where: Where, *, hint: str = "") -> str:
    value = rec.get(key)
    if value is None:
        raise _err("is missing" + hint, where, key)
    if not isinstance(value, str):
        raise _err(f"must be a string, got {type(value).__name__}", where, key)
    if not value.strip():
        raise _err("is empty", where, key)
    return value


def _answer(value: object, where: Where, *, allow_empty: bool = False) -> str:
    """A gold answer as a string: strings are stripped; numbers are written without a spurious '.0'."""
    if value is None:
        raise _err("is missing", where, "answer")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _err(f"must be a string or a number, got {type(value).__name__}", where, "answer")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _err(f"must be a finite number, got {value}", where, "answer")
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    if not text and not allow_empty:
        raise _err("is empty", where, "answer")
    return text


def _optional_text(rec: dict, key: str, where: Where) -> str | None:
    value = rec.get(key)
    if value is not None and not isinstance(value, str):
        raise _err(f"must be a string or null, got {type(value).__name__}", where, key)
    return value


def _ident(value: object, where: Where, key: str = "id") -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise _err("must be a non-empty string or an integer", where, key)
    return str(value)


def _gsm8k_final(text: str, where: Where) -> str:
    if "####" not in text:
        raise _err("has no '#### <final answer>' line (GSM8K format)", where, "answer")
    final = text.rsplit("####", 1)[1].strip().replace(",", "")
    if not final:
        raise _err("has nothing after '####'", where, "answer")
    return final


def _level(value: object, where: Where) -> int | None:
    """1-5 from an int or 'Level 3'; None for null or an unknown level such as 'Level ?'."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(?:level\s*)?(\d+|\?)\s*", value, flags=re.I)
        if m:
            return None if m.group(1) == "?" else int(m.group(1))
    raise _err(f"must be an integer or 'Level N', got {value!r}", where, "level")


# ---- row parsers (one per file format) -----------------------------------------------------------------

def _from_gsm8k(rec: dict, index: int, where: Where, bench: str, split: str) -> Problem:
    question = _text(rec, "question", where)
    solution = _text(rec, "answer", where)
    meta = {"benchmark": bench, "split": split, "steps": count_steps(solution)}
    meta.update({k: v for k, v in rec.items() if k not in ("question", "answer", *meta)})
    return Problem(f"{bench}/{split}/{index}", question, _gsm8k_final(solution, where), solution, meta)


def _from_math(rec: dict, index: int, where: Where, bench: str, split: str) -> Problem:
    question = _text(rec, "problem", where)
    solution = _optional_text(rec, "solution", where)
    if rec.get("answer") is not None:
        answer = _answer(rec["answer"], where, allow_empty=True)  # two MATH train rows box nothing
    else:
        answer = last_boxed(solution)
        if answer is None:
            raise _err("is missing and the solution has no \\boxed{...}", where, "answer")
    subject = rec.get("subject") or rec.get("type") or ""
    meta = {"benchmark": bench, "split": split, "level": _level(rec.get("level"), where),
            "subject": str(subject)}
    ident = _ident(rec.get("unique_id"), where, "unique_id") or f"{bench}/{split}/{index}"
    return Problem(ident, question, answer, solution, meta)


_PLAIN_KEYS = ("id", "question", "answer", "solution", "meta")


def _from_plain(rec: dict, index: int, where: Where, bench: str, split: str) -> Problem:
    hint = " (found 'problem'; rename it to 'question')" if "problem" in rec else ""
    question = _text(rec, "question", where, hint=hint)
    answer = _answer(rec.get("answer"), where)
    solution = _optional_text(rec, "solution", where)
    if solution is None and isinstance(rec.get("answer"), str) and "####" in answer:
        solution, answer = answer, _gsm8k_final(answer, where)  # a GSM8K-style worked answer
    meta: dict = {"benchmark": bench, "split": split}
    extra = {k: v for k, v in rec.items() if k not in _PLAIN_KEYS}
    if isinstance(rec.get("meta"), dict):
        extra.update(rec["meta"])
    meta.update({k: v for k, v in extra.items() if k not in ("benchmark", "split")})
    if "steps" not in meta and count_steps(solution):
        meta["steps"] = count_steps(solution)
    ident = _ident(rec.get("id"), where) or f"{bench}/{split}/{index}"
    return Problem(ident, question, answer, solution, meta)


_PARSERS: dict[str, Callable[[dict, int, Where, str, str], Problem]] = {
    "gsm8k": _from_gsm8k, "math": _from_math, "plain": _from_plain,
}


def _numbered_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(1-based line number, record) pairs; JSON errors come from :func:`mathsynth.io.read_jsonl`."""
    if not path.exists():
        raise InputError("file not found", path=str(path))
    if not path.is_file():
        raise InputError("is not a file (expected a .jsonl file)", path=str(path))
    numbers = [i for i, raw in enumerate(path.read_bytes().split(b"\n"), start=1) if raw.strip()]
    return zip(numbers, read_jsonl(path), strict=False)


def _parse(records: Iterable[tuple[int, dict]], label: str, fmt: str, bench: str, split: str,
           limit: int | None) -> list[Problem]:
    parse = _PARSERS[fmt]
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for index, (line, rec) in enumerate(records):
        if limit is not None and index >= limit:
            break
        problem = parse(rec, index, (label, line), bench, split)
        if problem.id in seen:
            key = "unique_id" if fmt == "math" else "id"
            raise _err(f"repeats '{problem.id}' (first seen on line {seen[problem.id]})", (label, line), key)
        seen[problem.id] = line
        out.append(problem)
    return out


def load_problems(path: str | os.PathLike, *, split: str = "test", limit: int | None = None,
                  fmt: str = "plain", benchmark: str | None = None) -> list[Problem]:
    """Load a JSONL file of ``{question, answer}`` records (optional ``id``, ``solution``; other fields
    go to ``meta``). ``fmt`` may also be ``"gsm8k"`` or ``"math"`` for files in those layouts.

    >>> from mathsynth.data.registry import get_benchmark
    >>> probs = load_problems(get_benchmark("demo").local_path("test"), limit=2)
    >>> probs[0].meta["benchmark"], len(probs)
    ('demo', 2)
    """
    _check_limit(limit)
    path = Path(path)
    bench = benchmark or path.stem
    return _parse(_numbered_records(path), str(path), fmt, bench, split, limit)


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise MathsynthError(f"limit must be a non-negative integer or None, got {limit!r}")


def load_benchmark(name_or_path: str | BenchmarkRef, split: str = "test", limit: int | None = None) -> list[Problem]:
    """Load a registered benchmark (``"gsm8k"``, ``"math:train"``, ...), a JSONL file or a resolved
    :class:`~mathsynth.data.refs.BenchmarkRef` (then ``split`` is the reference's) as problems.

    Registered benchmarks are read from ``$MATHSYNTH_DATA_DIR/<dir>/<file>.jsonl`` when that variable
    is set, else from the Hugging Face hub; ``demo`` is built in. ``limit`` keeps the first K in file
    order. A split given as ``name:split`` overrides ``split``.

    >>> probs = load_benchmark("demo", limit=3)
    >>> [p.id for p in probs]
    ['demo-01', 'demo-02', 'demo-03']
    >>> probs[0].answer, probs[0].meta["steps"]
    ('23', 2)
    >>> load_benchmark("demo:train")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: unknown split 'train' for benchmark 'demo'; valid splits: test
    """
    _check_limit(limit)
    ref = name_or_path if isinstance(name_or_path, BenchmarkRef) else resolve(name_or_path, split)
    info, split = ref.info, ref.split
    if info is None:
        return load_problems(ref.spec, split=split, limit=limit)
    if split in info.subsets:  # a derived split: filter the whole base split, then apply the limit
        probs = [p for p in _load_registered(info, split) if info.keeps(split, p.meta)]
        return probs if limit is None else probs[:limit]
    return _load_registered(info, split, limit)


def _load_registered(info: BenchmarkInfo, split: str, limit: int | None = None) -> list[Problem]:
    if info.builtin:
        return load_problems(info.local_path(split), split=split, limit=limit, fmt=info.format,
                             benchmark=info.name)
    root = data_dir()
    if root is not None:
        if not root.is_dir():
            raise MathsynthError(f"{DATA_DIR_ENV} is set to '{root}', which is not a folder "
                                 f"(resolved: {root.resolve()}); expected <dir>/{info.directory}/...")
        path = info.local_path(split, root)
        if not path.is_file():
            raise MathsynthError(f"benchmark '{info.name}' split '{split}': file not found: {path} "
                                 f"({DATA_DIR_ENV}={root}; expected {info.directory}/"
                                 f"{info.files[info.base_split(split)]} "
                                 "inside it)")
        return load_problems(path, split=split, limit=limit, fmt=info.format, benchmark=info.name)
    rows, label = hub.load_rows(info.name, info.base_split(split))
    return _parse(((i, row) for i, row in enumerate(rows, start=1)), label, info.format, info.name,
                  split, limit)
