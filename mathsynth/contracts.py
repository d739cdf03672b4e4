"""File contracts between the stages and the report: file names, the study folder layout, student
labels, headline metrics, error kinds and reject stages.

Stages talk through files only, and the report reads those files without importing any stage, so
every name a writer and a reader must agree on is spelled here once. Changing one changes the
on-disk format: old result folders would no longer be read.

Layout of a study folder (see :mod:`mathsynth.scale.study`)::

    base/<bench>/            eval of the base model       synth/<job>/      synthesis job
    base/<bench>~<format>/   the base in another prompt   real/             the real-data arm (scale)
                             format (``base_formats``)
    student/model|eval/      (run)                        <label>/model|eval/<bench>/  (scale)
    <eval dir>@sampled/      the sampled eval beside each greedy one (``sampled``)
    scale.json  result.json  stages.json  study.json  report/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# ---- stage files ---------------------------------------------------------------------------------
#: An eval folder: one record per problem, the aggregate metrics, and the run manifest.
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"
#: The run manifest of an eval or synthesis folder (settings, versions, backend).
CONFIG_FILE = "config.json"
#: A synthesis folder: every unit's outcome as it is known (written first), then the final files.
GENERATED_FILE = "generated.jsonl"
QUESTIONS_FILE = "questions.jsonl"
REJECTS_FILE = "rejects.jsonl"
SFT_FILE = "sft.jsonl"
STATS_FILE = "stats.json"
#: Any of these marks a synthesis folder (``generated.jsonl`` is written first).
SYNTH_FILES = (GENERATED_FILE, QUESTIONS_FILE, REJECTS_FILE)
#: A trained model folder: its manifest and its loss log.
TRAIN_CONFIG_FILE = "train_config.json"
TRAIN_LOG_FILE = "train_log.jsonl"
#: A study folder: the scaling summary, the primary outcome, the stage ledger and the recipe.
SCALE_FILE = "scale.json"
RESULT_FILE = "result.json"
STAGES_FILE = "stages.json"
STUDY_FILE = "study.json"

# ---- what the files hold -------------------------------------------------------------------------
#: The paper's three headline metrics, in the order every table, plot and summary shows them.
HEADLINE_METRICS = ("pass@1", "pass_ratio@N", "pass@N")
#: Error kinds of a sample, in display order (``metrics.json`` ``errors``); a producer may add kinds,
#: which readers show after these.
ERROR_KINDS = ("correct", "calculation", "reasoning", "truncated", "no_answer")
#: Synthesis filters in pipeline order: a reject's ``stage`` in ``rejects.jsonl`` is one of them.
REJECT_STAGES = ("question", "symbolic", "answer", "consistency", "arithmetic", "length", "dedup",
                 "decontamination")

# ---- the study folder ----------------------------------------------------------------------------
#: The label (and data kind) of the base model in a study.
BASE = "base"
#: The label of the one student of ``mathsynth run`` (trained on all the synthetic data).
RUN_STUDENT = "student"
#: Folders of a study: synthesis jobs, the real-data arm, the report.
SYNTH_DIR, REAL_DIR, REPORT_DIR = "synth", "real", "report"
#: An eval folder's sibling holding the sampled eval of the same model and benchmark.
SAMPLED_SUFFIX = "@sampled"
#: Separates a benchmark folder from the prompt format of a base-model eval in another format.
FORMAT_SEP = "~"


def bench_dir(bench: str) -> str:
    """The folder name of a benchmark reference, from its text (a name, ``name:split`` or a file);
    it names a folder and reads nothing out of the reference.

    >>> bench_dir("gsm8k:test"), bench_dir("data/my.jsonl"), bench_dir("svamp")
    ('gsm8k-test', 'my', 'svamp')
    """
    return Path(bench).stem if bench.endswith(".jsonl") else bench.replace(":", "-")


def eval_dir(root: Path, label: str, bench: str, prompt: str | None = None, sampled: bool = False) -> Path:
    """The one place that lays out eval folders in a study (see the module docstring).

    >>> eval_dir(Path("s"), "base", "svamp", "chat", sampled=True).as_posix()
    's/base/svamp~chat@sampled'
    >>> eval_dir(Path("s"), "real-500", "gsm8k:test").as_posix()
    's/real-500/eval/gsm8k-test'
    """
    name = bench_dir(bench) + (f"{FORMAT_SEP}{prompt}" if prompt else "") + (SAMPLED_SUFFIX if sampled else "")
    return root / BASE / name if label == BASE else root / label / "eval" / name


def model_dir(root: Path, label: str) -> Path:
    """Where a study trains the student ``label``.

    >>> model_dir(Path("s"), "synthetic-250").as_posix()
    's/synthetic-250/model'
    """
    return root / label / "model"


def synth_dir(root: Path, job: str) -> Path:
    """The folder of synthesis job ``job`` in a study.

    >>> synth_dir(Path("s"), "sym").as_posix()
    's/synth/sym'
    """
    return root / SYNTH_DIR / job


@dataclass(frozen=True)
class Student:
    """Which student a study trains, as data: its training-data kind (``synthetic`` / ``real``), size
    (None: all of it, the one student of ``mathsynth run``), training seed, and whether that seed
    repeats a size with another seed. The folder label is derived here and never parsed back:
    ``scale.json`` takes kind, size and seed from this record.

    >>> [s.label for s in (Student("synthetic", 250, 0), Student("synthetic", 250, 3, repeat=True),
    ...                    Student("real", 500, 0), Student("synthetic", None, 0))]
    ['synthetic-250', 'synthetic-250-seed3', 'real-500', 'student']
    """

    data: str
    size: int | None
    seed: int
    repeat: bool = False

    @property
    def label(self) -> str:
        """The student's folder name in the study (``synthetic-<N>[-seed<S>]``, ``real-<N>``, ``student``)."""
        if self.size is None:
            return RUN_STUDENT
        return f"{self.data}-{self.size}" + (f"-seed{self.seed}" if self.repeat else "")
