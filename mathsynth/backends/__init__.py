"""Backends: one generation interface (:mod:`mathsynth.backends.base`) and its implementations."""

from mathsynth.backends.base import Completion, GenerationRequest, Generator, SamplingParams
from mathsynth.backends.models import DEFAULT_MODEL, ModelSpec, load_generator, resolve_model

__all__ = ["Completion", "GenerationRequest", "Generator", "SamplingParams", "DEFAULT_MODEL", "ModelSpec",
           "load_generator", "resolve_model"]
