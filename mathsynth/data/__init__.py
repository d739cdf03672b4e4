"""Benchmarks as :class:`Problem` records: a registry of known benchmarks and their loaders.

>>> from mathsynth.data import load_benchmark, list_benchmarks
>>> "gsm8k" in [b.name for b in list_benchmarks()]
True
>>> p = load_benchmark("demo")[0]
>>> p.id, p.answer, p.meta["benchmark"], p.meta["split"]
('demo-01', '23', 'demo', 'test')
"""

from mathsynth.data.loaders import Problem, count_steps, last_boxed, load_benchmark, load_problems
from mathsynth.data.refs import BenchmarkRef, resolve, training_split
from mathsynth.data.registry import DATA_DIR_ENV, BenchmarkInfo, get_benchmark, list_benchmarks

__all__ = [
    "DATA_DIR_ENV",
    "BenchmarkInfo",
    "BenchmarkRef",
    "Problem",
    "count_steps",
    "get_benchmark",
    "last_boxed",
    "list_benchmarks",
    "load_benchmark",
    "load_problems",
    "resolve",
    "training_split",
]
