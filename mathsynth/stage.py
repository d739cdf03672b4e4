"""The skeleton that the generating stages (eval, synth) share, so each runner keeps only its loop.

A stage writes one record per unit of work (a problem, a synthesized unit) to one JSON Lines file
in its ``--out``. :class:`StageRun` owns what is the same for both: resuming from that file (a
truncated last line from a crash is cut; records that failed for a transient reason are dropped so
this run redoes them), refusing to mix settings in one folder, loading the generator only when
there is work for it, writing the manifest, and closing what it opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mathsynth.contracts import CONFIG_FILE
from mathsynth.errors import MathsynthError
from mathsynth.io import (
    JsonlAppender,
    atomic_write_json,
    atomic_write_jsonl,
    read_json,
    read_jsonl,
    refuse_mixed_settings,
    run_manifest,
    settings_key,
)
from mathsynth.memory import release_memory


class StageRun:
    """One run of a generating stage in ``cfg.out``.

    ``keys`` are the config fields that shape each record: a rerun into the same folder must match
    them. ``retryable(record)`` says whether a record written earlier failed for a transient reason
    (transport error, timeout, budget stop), in which case it is dropped and redone.

    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> cfg = SimpleNamespace(out=tempfile.mkdtemp(), seed=0, model_dump=lambda: {"seed": 0})
    >>> with StageRun(cfg, "eval", "samples.jsonl", "samples", keys=("seed",)) as run:
    ...     done = run.resume()
    ...     _ = run.start(None, needed=False)
    ...     with run.appender() as sink:
    ...         sink.write({"id": "a", "settings_key": run.key})
    >>> cfg.seed = 7
    >>> with StageRun(cfg, "eval", "samples.jsonl", "samples", keys=("seed",)) as run:
    ...     run.resume()
    Traceback (most recent call last):
    mathsynth.errors.MathsynthError: ... already holds samples made with other settings (seed: 0 -> 7); use another --out or delete the folder
    """

    def __init__(self, cfg: Any, stage: str, records: str, what: str, *, keys: Iterable[str],
                 retryable: Callable[[dict], bool] = lambda r: False):
        self.cfg, self.stage, self.what = cfg, stage, what
        self.out = Path(cfg.out)
        self.path = self.out / records
        self.settings = {k: getattr(cfg, k) for k in keys}
        self.key = settings_key(self.settings)
        self.retryable = retryable
        self.generator: Any = None
        self.owns_generator = False
        self.redo = 0

    def __enter__(self) -> StageRun:
        self.out.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        """Close and drop the generator this run loaded and give its memory back (a given one stays
        open: its owner closes it), so work after generation (synth's decontamination embedder) does
        not hold both models."""
        if self.owns_generator and self.generator is not None:
            self.generator.close()
            self.generator = None
            self.owns_generator = False
            release_memory()

    def old_settings(self) -> dict | None:
        """The settings the folder's config.json names (None without one)."""
        path = self.out / CONFIG_FILE
        try:
            return (read_json(path, {}) or {}).get("config") if path.exists() else None
        except MathsynthError:  # unreadable config: the per-record settings keys still decide
            return None

    def resume(self) -> list[dict]:
        """Records already written, in file order, minus retryable ones (the file is rewritten
        atomically without them); raises if they were made with other settings."""
        if not self.path.exists():
            return []
        records = list(read_jsonl(self.path, tolerate_truncated_tail=True))
        old = self.old_settings()
        if records and old:
            # Records of versions before settings keys: config.json still names their settings.
            diffs = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in self.settings.items()
                     if k in old and old[k] != v]
            if diffs:
                raise MathsynthError(f"{self.out} already holds {self.what} made with other settings "
                                     f"({'; '.join(diffs)}); use another --out or delete the folder")
        refuse_mixed_settings(self.out, self.what, {r.get("settings_key") for r in records}, self.settings, old)
        keep = [r for r in records if not self.retryable(r)]
        self.redo = len(records) - len(keep)
        if self.redo:
            atomic_write_jsonl(self.path, keep)
        return keep

    def start(self, load: Callable[[], Any] | None, *, needed: bool, generator: Any = None) -> Any:
        """Load the generator (``load()``) only when none was given and there is work; write the
        manifest naming it. Returns the generator (None when nothing needs one)."""
        self.generator = generator
        if generator is None and needed and load is not None:
            self.generator = load()
            self.owns_generator = True
        manifest = run_manifest(self.stage, self.cfg.model_dump())
        if self.generator is not None:
            manifest["backend"] = self.generator.describe()
        atomic_write_json(self.out / CONFIG_FILE, manifest)
        return self.generator

    def appender(self) -> JsonlAppender:
        """Append-and-flush writer of this stage's records file."""
        return JsonlAppender(self.path)

    def stamp(self, record: dict) -> dict:
        """Mark a record with this run's settings key (the per-record half of the settings check)."""
        record["settings_key"] = self.key
        return record
