"""The training stage: SFT a student on ``messages`` data with TRL (full or LoRA), resumable.

MODELDIR holds, when done, a Hugging Face model folder (safetensors, tokenizer with the chat template
the student was taught in, generation config) plus ``train_config.json`` (resolved settings, data
counts, status and summary), ``train_log.jsonl`` (loss and learning rate per logging step) and
``checkpoints/``. A rerun of a finished folder does nothing; a rerun after an interruption resumes
from the newest complete checkpoint; a rerun with other training settings is refused, so one folder
never mixes two trainings (``--restart`` starts over).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from mathsynth.config import TrainConfig
from mathsynth.contracts import TRAIN_CONFIG_FILE, TRAIN_LOG_FILE
from mathsynth.errors import MathsynthError
from mathsynth.io import atomic_write_json, locked_out, read_json, run_manifest

# Settings that do not change the trained weights; they may differ between a run and its resume.
_NON_TRAINING_KEYS = ("out", "save_steps", "save_total_limit", "logging_steps", "merge", "deepspeed")


def fingerprint(cfg: TrainConfig) -> dict:
    """The settings a resumed or finished training must share with this one.

    >>> "out" in fingerprint(TrainConfig(data="x.jsonl", out="m"))
    False
    """
    return {k: v for k, v in cfg.model_dump().items() if k not in _NON_TRAINING_KEYS}


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* checkpoint: the trainer writes ``trainer_state.json`` last, so a folder
    without it was cut short by a kill and is skipped.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "checkpoint-4").mkdir(); _ = (d / "checkpoint-4" / "trainer_state.json").write_text("{}")
    >>> (d / "checkpoint-6").mkdir()   # interrupted while saving
    >>> latest_checkpoint(d).name
    'checkpoint-4'
    """
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").exists()
            and p.name.split("-")[-1].isdigit()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _precision(dtype: str) -> dict:
    import torch

    from mathsynth.models import pick_dtype

    # The same choice as generation: bf16 autocast where the hardware is fast at it, else fp32.
    dt = pick_dtype(dtype, "cuda" if torch.cuda.is_available() else "cpu")
    return {"bf16": dt == torch.bfloat16, "fp16": dt == torch.float16}


def prepare_folder(cfg: TrainConfig, *, resume: bool | None, restart: bool) -> tuple[Path | None, dict | None]:
    """Decide what to do with MODELDIR: (checkpoint to resume from, finished manifest or None)."""
    out = Path(cfg.out)
    old = read_json(out / TRAIN_CONFIG_FILE)
    if restart:
        for name in ("checkpoints", TRAIN_LOG_FILE, TRAIN_CONFIG_FILE):
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        old = None
    if old is not None and old.get("fingerprint") != fingerprint(cfg):
        was = old.get("fingerprint", {})
        diffs = [f"{k}: {was.get(k)!r} -> {v!r}" for k, v in fingerprint(cfg).items() if was.get(k) != v]
        raise MathsynthError(f"{out} holds a training with other settings ({'; '.join(diffs)}); use another "
                             "--out or --restart to start over")
    if old is not None and old.get("status") == "done":
        return None, old
    ckpt = latest_checkpoint(out / "checkpoints")
    if resume and ckpt is None:
        raise MathsynthError(f"--resume: {out}/checkpoints holds no complete checkpoint to resume from")
    if resume is False:
        ckpt = None
    return ckpt, None


def _empty_note(counts: dict) -> str:
    n = sum(c.get("dropped_empty_answer", 0) for c in counts.values())
    return f"; {n} with an empty answer dropped" if n else ""


def data_sha256(examples: list[dict]) -> str:
    """A hash of the selected examples' content (ids and messages, in training order): what a
    resumed training must still be trained on.

    >>> ex = [{"id": "a", "source": "s.jsonl", "messages": [{"role": "user", "content": "1+1?"}]}]
    >>> data_sha256(ex) == data_sha256([dict(ex[0], source="elsewhere.jsonl")])
    True
    """
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e["id"], e["messages"]], ensure_ascii=False, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def _refuse_changed_data(out: Path, cfg: TrainConfig, data_hash: str, *, resuming: bool) -> None:
    """A checkpoint (or a finished model) trained on other data must not be continued silently."""
    old = read_json(out / "train_config.json")
    if resuming and old and old.get("data_sha256") and old["data_sha256"] != data_hash:
        raise MathsynthError(f"{out} was trained on other data: the content of --data {cfg.data} changed since "
                             "its checkpoint; use another --out, or --restart to train on the new data")


def _sft_args(cfg: TrainConfig, out: Path):
    import warnings

    import torch
    from trl import SFTConfig

    # TRL's config still names the field gradient_checkpointing, which transformers 5 warns about.
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)

    try:
        return _make_sft_config(SFTConfig, cfg, out, use_cpu=not torch.cuda.is_available())
    except ValueError as exc:  # e.g. an unknown scheduler name: report it as a settings problem
        raise MathsynthError(f"invalid training settings: {exc}") from None


def _make_sft_config(SFTConfig, cfg: TrainConfig, out: Path, *, use_cpu: bool):
    return SFTConfig(
        output_dir=str(out / "checkpoints"), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay, max_length=cfg.max_length, packing=cfg.packing,
        packing_strategy="bfd", padding_free=cfg.packing,
        train_sampling_strategy="group_by_length" if cfg.group_by_length and not cfg.packing else "random",
        gradient_checkpointing=cfg.gradient_checkpointing, logging_steps=cfg.logging_steps,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        seed=cfg.seed, data_seed=cfg.seed, report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, deepspeed=cfg.deepspeed, use_cpu=use_cpu, **_precision(cfg.dtype))


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha or 2 * cfg.lora_r, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_targets if cfg.lora_targets == "all-linear"
                      else [t.strip() for t in cfg.lora_targets.split(",")], task_type="CAUSAL_LM")


@locked_out("train")
def run_train(cfg: TrainConfig, *, console: Any = None, show_progress: bool = True,
              resume: bool | None = None, restart: bool = False) -> dict:
    """Fine-tune ``cfg.model`` on ``cfg.data`` into ``cfg.out``; returns the summary (also in
    ``train_config.json``). ``resume``: None resumes when a checkpoint exists, True requires one,
    False ignores checkpoints.

    >>> from mathsynth.config import TrainConfig
    >>> run_train(TrainConfig(model="smollm2-135m", data="demo", limit=8, max_steps=2,
    ...                       out="/tmp/m"))["global_step"]  # doctest: +SKIP
    2
    """
    from mathsynth.formats import get_format
    from mathsynth.models import weights_path
    from mathsynth.train.data import load_training_data
    from mathsynth.train.encode import encode

    get_format(cfg.prompt)  # unknown prompt format: fail before loading anything
    out = Path(cfg.out)
    ckpt, finished = prepare_folder(cfg, resume=resume, restart=restart)
    examples, counts = load_training_data(cfg.data, limit=cfg.limit, prompt=cfg.prompt)
    data_hash = data_sha256(examples)
    _refuse_changed_data(out, cfg, data_hash, resuming=ckpt is not None or finished is not None)
    if finished is not None:
        if console is not None:
            console.print(f"{out} is already trained with these settings; nothing to do (--restart to redo)")
        return finished["summary"]
    base = weights_path(cfg.model)

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    rows, estats = encode(examples, tok, prompt=cfg.prompt, max_length=cfg.max_length,
                          over_length=cfg.over_length)
    manifest = run_manifest("train", cfg.model_dump())
    manifest.update(status="running", fingerprint=fingerprint(cfg), base_weights=base, data=counts,
                    encode=estats.to_dict(), data_sha256=data_hash, ids_sha256=hashlib.sha256(
                        "\n".join(e["id"] for e in examples).encode()).hexdigest())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / TRAIN_CONFIG_FILE, manifest)
    if console is not None:
        console.print(f"training on {estats.kept} examples ({estats.tokens:,} tokens; "
                      f"{estats.dropped_over_length} dropped, {estats.truncated} truncated for max_length "
                      f"{cfg.max_length}{_empty_note(counts)})" + (f"; resuming from {ckpt.name}" if ckpt else ""))
    trainer = _build_trainer(cfg, base, tok, rows, estats.tokens, console, show_progress)
    from mathsynth.train.callbacks import trim_log

    # Training restarts at the checkpoint's step, or at 0 without one (a kill before the first
    # checkpoint): the log keeps no step that will be logged again.
    trim_log(out / TRAIN_LOG_FILE, int(ckpt.name.split("-")[-1]) if ckpt is not None else 0)
    epoch0, t0 = trainer.state.epoch or 0.0, time.time()
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    runtime = time.time() - t0
    if trainer.is_world_process_zero():
        from mathsynth.train.export import export_model

        export_model(trainer, tok, out, cfg, base)
    state = trainer.state
    summary = {"global_step": state.global_step, "epochs": round(float(state.epoch or 0), 4),
               "examples": estats.kept, "tokens_per_epoch": estats.tokens,
               "train_runtime_s": round(runtime, 2), "resumed_from": ckpt.name if ckpt else None,
               "tokens_per_s": round(estats.tokens * (float(state.epoch or 0) - epoch0) / max(runtime, 1e-9), 1),
               "final_loss": next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None),
               "first_loss": next((h["loss"] for h in state.log_history if "loss" in h), None)}
    manifest.update(status="done", summary=summary)
    if trainer.is_world_process_zero():
        atomic_write_json(out / TRAIN_CONFIG_FILE, manifest)
    return summary


def _build_trainer(cfg, base, tok, rows, tokens, console, show_progress):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PrinterCallback

    from mathsynth.models import quiet_transformers
    from mathsynth.train.callbacks import JsonlLogCallback, ProgressCallback
    from mathsynth.train.loss import CompactSFTTrainer

    quiet_transformers()
    out = Path(cfg.out)
    # fp32 master weights; bf16 is applied as autocast, which keeps the optimizer update exact.
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    # With a KV cache object present, transformers skips packed-sequence detection from position_ids
    # and packed examples attend to each other (tests/test_train.py checks this); training never
    # needs the cache anyway.
    model.config.use_cache = False
    callbacks = [JsonlLogCallback(out / TRAIN_LOG_FILE)]
    if show_progress:
        callbacks.append(ProgressCallback(console, tokens))
    trainer = CompactSFTTrainer(model=model, args=_sft_args(cfg, out), train_dataset=Dataset.from_list(rows),
                                processing_class=tok, peft_config=_lora_config(cfg) if cfg.lora_r else None,
                                callbacks=callbacks)
    # With tqdm off the trainer prints every log dict; our log file and progress bar replace that.
    trainer.remove_callback(PrinterCallback)
    return trainer
