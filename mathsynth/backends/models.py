"""Model names -> backends: :func:`load_generator` builds the backend that serves a name.

Names, weights and the cache folder are resolved by :mod:`mathsynth.models` (the base layer, shared
with training); they are re-exported here for older imports.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from mathsynth.errors import MathsynthError
from mathsynth.models import (  # noqa: F401 (re-exported: mathsynth.backends.models.* still works)
    ALIASES,
    DEFAULT_MODEL,
    ModelSpec,
    cache_dir,
    convert_gguf,
    convert_gguf_cached,
    embedded_gguf,
    ensure_embedded,
    resolve_model,
    weights_path,
)

_BACKEND_OPTIONS = {
    "transformers": ("dtype", "batch_size"),
    "openai": ("api_key", "max_concurrency", "rpm", "tpm", "request_timeout", "max_retries", "max_cost",
               "prices", "stall_timeout"),
    "vllm": ("dtype", "tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization",
             "max_model_len"),
    "llamacpp": ("n_ctx", "n_threads", "n_gpu_layers"),
}


def load_generator(name: str, *, cache: bool = True, cache_path: str | Path | None = None,
                   base_url: str | None = None, executor: str = "local", ray_address: str | None = None,
                   workers: int = 2, gpus_per_worker: float = 0.0, **options):
    """Build the backend for a model name, wrapped in the response cache unless ``cache=False``.

    ``executor="ray"`` builds a pool of ``workers`` Ray actors each holding this backend
    (:mod:`mathsynth.backends.ray_pool`); the response cache stays in this process.

    Options go to the backend that uses them (``dtype``, ``batch_size`` for transformers;
    ``max_concurrency``, ``rpm``, ``tpm``, ``max_cost``... for openai; ``tensor_parallel_size`` for
    vllm; ``n_ctx`` for llamacpp); options meant for other backends are ignored, and ``None`` means
    the backend's default. ``base_url`` applies to ``openai:`` names without ``@url``.

    >>> load_generator("fake").name
    'fake'
    """
    spec = resolve_model(name)
    if executor == "ray":
        from mathsynth.backends.ray_pool import RayGenerator

        workers = max(1, workers)
        if options.get("max_cost") is not None:
            # Each actor has its own budget: together they never spend more than asked for.
            options = {**options, "max_cost": options["max_cost"] / workers}
        load = partial(load_generator, name, cache=False, base_url=base_url, **options)
        gen = RayGenerator(name, load, workers=workers, gpus_per_worker=gpus_per_worker, address=ray_address)
        return _cached(gen, cache, cache_path)
    if executor != "local":
        raise MathsynthError(f"unknown executor {executor!r}; use local or ray")
    if spec.backend == "fake":
        from mathsynth.backends.fake import FakeGenerator

        return FakeGenerator()
    kwargs = {k: v for k, v in options.items() if k in _BACKEND_OPTIONS[spec.backend] and v is not None}
    if spec.backend == "openai":
        from mathsynth.backends.openai_backend import OpenAIGenerator

        url = spec.base_url or base_url or os.environ.get("OPENAI_BASE_URL") or None
        gen = OpenAIGenerator(spec.target, url, **kwargs)
    elif spec.backend == "vllm":
        from mathsynth.backends.vllm_backend import VLLMGenerator

        gen = VLLMGenerator(weights_path(spec), model_name=name, **kwargs)
    elif spec.backend == "llamacpp":
        from mathsynth.backends.llamacpp_backend import LlamaCppGenerator

        target = str(embedded_gguf(spec.target)) if spec.target in ALIASES else spec.target
        gen = LlamaCppGenerator(target, model_name=name, **kwargs)
    else:
        from mathsynth.backends.transformers_backend import TransformersGenerator

        gen = TransformersGenerator(weights_path(spec), model_name=name, **kwargs)
    return _cached(gen, cache, cache_path)


def _cached(gen, cache: bool, cache_path: str | Path | None):
    if not cache:
        return gen
    from mathsynth.backends.cache import ResponseCache, default_cache_path
    from mathsynth.backends.cached import CachedGenerator

    return CachedGenerator(gen, ResponseCache(Path(cache_path) if cache_path else default_cache_path()))
