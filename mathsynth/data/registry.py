"""The benchmark registry: which benchmarks exist, their splits and where their files live.

Local files are looked up as ``$MATHSYNTH_DATA_DIR/<directory>/<file>``; the built-in ``demo``
benchmark ships inside the package and needs no data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mathsynth.errors import MathsynthError

DATA_DIR_ENV = "MATHSYNTH_DATA_DIR"
"""Environment variable naming the folder that holds ``<benchmark>/<file>.jsonl`` files."""

_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BenchmarkInfo:
    """One registered benchmark.

    ``name``, ``splits``, ``description`` and ``source`` describe it; ``directory`` and ``files`` say
    where its local JSONL files live (``files`` maps split -> file name inside ``directory``);
    ``format`` selects the row parser (``"gsm8k"``, ``"math"`` or ``"plain"`` question/answer rows);
    ``builtin`` marks data shipped inside the package. ``subsets`` defines derived splits: split ->
    (base split, integer meta field, lowest, highest), e.g. ASDiv's ``grade1-3`` is the rows of its
    ``test`` file whose ``grade`` is 1 to 3; problems keep their ids, so a subset of a test set is still
    recognised as test data by decontamination.

    >>> info = get_benchmark("gsm8k")
    >>> info.splits, info.local_path("test", "/data").as_posix()
    (('train', 'test'), '/data/gsm8k/test.jsonl')
    """

    name: str
    splits: tuple[str, ...]
    description: str
    source: str
    directory: str
    files: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    format: str = "plain"
    builtin: bool = False
    subsets: dict[str, tuple[str, str, int, int]] = field(default_factory=dict, compare=False, hash=False)

    def base_split(self, split: str) -> str:
        """The split whose file holds ``split`` (itself unless ``split`` is a derived subset).

        >>> get_benchmark("asdiv").base_split("grade1-3"), get_benchmark("asdiv").base_split("test")
        ('test', 'test')
        """
        return self.subsets[split][0] if split in self.subsets else split

    def keeps(self, split: str, meta: dict) -> bool:
        """Whether a problem with ``meta`` belongs to ``split`` (always true for a plain split).

        >>> get_benchmark("asdiv").keeps("grade1-3", {"grade": 2}), get_benchmark("asdiv").keeps("grade1-3", {"grade": 5})
        (True, False)
        """
        if split not in self.subsets:
            return True
        _, fld, lo, hi = self.subsets[split]
        value = meta.get(fld)
        return isinstance(value, int) and lo <= value <= hi

    def local_path(self, split: str, data_dir: str | os.PathLike | None = None) -> Path:
        """Path of ``split``'s file: inside the package for built-ins, else under ``data_dir``."""
        self.check_split(split)
        split = self.base_split(split)
        if self.builtin:
            return _PACKAGE_DIR / self.files[split]
        if data_dir is None:
            raise MathsynthError(f"benchmark '{self.name}' needs a data folder ({DATA_DIR_ENV})")
        return Path(data_dir) / self.directory / self.files[split]

    def check_split(self, split: str) -> None:
        """Raise :class:`MathsynthError` listing the valid splits when ``split`` is not one of them."""
        if split not in self.splits:
            raise MathsynthError(f"unknown split '{split}' for benchmark '{self.name}'; "
                                 f"valid splits: {', '.join(self.splits)}")


_BENCHMARKS: dict[str, BenchmarkInfo] = {
    b.name: b
    for b in [
        BenchmarkInfo(
            name="gsm8k", splits=("train", "test"), directory="gsm8k", format="gsm8k",
            files={"train": "train.jsonl", "test": "test.jsonl"},
            description="Grade-school math word problems (7,473 train / 1,319 test); answer after '####'.",
            source="Cobbe et al. 2021, github.com/openai/grade-school-math; hub: openai/gsm8k (main)"),
        BenchmarkInfo(
            name="math", splits=("train", "test"), directory="math", format="math",
            files={"train": "train.jsonl", "test": "test.jsonl"},
            description="Competition mathematics, 7 subjects, levels 1-5 (7,500 train / 5,000 test).",
            source="Hendrycks et al. 2021, github.com/hendrycks/math; hub: EleutherAI/hendrycks_math"),
        BenchmarkInfo(
            name="math500", splits=("test",), directory="math", format="math",
            files={"test": "test500.jsonl"},
            description="The 500-problem MATH test subset used by PRM800K (Lightman et al. 2023).",
            source="github.com/openai/prm800k math_splits/test.jsonl; hub: HuggingFaceH4/MATH-500"),
        BenchmarkInfo(
            name="svamp", splits=("test",), directory="svamp", format="plain",
            files={"test": "svamp.jsonl"},
            description="1,000 one-unknown arithmetic word problems with structural variations.",
            source="Patel et al. 2021, github.com/arkilpatel/SVAMP; hub: ChilleD/SVAMP (train+test)"),
        BenchmarkInfo(
            name="asdiv", splits=("test", "grade1-3", "grade4-6"), directory="asdiv", format="plain",
            files={"test": "asdiv.jsonl"},
            subsets={"grade1-3": ("test", "grade", 1, 3), "grade4-6": ("test", "grade", 4, 6)},
            description="2,159 diverse elementary word problems whose answer is a single number "
                        "(subsets by school grade: grade1-3 1,318, grade4-6 841).",
            source="Miao et al. 2020, github.com/chaochun/nlu-asdiv-dataset; hub: EleutherAI/asdiv"),
        BenchmarkInfo(
            name="demo", splits=("test",), directory="", format="plain", builtin=True,
            files={"test": "demo.jsonl"},
            description="32 original problems written for mathsynth (22 word problems, 10 MATH-style); "
                        "built in, needs no data folder.",
            source="mathsynth (original, Apache-2.0)"),
    ]
}


def list_benchmarks() -> list[BenchmarkInfo]:
    """All registered benchmarks, in registry order.

    >>> [b.name for b in list_benchmarks()]
    ['gsm8k', 'math', 'math500', 'svamp', 'asdiv', 'demo']
    """
    return list(_BENCHMARKS.values())


def get_benchmark(name: str) -> BenchmarkInfo:
    """Look up a benchmark by name (case-insensitive); unknown names raise an error listing known ones.

    >>> get_benchmark("MATH500").files
    {'test': 'test500.jsonl'}
    >>> get_benchmark("gsm9k")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: unknown benchmark 'gsm9k'; known benchmarks: gsm8k, math, math500, svamp, asdiv, demo (or give a path to a .jsonl file of {question, answer} records)
    """
    info = _BENCHMARKS.get(name.strip().lower())
    if info is None:
        raise MathsynthError(f"unknown benchmark '{name}'; known benchmarks: {', '.join(_BENCHMARKS)} "
                             "(or give a path to a .jsonl file of {question, answer} records)")
    return info


def is_benchmark_name(name: str) -> bool:
    """True when ``name`` (case-insensitive) is registered."""
    return name.strip().lower() in _BENCHMARKS


def data_dir() -> Path | None:
    """The folder named by ``$MATHSYNTH_DATA_DIR``, or None when it is unset or empty."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None
