"""Shared fixtures. The real embedded model is loaded once per test session (conversion is cached)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    d = os.environ.get("MATHSYNTH_DATA_DIR")
    return Path(d) if d and Path(d).is_dir() else None


needs_data = pytest.mark.skipif(data_dir() is None, reason="set MATHSYNTH_DATA_DIR to the benchmark folder "
                                                           "(CI uses ../shared/data)")


@pytest.fixture(scope="session")
def small_model():
    """The real embedded SmolLM2-135M-Instruct behind our transformers backend, in fp32 on every machine.

    ``dtype="auto"`` picks bf16 on CPUs with AVX512-BF16 or AMX; there a batched decode loop and
    ``model.generate`` can round differently and pick different greedy tokens, so the exact-equality
    tests (decode loops, batch independence, seeded reruns) would test the machine, not the code."""
    from mathsynth.backends.models import load_generator

    gen = load_generator("smollm2-135m", batch_size=32, cache=False, dtype="fp32")
    yield gen
    gen.close()
