"""Write the trained student as a plain Hugging Face folder that ``mathsynth eval`` and vLLM load.

Files are written to a temporary sibling folder and moved into MODELDIR one by one, then the
manifest marks the training done, so a kill during export never leaves a folder that claims to be
finished with half-written weights.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mathsynth.config import TrainConfig
from mathsynth.train.encode import chat_template_for


def _generation_config(base: str, tok):
    from transformers import GenerationConfig

    try:
        gen = GenerationConfig.from_pretrained(base)
    except (OSError, ValueError):
        gen = GenerationConfig()
    # The student ends its answer with the tokenizer's end-of-turn token (see encode.split_prompt).
    eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    eos = [e for e in eos if e is not None]
    if tok.eos_token_id is not None and tok.eos_token_id not in eos:
        eos.append(tok.eos_token_id)
    gen.eos_token_id = eos[0] if len(eos) == 1 else eos
    gen.pad_token_id = tok.pad_token_id
    return gen


def export_model(trainer, tok, out: Path, cfg: TrainConfig, base: str) -> None:
    """Save weights (LoRA: the adapter in ``adapter/`` and, unless ``merge`` is off, the merged model),
    tokenizer with the chat template the student was taught in, and generation config into ``out``."""
    import torch

    tmp = out / ".export-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if cfg.lora_r:
        model.save_pretrained(tmp / "adapter")
        if cfg.merge:
            merged = model.merge_and_unload()
            merged.to(torch.bfloat16 if trainer.args.bf16 else merged.dtype).save_pretrained(tmp)
    elif trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        trainer.save_model(str(tmp))  # gathers sharded weights
    else:
        # Trained with bf16 autocast: store bf16 (half the disk; what evaluation loads anyway).
        model.to(torch.bfloat16 if trainer.args.bf16 else model.dtype).save_pretrained(tmp)
    tok.chat_template = chat_template_for(cfg.prompt, tok)
    tok.save_pretrained(tmp)
    if not cfg.lora_r or cfg.merge:
        _generation_config(base, tok).save_pretrained(tmp)
    for item in tmp.iterdir():
        dest = out / item.name
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(item, dest)
    tmp.rmdir()
