"""Benchmark: ``mathsynth train`` vs a plain TRL ``SFTTrainer`` call, same data, model and settings.

Data: the first ``--examples`` GSM8K train problems (reference solutions in the SFT format), as
chat ``messages``. Model: the embedded SmolLM2-135M-Instruct. Both train 1 epoch with the same
batch size, learning rate and max length, on this machine's CPU.

* ours: :func:`mathsynth.train.trainer.run_train` with ``recipes/train-cpu.yaml`` settings and the
  ``chat`` prompt format (so both see the same chat-template text);
* reference: what a user writes first with TRL::

      SFTTrainer(model=path, train_dataset=Dataset.from_list([{"messages": ...}, ...]),
                 args=SFTConfig(output_dir=..., per_device_train_batch_size=B, num_train_epochs=1,
                                max_length=L, learning_rate=LR, use_cpu=True, report_to="none"))

  (``use_cpu=True`` is needed on a CPU machine: TRL's default ``bf16=True`` is refused otherwise.)

Throughput is each trainer's own token count (the ``input_ids`` of its prepared dataset, padding
not counted) divided by the wall time of ``trainer.train()`` alone (model loading, tokenisation and
saving excluded for both). Usage::

    MATHSYNTH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/train.py [--examples 64]

A second reference is TRL *tuned* the way ours runs on a small model: no gradient checkpointing and
batches grouped by length (the same batching as ours). The last line printed is
``train: ours X tok/s, reference Y tok/s, ratio R; tuned reference Z tok/s, ratio Q``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time


def reference(path: str, examples: list[dict], *, batch: int, max_length: int, lr: float, out: str,
              tuned: bool = False) -> float:
    """TRL's SFTTrainer as a user writes it first (``tuned=False``: TRL's defaults), or tuned for a small
    model on CPU the way ours runs (``tuned=True``: no gradient checkpointing, batches grouped by length)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    ds = Dataset.from_list([{"messages": e["messages"]} for e in examples])
    extra = {}
    if tuned:
        extra["gradient_checkpointing"] = False
        # transformers 5 names it train_sampling_strategy; 4.x had group_by_length=True
        names = {f.name for f in dataclasses.fields(SFTConfig)}
        extra.update({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in names
                     else {"group_by_length": True})
    trainer = SFTTrainer(model=path, train_dataset=ds,
                         args=SFTConfig(output_dir=out, per_device_train_batch_size=batch, num_train_epochs=1,
                                        max_length=max_length, learning_rate=lr, use_cpu=True,
                                        report_to="none", save_strategy="no", disable_tqdm=True, **extra))
    tokens = sum(len(x) for x in trainer.train_dataset["input_ids"])
    t0 = time.time()
    trainer.train()
    dt = time.time() - t0
    print(f"reference{' (tuned)' if tuned else ''}: {tokens} tokens in {dt:.1f} s, {trainer.state.global_step} steps "
          f"(bf16={trainer.args.bf16}, gradient_checkpointing={trainer.args.gradient_checkpointing})", flush=True)
    return tokens / dt


def ours(data: str, *, limit: int, batch: int, max_length: int, lr: float, out: str) -> float:
    from mathsynth.config import TrainConfig
    from mathsynth.recipe import load_recipe
    from mathsynth.train.trainer import run_train

    here = os.path.dirname(os.path.abspath(__file__))
    recipe = load_recipe(os.path.join(here, "..", "recipes", "train-cpu.yaml"))["train"]
    recipe.update(data=data, limit=limit, epochs=1, batch_size=batch, max_length=max_length, learning_rate=lr,
                  prompt="chat", save_steps=10**6, out=out)
    s = run_train(TrainConfig(**recipe), show_progress=False)
    print(f"ours: {s['tokens_per_epoch']} tokens in {s['train_runtime_s']:.1f} s, {s['global_step']} steps "
          f"(recipes/train-cpu.yaml: group_by_length, no gradient checkpointing, answer-only LM head)", flush=True)
    return s["tokens_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--lr", type=float, default=5e-5)
    args = ap.parse_args()

    from mathsynth.backends.models import ensure_embedded
    from mathsynth.train.data import load_training_data

    path = str(ensure_embedded())
    data = "gsm8k:train"
    examples, _ = load_training_data(data, limit=args.examples, prompt="chat")
    with tempfile.TemporaryDirectory() as tmp:
        r = reference(path, examples, batch=args.batch_size, max_length=args.max_length, lr=args.lr,
                      out=os.path.join(tmp, "ref"))
        t = reference(path, examples, batch=args.batch_size, max_length=args.max_length, lr=args.lr,
                      out=os.path.join(tmp, "tuned"), tuned=True)
        o = ours(data, limit=args.examples, batch=args.batch_size, max_length=args.max_length, lr=args.lr,
                 out=os.path.join(tmp, "ours"))
    print(f"train: ours {o:.1f} tok/s, reference {r:.1f} tok/s, ratio {o / r:.2f}; "
          f"tuned reference {t:.1f} tok/s, ratio {o / t:.2f}")


if __name__ == "__main__":
    main()
