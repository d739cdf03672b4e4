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
    """The real embedded SmolLM2-135M-Instruct behind our transformers backend."""
    from mathsynth.backends.models import load_generator

    gen = load_generator("smollm2-135m", batch_size=32, cache=False)
    yield gen
    gen.close()
