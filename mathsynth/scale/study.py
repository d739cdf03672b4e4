"""The paper's loop as one resumable study: base eval -> synthesize -> train -> eval -> report.

``run_study(cfg)`` (``mathsynth run``) trains one student on all synthetic data (or
``train.limit`` of it); ``run_study(cfg, scale=True)`` (``mathsynth scale``) trains one student per
nested size in ``sizes`` (and, with ``real``, one per size on the seed data) and writes
``scale.json``. Stages talk through their files only; this module conducts them.

The study folder's layout and the students' labels are :mod:`mathsynth.contracts`' (its docstring
draws the layout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathsynth.config import EXECUTOR_FIELDS, EvalConfig, SynthConfig, TrainConfig, build
from mathsynth.contracts import (  # noqa: F401 (bench_dir, eval_dir: re-exported for older imports)
    BASE,
    FORMAT_SEP,
    HEADLINE_METRICS,
    REAL_DIR,
    REPORT_DIR,
    RUN_STUDENT,
    SFT_FILE,
    STUDY_FILE,
    Student,
    bench_dir,
    eval_dir,
    model_dir,
    synth_dir,
)
from mathsynth.errors import MathsynthError
from mathsynth.io import atomic_write_json, locked_out, read_jsonl, run_manifest
from mathsynth.recipe import StudyConfig
from mathsynth.scale.pipeline import Pipeline


def _make(cls, section: str, values: dict) -> Any:
    return build(cls, values, f"invalid '{section}' settings in the study recipe")


class Study:
    """Resolved, validated settings of a study and the configs of each of its stages."""

    def __init__(self, cfg: StudyConfig):
        # The recipe's sections were type-checked when it was read (StudyConfig); what is left to
        # check needs the study as a whole.
        self.cfg, self.root = cfg, Path(cfg.out)
        if not cfg.synth:
            raise MathsynthError("study recipe: 'synth' needs at least one job (e.g. {name: sym, teacher: symbolic})")
        #: The prompt format the student is taught in; every model of the study is asked in it.
        self.prompt = cfg.train.get("prompt")
        self.synth = {job.name: _make(SynthConfig, f"synth ({job.name})",
                                      {"eval_prompt": self.prompt, **cfg.synth_job(job.name),
                                       "out": str(synth_dir(self.root, job.name))})
                      for job in cfg.synth}
        if cfg.sizes is not None and (not cfg.sizes or min(cfg.sizes) < 1):
            raise MathsynthError("study recipe: 'sizes' must be positive example counts")

    def eval_config(self, model: str, bench: str, out: Path, sampled: bool = False,
                    prompt: str | None = None) -> EvalConfig:
        # Every model in a study is asked in the format the student is taught in, so base and
        # students are compared on the same prompt. Pass@1 is the paper's greedy first answer:
        # a sampled eval also decodes one greedy answer unless its samples are greedy already.
        values = {"prompt": self.prompt, **self.cfg.eval.values()}
        if sampled:
            values = {**values, "greedy_first": False, **(self.cfg.sampled.values() if self.cfg.sampled else {})}
        temperature = values.get("temperature", EvalConfig.model_fields["temperature"].default)
        values.setdefault("greedy_first", float(temperature) > 0)
        if prompt:
            values["prompt"] = prompt
        return _make(EvalConfig, "sampled" if sampled else "eval",
                     {**values, "model": model, "benchmark": bench, "out": str(out)})

    def train_config(self, data: str, out: Path, limit: int | None, seed: int | None = None) -> TrainConfig:
        values = {**self.cfg.train.values(), "model": self.cfg.model, "data": data, "out": str(out)}
        if limit is not None:
            values["limit"] = limit
        if seed is not None:
            values["seed"] = seed
        return _make(TrainConfig, "train", values)


def _eval_stage(p: Pipeline, study: Study, name: str, model: str, bench: str, out: Path, upstream, kw,
                sampled: bool = False, prompt: str | None = None) -> dict:
    from mathsynth.evaluate.runner import run_eval

    ecfg = study.eval_config(model, bench, out, sampled, prompt)
    # Where it runs is not what it makes: the executor fields stay out of the stage key.
    settings = ecfg.model_dump(exclude={"out", "model", *EXECUTOR_FIELDS}) | \
        {"model": model if not upstream else "student"}

    def go():
        m = run_eval(ecfg, **kw)
        return {k: m["overall"].get(k) for k in (*HEADLINE_METRICS, "no_answer_rate")}

    return p.stage(name, settings, out, go, upstream)


def _evals(p: Pipeline, study: Study, label: str, model: str, root: Path, upstream, kw) -> list[Path]:
    """The eval stages of one model on every benchmark (and the sampled evals, if configured);
    the base model also in each of ``base_formats`` (greedy only)."""
    dirs = []
    formats = [None] + (list(study.cfg.base_formats) if label == BASE else [])
    for b in study.cfg.benchmarks:
        for fmt in formats:
            # The sampled eval (PassRatio@N, Pass@N) runs in the training format only: the base's other
            # formats are there for its best greedy first answer.
            for sampled in (False, True) if study.cfg.sampled and fmt is None else (False,):
                out = eval_dir(root, label, b, fmt, sampled)
                name = (f"eval:{label}:{b}" if label != BASE else f"base-eval:{b}") + \
                    (f"{FORMAT_SEP}{fmt}" if fmt else "") + (":sampled" if sampled else "")
                _eval_stage(p, study, name, model, b, out, upstream, kw, sampled, fmt)
                dirs.append(out)
    return dirs


def _train_stage(p: Pipeline, study: Study, name: str, data: str, out: Path, limit, upstream, kw,
                 seed: int | None = None) -> dict:
    from mathsynth.train.trainer import fingerprint, run_train

    tcfg = study.train_config(data, out, limit, seed)
    gpus = int(getattr(getattr(p, "executor", None), "gpus_per_train", 0) or 0)
    if gpus > 1:  # a Ray task holding several GPUs: one training process per GPU
        from mathsynth.scale.ray_stages import train_with_accelerate

        return p.stage(name, fingerprint(tcfg), out, lambda: train_with_accelerate(tcfg, gpus), upstream)
    return p.stage(name, fingerprint(tcfg), out, lambda: run_train(tcfg, **kw), upstream)


def _pool_size(paths: list[Path]) -> int:
    return sum(1 for path in paths for _ in read_jsonl(path))


@dataclass(frozen=True)
class StudentRun(Student):
    """A :class:`~mathsynth.contracts.Student` with what training it takes: the training data spec
    and the stages that data comes from."""

    src: str = ""
    upstream: list[str] = field(default_factory=list)


def _scale_runs(p: Pipeline, study: Study, root: Path, data: str, synth_stages: list[str], console) -> list[StudentRun]:
    cfg = study.cfg
    pool = _pool_size([Path(s.out) / SFT_FILE for s in study.synth.values()])
    if pool < max(cfg.sizes):
        raise MathsynthError(f"the synthetic pool holds {pool} examples, fewer than the largest size "
                             f"{max(cfg.sizes)}; raise the synth jobs' limit/per_seed or lower 'sizes'")
    base_seed = int(cfg.train.get("seed") or 0)
    runs = [StudentRun("synthetic", n, base_seed, src=data, upstream=synth_stages) for n in sorted(cfg.sizes)]
    for n in sorted(cfg.repeat_sizes):
        runs += [StudentRun("synthetic", n, sd, repeat=True, src=data, upstream=synth_stages)
                 for sd in cfg.repeat_seeds if sd != base_seed]
    if cfg.real:
        from mathsynth.scale.real import prepare_real

        out = root / REAL_DIR
        settings = {"ref": cfg.real, "max_steps": cfg.real_max_steps, "prompt": study.prompt,
                    "decontam": cfg.real_decontam_benchmarks, "embeddings": cfg.real_embeddings}
        stats = p.result(p.stage("real-data", settings, out, lambda: prepare_real(
            cfg.real, out, prompt=study.prompt, max_steps=cfg.real_max_steps,
            decontam_benchmarks=cfg.real_decontam_benchmarks, embeddings=cfg.real_embeddings)))
        wanted = sorted(cfg.real_sizes or cfg.sizes)
        skipped = [n for n in wanted if n > stats["kept"]]
        if skipped and console is not None:
            console.print(f"real data {cfg.real!r} keeps {stats['kept']} examples after filtering: no real-data "
                          f"students at sizes {skipped}")
        runs += [StudentRun("real", n, base_seed, src=str(out / SFT_FILE), upstream=["real-data"])
                 for n in wanted if n <= stats["kept"]]
    return runs


@locked_out("study")
def run_study(cfg: StudyConfig, *, scale: bool = False, console: Any = None, show_progress: bool = True) -> dict:
    """Run (or resume) a study; returns ``{"stages": {...}, "report": path or None}``.

    >>> from mathsynth.recipe import StudyConfig
    >>> run_study(StudyConfig(out="/tmp/s", synth=[{"name": "sym", "teacher": "symbolic"}],
    ...                       sizes=[100, 200]), scale=True)  # doctest: +SKIP
    """
    if scale and not cfg.sizes:
        raise MathsynthError("mathsynth scale needs 'sizes' in the recipe (e.g. [250, 500, 1000, 2000])")
    study = Study(cfg)
    root = study.root
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / STUDY_FILE, run_manifest("scale" if scale else "run", cfg.model_dump()))
    p = _pipeline(cfg, root, console)
    try:
        return _conduct(p, study, cfg, scale, console, show_progress)
    finally:
        getattr(p, "close", lambda: None)()


def _pipeline(cfg: StudyConfig, root: Path, console: Any) -> Pipeline:
    if cfg.executor.kind == "ray":
        from mathsynth.scale.ray_stages import RayPipeline

        return RayPipeline(root, cfg.executor, console)
    return Pipeline(root, console)


def _conduct(p: Pipeline, study: Study, cfg: StudyConfig, scale: bool, console: Any, show_progress: bool) -> dict:
    from mathsynth.synth.runner import run_synth
    from mathsynth.train.data import format_spec

    root = study.root
    # Stages running as Ray tasks print nothing; the driver says when each is done.
    concurrent = cfg.executor.kind == "ray"
    kw = {"console": None if concurrent else console, "show_progress": show_progress and not concurrent}
    eval_dirs = _evals(p, study, BASE, cfg.model, root, (), kw)
    for name, scfg in study.synth.items():
        p.stage(f"synth:{name}", scfg.model_dump(exclude={"out", *EXECUTOR_FIELDS}), Path(scfg.out),
                lambda scfg=scfg: {k: v for k, v in run_synth(scfg, **kw).items() if not isinstance(v, dict | list)})
    p.wait()  # the students' sizes are checked against the synthetic pool
    sft = [Path(s.out) / SFT_FILE for s in study.synth.values()]
    synth_stages = [f"synth:{n}" for n in study.synth]
    data = format_spec([str(x) for x in sft])
    runs = [StudentRun("synthetic", None, 0, src=data, upstream=synth_stages)] if not scale else \
        _scale_runs(p, study, root, data, synth_stages, console)
    for run in runs:
        model = model_dir(root, run.label)
        _train_stage(p, study, f"train:{run.label}", run.src, model, run.size, run.upstream, kw, run.seed)
        eval_dirs += _evals(p, study, run.label, str(model), root, [f"train:{run.label}"], kw)
    p.wait()
    lines = []
    if scale:
        from mathsynth.scale.summary import write_scale_summary

        summary = write_scale_summary(root, cfg, runs)
        for key, f in summary["fits"].items():
            if "slope_per_doubling" in f and key.endswith("/pass@1"):
                lo, hi = f["slope_per_doubling_ci95"]
                lines.append(f"{key}: {100 * f['slope_per_doubling']:+.2f} pp per doubling "
                             f"[{100 * lo:+.2f}, {100 * hi:+.2f}], p = {f['p_value']:.3g} ({f['n_problems']} problems)")
    else:
        lines = _run_summary(root, study)
    report = None
    if cfg.report:
        from mathsynth.report import build_report

        # a study folder brings its synth/<job> folders along; a run's synth folders are named here
        inputs = [root] if scale else eval_dirs + [Path(s.out) for s in study.synth.values()]
        report = str(build_report([str(d) for d in inputs], root / REPORT_DIR,
                                  title=f"mathsynth {'scale' if scale else 'run'}: {root.name}")["html"])
    return {"stages": {k: v.get("status") for k, v in p.state.items()}, "report": report, "summary": lines}


def _run_summary(root: Path, study: Study) -> list[str]:
    """One line per benchmark and metric: the student minus the base, paired, with its interval."""
    from mathsynth.evaluate.compare import compare_runs, describe

    lines = []
    for b in study.cfg.benchmarks:
        for fmt in [None, *study.cfg.base_formats]:
            # The sampled eval (PassRatio@N, Pass@N) runs in the training format only: the base's other
            # formats are there for its best greedy first answer.
            for sampled in (False, True) if study.cfg.sampled and fmt is None else (False,):
                base = eval_dir(root, BASE, b, fmt, sampled)
                label = BASE + (f" ({fmt} format)" if fmt else "")
                comps = compare_runs(base, eval_dir(root, RUN_STUDENT, b, None, sampled), label, RUN_STUDENT)
                metrics = ("pass_ratio@N", "pass@N") if sampled else ("pass@1",) if study.cfg.sampled else \
                    ("pass@1", "pass_ratio@N")
                lines += [f"{b}: {describe(c)}" for c in comps if c["metric"] in metrics]
    return lines
