"""A study's independent stages run concurrently as Ray tasks (``executor: {kind: ray}`` in a study
recipe): each benchmark's eval, each synth job, each student's training and then its evals.

:class:`RayPipeline` is a :class:`~mathsynth.scale.pipeline.Pipeline` whose ``stage`` submits the
stage as a Ray task instead of running it: the task waits for the tasks of its upstream stages (Ray
passes their results as arguments, so Ray orders them, not us) and asks for the resources its kind
needs (``gpus_per_train``, ``gpus_per_eval``). Everything stateful stays on the driver: stage keys,
skip-on-rerun and invalidation (``begin``, before submitting) and every ``stages.json`` write
(``finish``, as each task returns). A killed driver leaves its running stages "running", so the
rerun resumes them, from their own files, as the sequential study does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mathsynth.config import StudyExecutor
from mathsynth.errors import MathsynthError
from mathsynth.scale.pipeline import Pipeline


def _run(fn: Callable[[], Any], *upstream: Any) -> dict:
    """Run one stage in a Ray task; ``upstream`` are the stages it reads (Ray waited for them)."""
    import socket

    t0 = time.time()
    result = fn()
    return {"result": result, "ran": [round(t0, 3), round(time.time(), 3)], "host": socket.gethostname(),
            "pid": os.getpid()}


class RayPipeline(Pipeline):
    """Submits stages as Ray tasks; ``wait()`` collects them (see the module docstring).

    >>> RayPipeline(Path(tempfile.mkdtemp()), StudyExecutor(kind="ray"))  # doctest: +SKIP
    """

    def __init__(self, root: Path, executor: StudyExecutor, console: Any = None):
        from mathsynth.backends.ray_pool import connect, import_ray

        super().__init__(root, console)
        self.ray = import_ray()
        self.executor = executor
        self.started = connect(executor.address)
        self.refs: dict[str, Any] = {}  # stage -> its task, while it runs
        self.t0: dict[str, float] = {}

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
            self.started = False

    def stage(self, name: str, settings: Any, outdir: Path | None, fn: Callable[[], Any],
              upstream: Sequence[str] = ()) -> Any:
        done, result = self.begin(name, settings, outdir, upstream)
        if done:
            return result
        kind = name.split(":")[0]
        gpus = self.executor.gpus_per_train if kind == "train" else \
            self.executor.gpus_per_eval if kind in ("eval", "base-eval") else 0
        task = self.ray.remote(_run).options(num_cpus=self.executor.cpus_per_stage, num_gpus=gpus, name=name,
                                             max_retries=1)
        self.t0[name] = time.time()
        self.refs[name] = task.remote(fn, *[self.refs[u] for u in upstream if u in self.refs])
        return self.refs[name]

    def result(self, value: Any) -> Any:
        if isinstance(value, self.ray.ObjectRef):
            self.wait()
            return self.ray.get(value)["result"]
        return value

    def wait(self) -> None:
        """Record each stage as its task returns; after a failure the others in flight still finish
        (and are recorded) before the first error is raised."""
        from ray.exceptions import RayTaskError

        first: BaseException | None = None
        while self.refs:
            by_ref = {r: n for n, r in self.refs.items()}
            ready, _ = self.ray.wait(list(by_ref), num_returns=1)
            name = by_ref[ready[0]]
            ref = self.refs.pop(name)
            try:
                result = self.ray.get(ref)
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                first = first or (cause if isinstance(cause, MathsynthError) else
                                  MathsynthError(f"stage {name} failed on Ray: {cause or exc}"))
                self._say(f"[red]stage {name}: failed[/red]")
                continue
            # When and where the task ran (the driver's own times are submission times).
            self.finish(name, result["result"], self.t0.pop(name, time.time()), ran=result["ran"],
                        host=result["host"], pid=result["pid"])
            self._say(f"stage {name}: done")
        if first is not None:
            raise first


def train_with_accelerate(tcfg: Any, gpus: int) -> dict:
    """Train with ``accelerate launch`` over ``gpus`` local GPUs (inside a Ray task that holds them):
    the config goes as a recipe file, so the processes run exactly ``mathsynth train`` with it.

    >>> train_with_accelerate(None, 8)  # doctest: +SKIP
    """
    import yaml

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump({"train": tcfg.model_dump()}, fh)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(gpus), "-m",
           "mathsynth.cli", "train", "--recipe", fh.name]
    try:
        proc = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True)
    finally:
        Path(fh.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MathsynthError(f"accelerate launch of training into {tcfg.out} failed: {tail[0]}")
    return {"accelerate_processes": gpus, "out": tcfg.out}
