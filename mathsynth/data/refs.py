"""Benchmark references: ``"gsm8k"``, ``"math:train"``, ``"asdiv:grade1-3"`` or a JSONL file, read once.

:func:`resolve` turns the text a user wrote into a :class:`BenchmarkRef`; everything downstream
(loading, decontamination, training on real data, choosing seeds) asks the reference for its name,
split or file instead of splitting the text on ``":"`` again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mathsynth.data.registry import BenchmarkInfo, get_benchmark, is_benchmark_name


@dataclass(frozen=True)
class BenchmarkRef:
    """A resolved benchmark reference: a registered benchmark and one of its splits, or a JSONL file
    (``info`` None) whose problems are labelled with ``split``.

    >>> r = resolve("math:train"); r.name, r.split, r.label, r.path is None
    ('math', 'train', 'math:train', True)
    >>> r = resolve("data/mine.jsonl", "dev"); r.name, r.split, r.path.as_posix()
    ('mine', 'dev', 'data/mine.jsonl')
    """

    spec: str                        # the reference as written (stripped)
    split: str
    info: BenchmarkInfo | None = None

    @property
    def path(self) -> Path | None:
        """The JSONL file of a file reference; None for a registered benchmark."""
        return Path(self.spec) if self.info is None else None

    @property
    def name(self) -> str:
        """The registered benchmark's name, or a file's stem."""
        return self.info.name if self.info is not None else Path(self.spec).stem

    @property
    def label(self) -> str:
        """``name`` for a test split, ``name:split`` for another (how decontamination lists them)."""
        return self.name if self.split == "test" else f"{self.name}:{self.split}"


def _looks_like_path(spec: str) -> bool:
    return (Path(spec).exists() or spec.lower().endswith((".jsonl", ".json"))
            or "/" in spec or os.sep in spec)


def training_split(info: BenchmarkInfo | None) -> str:
    """The split training and synthesis draw from when none is named: ``train``, else the only one.

    >>> training_split(get_benchmark("gsm8k")), training_split(get_benchmark("demo")), training_split(None)
    ('train', 'test', 'train')
    """
    return "train" if info is None or "train" in info.splits else info.splits[0]


def resolve(name_or_path: str, split: str | None = "test", *, check: bool = True) -> BenchmarkRef:
    """Read a reference: a registered name, ``name:split`` (the written split wins over ``split``)
    or a file path. ``split`` is the split when none is written; None means the training split
    (:func:`training_split`). Unknown names raise, listing the known ones; an unknown split raises
    too unless ``check=False`` (decontamination skips such a benchmark instead).

    >>> r = resolve("gsm8k:train"); r.info.name, r.split
    ('gsm8k', 'train')
    >>> resolve("demo", None).split, resolve("gsm8k", None).split
    ('test', 'train')
    >>> resolve("gsm8k:dev", check=False).split
    'dev'
    """
    spec = str(name_or_path).strip()
    if is_benchmark_name(spec):
        info = get_benchmark(spec)
    elif ":" in spec and is_benchmark_name(spec.split(":", 1)[0]) and not Path(spec).exists():
        name, written = spec.split(":", 1)
        info, split = get_benchmark(name), written.strip()
    elif _looks_like_path(spec):
        return BenchmarkRef(spec, split if split is not None else training_split(None))
    else:
        info = get_benchmark(spec)  # raises, listing the known names
    if split is None:
        split = training_split(info)
    if check:
        info.check_split(split)
    return BenchmarkRef(spec, split, info)
