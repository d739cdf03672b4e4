"""Stage bookkeeping for a study folder: skip finished stages, redo stale ones.

Each stage has a key: a hash of its resolved settings and of the keys of the stages it reads.
``stages.json`` in the study folder records each stage's key and status. On a rerun a stage whose
key matches and that finished is skipped; one that was interrupted runs again (the stages
themselves resume from their own files); one whose key changed (a recipe value it depends on, or
anything upstream of it) has its outputs deleted and runs from scratch, so a changed recipe
invalidates exactly the stages after the change.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mathsynth.contracts import STAGES_FILE
from mathsynth.io import atomic_write_json, read_json
from mathsynth.memory import release_memory


def stage_key(settings: Any, upstream: Sequence[str] = ()) -> str:
    """A short stable hash of a stage's settings and its upstream stage keys.

    >>> stage_key({"n": 4}) == stage_key({"n": 4}), stage_key({"n": 4}) == stage_key({"n": 8})
    (True, False)
    """
    blob = json.dumps({"settings": settings, "upstream": list(upstream)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Pipeline:
    """Runs named stages in a study folder, recording them in ``stages.json``.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> p = Pipeline(root)
    >>> p.stage("a", {"x": 1}, root / "a", lambda: {"made": 1})
    {'made': 1}
    >>> Pipeline(root).stage("a", {"x": 1}, root / "a", lambda: {"made": 2})  # finished: skipped
    {'made': 1}
    >>> Pipeline(root).stage("a", {"x": 5}, root / "a", lambda: {"made": 3})  # changed: redone
    {'made': 3}
    """

    def __init__(self, root: Path, console: Any = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / STAGES_FILE
        self.console = console
        self.state: dict[str, dict] = read_json(self.path, {})
        self.keys: dict[str, str] = {}

    def _say(self, msg: str) -> None:
        if self.console is not None:
            self.console.print(msg)

    def _save(self) -> None:
        atomic_write_json(self.path, self.state)

    def stage(self, name: str, settings: Any, outdir: Path | None, fn: Callable[[], Any],
              upstream: Sequence[str] = ()) -> Any:
        """Run ``fn`` unless stage ``name`` already finished with the same key; returns its result."""
        done, result = self.begin(name, settings, outdir, upstream)
        if done:
            return result
        t0 = time.time()
        result = fn()
        # Models, trainers and optimizer states of a finished stage are garbage now; one process
        # runs every stage of a study, so free them (and the heap pages they held) before the next
        # stage loads its own: otherwise each stage's peak lands on top of the last one's.
        release_memory()
        self.finish(name, result, t0)
        return result

    def begin(self, name: str, settings: Any, outdir: Path | None, upstream: Sequence[str] = ()) -> tuple[bool, Any]:
        """The bookkeeping before a stage runs: ``(True, result)`` when it finished earlier with the
        same key (skip it); else its stale outputs are deleted, it is marked running, ``(False, None)``."""
        key = stage_key(settings, [self.keys[u] for u in upstream])
        self.keys[name] = key
        old = self.state.get(name)
        if old and old.get("key") == key and old.get("status") == "done":
            self._say(f"[dim]stage {name}: done earlier, skipped[/dim]")
            return True, old.get("result")
        if old and old.get("key") != key and outdir is not None and outdir.exists():
            self._say(f"stage {name}: settings or inputs changed, redoing it")
            shutil.rmtree(outdir)
        elif old:
            self._say(f"stage {name}: resuming")
        else:
            self._say(f"[bold]stage {name}[/bold]")
        self.state[name] = {"key": key, "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self._save()
        return False, None

    def finish(self, name: str, result: Any, t0: float, **extra: Any) -> None:
        """Record stage ``name`` as done with its result (``t0``: when it started; ``extra``: more
        facts for its entry, such as where it ran)."""
        self.state[name] = {"key": self.state[name]["key"], "status": "done", "seconds": round(time.time() - t0, 1),
                            **extra, "result": result}
        self._save()

    def result(self, value: Any) -> Any:
        """A stage's result as ``stage`` returned it (here: itself; a concurrent pipeline waits)."""
        return value

    def wait(self) -> None:
        """Until every stage started is done (here: nothing to wait for)."""
