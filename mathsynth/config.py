"""Typed stage configs (pydantic) and YAML recipes.

A recipe is a YAML file whose top-level keys name stages (``eval:``, later ``synth:``, ``train:``);
values the user passes on the command line override the recipe, and the resolved config is written
next to the stage's outputs. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mathsynth.errors import InputError, MathsynthError


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class BackendOptions(StageConfig):
    """How to run the model, shared by every stage that generates (see ``load_generator``).

    >>> BackendOptions().cache, BackendOptions().max_concurrency
    (True, 16)
    """

    base_url: str | None = None          # openai: server URL when the model name has no @url
    max_concurrency: int = Field(default=16, ge=1)   # openai: HTTP requests in flight
    rpm: float | None = Field(default=None, gt=0)     # openai: requests per minute
    tpm: float | None = Field(default=None, gt=0)     # openai: tokens per minute
    request_timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    max_cost: float | None = Field(default=None, ge=0)  # USD; stop cleanly (resumably) at this spend
    prices: dict[str, tuple[float, float]] | None = None  # model -> (USD per 1M input, per 1M output)
    cache: bool = True                   # the SQLite response cache
    cache_path: str | None = None        # default: $MATHSYNTH_CACHE/responses.sqlite
    tensor_parallel_size: int | None = Field(default=None, ge=1)  # vllm
    data_parallel_size: int | None = Field(default=None, ge=1)    # vllm
    n_ctx: int | None = Field(default=None, ge=256)               # llamacpp

    def backend_kwargs(self) -> dict:
        """Keyword arguments for :func:`mathsynth.backends.load_generator`."""
        return {k: getattr(self, k) for k in BackendOptions.model_fields}


class EvalConfig(BackendOptions):
    """Settings of ``mathsynth eval``.

    >>> EvalConfig(model="fake", benchmark="demo", out="runs/x").n
    1
    """

    model: str = "smollm2-135m"
    benchmark: str = "gsm8k"
    split: str = "test"
    limit: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=512, ge=1)
    greedy_first: bool = False
    prompt: str = "chat"
    seed: int = 0
    batch_size: int = Field(default=64, ge=1)
    dtype: str = "auto"
    rules: list[str] | None = None       # extraction rule order (default: the benchmark's)
    truncated_fallback: bool = False     # grade a cut-off completion by its last number (old behaviour)
    grade_workers: int | None = None
    grade_timeout: float = Field(default=5.0, gt=0)
    out: str


class SynthConfig(BackendOptions):
    """Settings of ``mathsynth synth`` (defaults follow the paper: teacher temperature 1.0).

    >>> SynthConfig(seeds="demo", teacher="symbolic", out="runs/s").answers
    4
    """

    seeds: str = "gsm8k:train"
    split: str | None = None             # default: train where the benchmark has one
    teacher: str = "symbolic"            # a model name, or "symbolic" (no LLM)
    mode: str = "question-verify"        # prompt mode: question-verify, question-plain, add-constraint, ...
    style: str | None = None             # gsm8k or math; default: from the seeds
    prompt_file: str | None = None       # a user's own question template ({question})
    per_seed: int = Field(default=1, ge=1)
    answers: int = Field(default=4, ge=1)
    limit: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=1024, ge=1)
    min_agreement: float = Field(default=0.5, ge=0, le=1)
    max_solution_chars: int = Field(default=6000, ge=100)
    dedup_threshold: float = Field(default=0.8, gt=0, le=1)
    dedup_keep_number_variants: bool = True   # near-duplicates must share their numbers (see synth.dedup)
    seed_max_steps: int | None = Field(default=None, ge=1)  # only seeds with at most this many steps
    decontam_ngram: int = Field(default=13, ge=3)
    decontam_embed_threshold: float = Field(default=0.9, gt=0, le=1)
    decontam_embeddings: bool = True
    decontam_benchmarks: list[str] | None = None
    eval_prompt: str = "vicuna"          # the SFT user turn uses this evaluation prompt format
    seed: int = 0
    batch_size: int = Field(default=32, ge=1)
    dtype: str = "auto"
    out: str


class TrainConfig(StageConfig):
    """Settings of ``mathsynth train`` (defaults: the paper's recipe, scaled by the YAML recipes).

    >>> c = TrainConfig(data="sft.jsonl", out="models/s")
    >>> c.learning_rate, c.lr_scheduler, c.warmup_ratio, c.epochs
    (2e-05, 'cosine', 0.04, 3.0)
    """

    model: str = "smollm2-135m"
    data: str                            # FILE.jsonl[,FILE2.jsonl:ratio] or gsm8k:train (reference solutions)
    limit: int | None = Field(default=None, ge=1)   # hash-ordered prefix: larger sizes contain smaller ones
    prompt: str = "vicuna"               # the evaluation prompt format the student is taught in
    epochs: float = Field(default=3.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    learning_rate: float = Field(default=2e-5, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(default=0.04, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    max_length: int = Field(default=2048, ge=16)
    over_length: str = Field(default="drop", pattern="^(drop|truncate)$")
    batch_size: int = Field(default=8, ge=1)         # sequences (or packed rows) per device per step
    grad_accum: int = Field(default=1, ge=1)
    packing: bool = False                # best-fit packing, padding-free (no cross-example attention)
    group_by_length: bool = True         # without packing: batch similar lengths to cut padding
    lora_r: int | None = Field(default=None, ge=1)   # None: full fine-tuning
    lora_alpha: int | None = Field(default=None, ge=1)  # default 2 * r
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    lora_targets: str = "all-linear"
    merge: bool = True                   # LoRA: also save the merged full model
    dtype: str = "auto"                  # auto: bf16 autocast where the hardware is fast at it
    gradient_checkpointing: bool = False
    save_steps: int = Field(default=200, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    logging_steps: int = Field(default=1, ge=1)
    seed: int = 0
    deepspeed: str | None = None         # a DeepSpeed JSON config (see recipes/accelerate/)
    out: str


class StudyConfig(StageConfig):
    """A whole study (``mathsynth run`` / ``mathsynth scale``): base eval -> synth -> train -> eval -> report.

    ``eval``, ``synth`` (a list of jobs, each with a ``name``) and ``train`` hold the fields of
    :class:`EvalConfig`, :class:`SynthConfig` and :class:`TrainConfig` that the study does not set
    itself (model, benchmark, data and out folders); they are validated when the study starts.

    >>> StudyConfig(out="runs/x").benchmarks
    ['gsm8k']
    """

    out: str
    model: str = "smollm2-135m"           # the base model, and the student's starting point
    benchmarks: list[str] = Field(default_factory=lambda: ["gsm8k"])
    eval: dict[str, Any] = Field(default_factory=dict)
    synth: list[dict[str, Any]] = Field(default_factory=list)
    train: dict[str, Any] = Field(default_factory=dict)
    sizes: list[int] | None = None        # scale: nested training-set sizes (geometric)
    real: str | None = None               # scale: also train on this seed data (reference solutions)
    real_sizes: list[int] | None = None   # scale: sizes with a real-data student (default: all that fit)
    real_max_steps: int | None = Field(default=None, ge=1)  # real arm: seeds with at most this many steps
    real_decontam_benchmarks: list[str] | None = None       # real arm: decontaminate against these tests
    real_embeddings: bool = True          # real arm: embedding decontamination, as the synthetic arm
    sampled: dict[str, Any] | None = None  # a second, sampled eval of every model (e.g. {limit: 250, n: 4})
    base_formats: list[str] = Field(default_factory=list)  # also evaluate the base in these prompt formats
    repeat_sizes: list[int] = Field(default_factory=list)   # scale: extra students at these sizes ...
    repeat_seeds: list[int] = Field(default_factory=list)   # ... trained with these other seeds (noise)
    primary_outcome: str | None = None    # pre-registered "bench/data/metric" slope, written to result.json
    report: bool = True


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe into a dict of stage sections.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = p.write_text("eval:\\n  n: 4\\n")
    >>> load_recipe(p)["eval"]["n"]
    4
    """
    import yaml

    path = Path(path)
    if not path.exists():
        raise InputError("recipe file not found", path=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=str(path),
                         line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError("a recipe must be a mapping of stage sections", path=str(path))
    return data


def resolve(cls: type[StageConfig], section: str, recipe: str | Path | None,
            overrides: dict[str, Any]) -> StageConfig:
    """Merge a recipe section with command-line overrides (those not None) and validate.

    >>> resolve(EvalConfig, "eval", None, {"out": "x", "n": 8, "limit": None}).n
    8
    """
    values: dict[str, Any] = {}
    where = "command line"
    if recipe is not None:
        data = load_recipe(recipe)
        values.update(data.get(section) or {})
        where = f"{recipe} (section '{section}') or the command line"
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build(cls, values, f"invalid {section} settings in {where}")


def build(cls: type[StageConfig], values: dict[str, Any], context: str) -> StageConfig:
    """``cls(**values)``, with validation problems as one clear error naming each field.

    >>> build(EvalConfig, {"out": "x", "nn": 3}, "my recipe")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: my recipe: field 'nn': Extra inputs are not permitted
    """
    try:
        return cls(**values)
    except ValidationError as exc:
        msgs = [f"field '{'.'.join(str(x) for x in e['loc']) or '?'}': {e['msg']}" for e in exc.errors()]
        raise MathsynthError(f"{context}: " + "; ".join(msgs)) from None
