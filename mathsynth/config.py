"""Typed stage configs (pydantic): each option is declared here once, with its help text.

Every field's ``description`` is its help text; the command line (:mod:`mathsynth.cli_options`)
derives one ``--flag`` per field from it, and ``json_schema_extra`` carries what the CLI needs
beyond the type: ``aliases`` (older flag spellings that keep working) and ``path`` (a file or
folder). Recipes (:mod:`mathsynth.recipe`) are typed by the same classes. Unknown keys are errors,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import types
import typing
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mathsynth.errors import MathsynthError

PATH = {"path": True}  # json_schema_extra of a field holding a file or folder name


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    #: The CLI help panel of the fields a class declares itself (None: the command's main options).
    cli_panel: ClassVar[str | None] = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``n: true`` in a recipe is a mistake, not 1: pydantic reads a bool as a number, we refuse.

        >>> EvalConfig(out="x", n=True)
        Traceback (most recent call last):
        pydantic_core._pydantic_core.ValidationError: 1 validation error for EvalConfig
        n
          Value error, expected a number, got the boolean True ...
        """
        if isinstance(value, bool) and _numbers_only(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected a number, got the boolean {value}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _executor_mapping(cls, data: Any) -> Any:
        """A recipe may write ``executor: {kind: ray, address: ..., workers: 4}``: the same fields as
        the flags (--executor, --ray-address, --workers, --gpus-per-worker), nested.

        >>> c = EvalConfig(out="x", executor={"kind": "ray", "address": "auto", "workers": 4})
        >>> c.executor, c.ray_address, c.workers
        ('ray', 'auto', 4)
        """
        if isinstance(data, dict) and isinstance(data.get("executor"), dict) and "ray_address" in cls.model_fields:
            nested = dict(data["executor"])
            unknown = sorted(set(nested) - set(EXECUTOR_KEYS))
            if unknown:
                raise ValueError(f"executor: unknown key(s) {', '.join(unknown)} (use {', '.join(EXECUTOR_KEYS)})")
            data = {k: v for k, v in data.items() if k != "executor"}
            data.update({EXECUTOR_KEYS[k]: v for k, v in nested.items()})
        return data


def _numbers_only(annotation: Any) -> bool:
    """True for int, float and their optional forms (bool itself is a subclass of int)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    kinds = {a for a in args if a is not type(None)}
    return bool(kinds) and kinds <= {int, float}


#: The nested recipe form of the executor fields: key -> field.
EXECUTOR_KEYS = {"kind": "executor", "address": "ray_address", "workers": "workers",
                 "gpus_per_worker": "gpus_per_worker"}


#: Config fields that say where work runs, not what it makes: never part of a stage or record key.
EXECUTOR_FIELDS = frozenset(EXECUTOR_KEYS.values())


class ExecutorOptions(StageConfig):
    """Where generation runs: this process (``local``) or a pool of Ray actors (``ray``, see
    ``mathsynth.backends.ray_pool``). Not part of any record's settings: a run may switch executor and
    resume, since both write the same records.

    >>> ExecutorOptions().executor, ExecutorOptions(executor="ray").workers
    ('local', 2)
    """

    cli_panel = "Executor"

    executor: Literal["local", "ray"] = Field("local", description="local (this process) or ray (a pool of Ray "
                                              "actors, one generator each; needs mathsynth[ray])")
    ray_address: str | None = Field(None, description="ray: the cluster: auto (the one `ray start` runs here), "
                                    "ray://host:10001, or omit for a private local cluster")
    workers: int = Field(2, ge=1, description="ray: actors, each holding one generator")
    gpus_per_worker: float = Field(0.0, ge=0, description="ray: GPUs each actor asks for (0: CPU)")


class BackendOptions(ExecutorOptions):
    """How to run the model, shared by every stage that generates (see ``load_generator``).

    >>> BackendOptions().cache, BackendOptions().max_concurrency
    (True, 16)
    """

    cli_panel = "Backend"

    base_url: str | None = Field(None, description="openai: server URL when the model name has no @url "
                                                   "(else $OPENAI_BASE_URL or the OpenAI API)")
    max_concurrency: int = Field(16, ge=1, description="openai: HTTP requests in flight")
    rpm: float | None = Field(None, gt=0, description="openai: requests per minute")
    tpm: float | None = Field(None, gt=0, description="openai: tokens per minute")
    request_timeout: float = Field(120.0, gt=0, description="openai: seconds per request")
    stall_timeout: float | None = Field(None, gt=0, description="openai: fail when no reply comes for this many "
                                        "seconds while requests are in flight (default 90 on loopback or a "
                                        "private network, 600 for a remote API)")
    max_retries: int = Field(6, ge=0, description="openai: retries per request")
    max_cost: float | None = Field(None, ge=0, description="openai: stop (resumably) after spending this many USD")
    prices: dict[str, tuple[float, float]] | None = Field(
        None, description="model -> (USD per 1M input tokens, per 1M output tokens), for max_cost")
    cache: bool = Field(True, description="the SQLite response cache")
    cache_path: str | None = Field(None, description="response cache file (default: $MATHSYNTH_CACHE/responses.sqlite)")
    tensor_parallel_size: int | None = Field(None, ge=1, description="vllm: GPUs per model")
    data_parallel_size: int | None = Field(None, ge=1, description="vllm: model replicas")
    n_ctx: int | None = Field(None, ge=256, description="llamacpp: context length")

    def backend_kwargs(self) -> dict:
        """Keyword arguments for :func:`mathsynth.backends.load_generator`."""
        return {k: getattr(self, k) for k in BackendOptions.model_fields}  # executor fields included


class EvalConfig(BackendOptions):
    """Settings of ``mathsynth eval``.

    >>> EvalConfig(model="fake", benchmark="demo", out="runs/x").n
    1
    """

    model: str = Field("smollm2-135m", description="smollm2-135m, hf:<id>, folder, .gguf, openai:<model>[@url], "
                                                   "vllm:<id>, llamacpp:<file.gguf>")
    benchmark: str = Field("gsm8k", description="gsm8k, math, math500, svamp, asdiv, demo, or a .jsonl")
    split: str = Field("test", description="benchmark split")
    limit: int | None = Field(None, ge=1, description="first K problems only")
    n: int = Field(1, ge=1, description="samples per problem (N)")
    temperature: float = Field(0.7, ge=0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling top-p")
    max_tokens: int = Field(512, ge=1, description="max new tokens per answer")
    greedy_first: bool = Field(False, description="also decode one greedy answer for Pass@1")
    prompt: str = Field("chat", description="prompt format: chat, chat-fewshot, vicuna, vicuna-fewshot")
    seed: int = Field(0, description="sampling seed")
    batch_size: int = Field(64, ge=1, description="sequences per forward pass")
    dtype: str = Field("auto", description="auto, bf16, fp16 or fp32")
    rules: list[str] | None = Field(None, description="extraction rules, in order (default: the benchmark's)")
    truncated_fallback: bool = Field(False, description="grade a completion cut off at the token limit by its last "
                                                        "number (old behaviour; default: no answer)")
    grade_workers: int | None = Field(None, ge=1, description="grading worker processes (default: one per core)")
    grade_timeout: float = Field(5.0, gt=0, description="seconds to grade one answer before giving up on it")
    out: str = Field(description="run folder for samples.jsonl, metrics.json, config.json", json_schema_extra=PATH)


class SynthConfig(BackendOptions):
    """Settings of ``mathsynth synth`` (defaults follow the paper: teacher temperature 1.0).

    >>> SynthConfig(seeds="demo", teacher="symbolic", out="runs/s").answers
    4
    """

    seeds: str = Field("gsm8k:train", description="gsm8k:train, math:train, or a .jsonl of {question, answer}")
    split: str | None = Field(None, description="seed split (default: train where the benchmark has one)")
    teacher: str = Field("symbolic", description="'symbolic' (no LLM) or a model: openai:gpt-4-turbo, ...")
    mode: str = Field("question-verify", description="question-verify, question-plain, add-constraint, "
                      "change-numbers, change-background, change-numbers-background, rephrase")
    style: str | None = Field(None, description="gsm8k or math (default: from the seeds)")
    prompt_file: str | None = Field(None, description="your own question template with {question}",
                                    json_schema_extra=PATH)
    per_seed: int = Field(1, ge=1, description="new problems per seed (K)")
    answers: int = Field(4, ge=1, description="teacher answers per new problem (M)")
    limit: int | None = Field(None, ge=1, description="first S seeds only")
    temperature: float = Field(1.0, ge=0, description="teacher temperature (paper: 1.0)")
    top_p: float = Field(1.0, gt=0, le=1, description="teacher nucleus sampling top-p")
    max_tokens: int = Field(1024, ge=1, description="max tokens per teacher reply")
    min_agreement: float = Field(0.5, ge=0, le=1, description="share of the M answers that must agree")
    max_solution_chars: int = Field(6000, ge=100, description="reject solutions longer than this")
    max_question_chars: int = Field(4000, ge=100, description="reject seed and new questions longer than this "
                                    "(characters), before any teacher call for a seed")
    dedup_threshold: float = Field(0.8, gt=0, le=1, description="near-duplicate question similarity (MinHash)")
    dedup_keep_number_variants: bool = Field(True, description="near-duplicates must share their numbers: "
                                                               "number variants of one question are kept")
    seed_max_steps: int | None = Field(None, ge=1, description="only seeds with at most this many solution steps")
    decontam_ngram: int = Field(13, ge=3, description="word n-gram length of the test-set overlap check")
    decontam_embed_threshold: float = Field(0.9, gt=0, le=1, description="embedding similarity to a test "
                                                                          "problem that rejects")
    decontam_embeddings: bool = Field(True, description="embedding decontamination (slow on CPU)",
                                      json_schema_extra={"aliases": ["--embeddings/--no-embeddings"]})
    decontam_benchmarks: list[str] | None = Field(None, description="test sets to decontaminate against "
                                                                    "(default: all registered)")
    eval_prompt: str = Field("vicuna", description="the SFT user turn uses this evaluation prompt format")
    seed: int = Field(0, description="sampling seed")
    batch_size: int = Field(32, ge=1, description="teacher requests per generate call")
    dtype: str = Field("auto", description="teacher weights: auto, bf16, fp16 or fp32")
    out: str = Field(description="folder for questions/rejects/sft .jsonl and stats.json", json_schema_extra=PATH)


class TrainConfig(StageConfig):
    """Settings of ``mathsynth train`` (defaults: the paper's recipe, scaled by the YAML recipes).

    >>> c = TrainConfig(data="sft.jsonl", out="models/s")
    >>> c.learning_rate, c.lr_scheduler, c.warmup_ratio, c.epochs
    (2e-05, 'cosine', 0.04, 3.0)
    """

    model: str = Field("smollm2-135m", description="student: smollm2-135m, hub id, folder or .gguf")
    data: str = Field(description="FILE.jsonl[,FILE2.jsonl:ratio] of chat messages, or gsm8k:train "
                                  "(reference solutions)")
    limit: int | None = Field(None, ge=1, description="first N examples of a fixed hash order (nested sizes)")
    prompt: str = Field("vicuna", description="prompt format taught (evaluate with the same): vicuna, chat")
    epochs: float = Field(3.0, gt=0, description="passes over the data")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    learning_rate: float = Field(2e-5, gt=0, description="peak learning rate")
    lr_scheduler: str = Field("cosine", description="learning-rate schedule (a transformers scheduler name)")
    warmup_ratio: float = Field(0.04, ge=0, lt=1, description="share of the steps with linear warmup")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_length: int = Field(2048, ge=16, description="max tokens per example")
    over_length: str = Field("drop", pattern="^(drop|truncate)$", description="drop or truncate examples over "
                                                                              "max_length")
    batch_size: int = Field(8, ge=1, description="sequences (or packed rows) per device per step")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    packing: bool = Field(False, description="pack examples padding-free, no cross-example attention "
                                             "(best with flash attention)")
    group_by_length: bool = Field(True, description="without packing: batch similar lengths to cut padding")
    lora_r: int | None = Field(None, ge=1, description="LoRA rank (omit for full fine-tuning)")
    lora_alpha: int | None = Field(None, ge=1, description="LoRA alpha (default: 2 x rank)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    lora_targets: str = Field("all-linear", description="LoRA target modules: all-linear or comma-separated names")
    merge: bool = Field(True, description="LoRA: also save the merged model")
    dtype: str = Field("auto", description="auto (bf16 autocast where fast), bf16, fp16, fp32")
    gradient_checkpointing: bool = Field(False, description="recompute activations to save memory")
    save_steps: int = Field(200, ge=1, description="checkpoint every N steps")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept")
    logging_steps: int = Field(1, ge=1, description="log loss and learning rate every N steps")
    seed: int = Field(0, description="training seed")
    deepspeed: str | None = Field(None, description="a DeepSpeed JSON config (see recipes/accelerate/)",
                                  json_schema_extra=PATH)
    out: str = Field(description="model folder to write (MODELDIR)", json_schema_extra=PATH)


class StudyExecutor(StageConfig):
    """Where a study's stages run (a study recipe's top-level ``executor:``; stage keys ignore it).

    >>> StudyExecutor(kind="ray", gpus_per_train=8).gpus_per_eval
    0.0
    """

    kind: Literal["local", "ray"] = Field("local", description="local (one stage after another) or ray "
                                                                    "(independent stages as concurrent Ray tasks)")
    address: str | None = Field(None, description="ray: the cluster (auto, ray://host:10001; omit: a private "
                                                  "local one)")
    gpus_per_train: float = Field(0.0, ge=0, description="ray: GPUs per training task (> 1: accelerate launch "
                                                         "inside the task, one process per GPU)")
    gpus_per_eval: float = Field(0.0, ge=0, description="ray: GPUs per eval task")
    cpus_per_stage: float = Field(1.0, gt=0, description="ray: CPUs each stage task asks for")


def build(cls: type[BaseModel], values: dict[str, Any], context: str) -> Any:
    """``cls(**values)``, with validation problems as one clear error naming each field.

    >>> build(EvalConfig, {"out": "x", "nn": 3}, "my recipe")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: my recipe: field 'nn': Extra inputs are not permitted
    """
    try:
        return cls(**values)
    except ValidationError as exc:
        raise MathsynthError(f"{context}: {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError, where: Any = None) -> str:
    """One line for all problems of a validation; ``where(loc)`` may name a location (a file line).

    >>> try:
    ...     EvalConfig(out="x", n=0)
    ... except ValidationError as e:
    ...     describe_errors(e)
    "field 'n': Input should be greater than or equal to 1"
    """
    msgs = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        head = (where(loc) or "") if where else ""
        msgs.append(f"{head}field '{'.'.join(str(x) for x in loc)}': {msg}" if loc else f"{head}{msg}")
    return "; ".join(msgs)
