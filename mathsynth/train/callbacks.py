"""Trainer callbacks: the per-step JSONL log and a rich progress bar with loss and tokens/s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mathsynth.io import JsonlAppender, atomic_write_jsonl, read_jsonl

# Keys of the trainer's final summary log; they go to the manifest, not the per-step log.
_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss")


def trim_log(path: Path, last_step: int) -> int:
    """Keep only log records up to ``last_step`` (a resume restarts from that checkpoint, so later
    records would otherwise appear twice); returns how many were kept.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = atomic_write_jsonl(p, [{"step": 1}, {"step": 2}, {"step": 3}])
    >>> trim_log(p, 2), [r["step"] for r in read_jsonl(p)]
    (2, [1, 2])
    """
    if not path.exists():
        return 0
    keep = [r for r in read_jsonl(path, tolerate_truncated_tail=True) if r.get("step", 0) <= last_step]
    atomic_write_jsonl(path, keep)
    return len(keep)


class JsonlLogCallback(TrainerCallback):
    """Append one record per logging step to ``train_log.jsonl``: step, epoch, loss, learning rate,
    grad norm, tokens seen and elapsed seconds, flushed as it goes (main process only)."""

    def __init__(self, path: Path):
        self.path = path
        self.t0 = time.time()
        self._out: JsonlAppender | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or any(k in logs for k in _SUMMARY_KEYS):
            return
        if self._out is None:
            self._out = JsonlAppender(self.path, fsync=False)
        rec: dict[str, Any] = {"step": state.global_step, "epoch": round(float(state.epoch or 0), 4)}
        rec.update({k: v for k, v in logs.items() if isinstance(v, int | float) and k != "epoch"})
        rec["elapsed_s"] = round(time.time() - self.t0, 2)
        self._out.write(rec)

    def on_train_end(self, args, state, control, **kwargs):
        if self._out is not None:
            self._out.close()
            self._out = None


class ProgressCallback(TrainerCallback):
    """Steps done of total, the latest loss and training tokens per second, in a rich progress bar."""

    def __init__(self, console: Any, tokens_per_epoch: int):
        self.console = console
        self.tokens_per_epoch = tokens_per_epoch
        self.tokens_per_step = 0.0
        self.progress = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from mathsynth.progress import progress_bar

        self.tokens_per_step = self.tokens_per_epoch * state.num_train_epochs / max(state.max_steps, 1)
        self.progress = progress_bar(self.console, True, "loss {task.fields[loss]}", "{task.fields[speed]}")
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step,
                                           loss="-", speed="")
        self._t, self._s = time.time(), state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is None:
            return
        rate = (state.global_step - self._s) * self.tokens_per_step / max(time.time() - self._t, 1e-9)
        self.progress.update(self.task, completed=state.global_step, speed=f"{rate:,.0f} tok/s")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is not None and logs and "loss" in logs:
            self.progress.update(self.task, loss=f"{logs['loss']:.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
