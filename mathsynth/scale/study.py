"""The paper's loop as one resumable study: base eval -> synthesize -> train -> eval -> report.

``run_study(cfg)`` (``mathsynth run``) trains one student on all synthetic data (or
``train.limit`` of it); ``run_study(cfg, scale=True)`` (``mathsynth scale``) trains one student per
nested size in ``sizes`` (and, with ``real``, one per size on the seed data) and writes
``scale.json``. Stages talk through their files only; this module conducts them.

Layout of the study folder::

    base/<bench>/            eval of the base model       synth/<job>/      synthesis job
    student/model|eval/      (run)                        <data>-<N>/model|eval/<bench>/  (scale)
    scale.json  stages.json  study.json  report/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mathsynth.config import EvalConfig, StudyConfig, SynthConfig, TrainConfig, build
from mathsynth.errors import MathsynthError
from mathsynth.io import atomic_write_json, read_jsonl, run_manifest
from mathsynth.scale.pipeline import Pipeline

_SET_BY_STUDY = {"eval": ("model", "benchmark", "out"), "synth": ("out",), "train": ("model", "data", "out")}


def _make(cls, section: str, values: dict) -> Any:
    return build(cls, values, f"invalid '{section}' settings in the study recipe")


def bench_dir(bench: str) -> str:
    """A folder name for a benchmark reference.

    >>> bench_dir("gsm8k:test"), bench_dir("data/my.jsonl")
    ('gsm8k-test', 'my')
    """
    return Path(bench).stem if bench.endswith(".jsonl") else bench.replace(":", "-")


class Study:
    """Resolved, validated settings of a study and the configs of each of its stages."""

    def __init__(self, cfg: StudyConfig):
        self.cfg, self.root = cfg, Path(cfg.out)
        for section, fixed in _SET_BY_STUDY.items():
            blocks = cfg.synth if section == "synth" else [getattr(cfg, section)]
            for block in blocks:
                clash = sorted(set(block) & set(fixed))
                if clash:
                    raise MathsynthError(f"study recipe: '{section}' must not set {', '.join(clash)} "
                                         "(the study sets them)")
        names = [job.get("name") for job in cfg.synth]
        if not cfg.synth:
            raise MathsynthError("study recipe: 'synth' needs at least one job (e.g. {name: sym, teacher: symbolic})")
        if any(not n or not str(n).replace("-", "").replace("_", "").isalnum() for n in names) \
                or len(set(names)) != len(names):
            raise MathsynthError("study recipe: every synth job needs a unique 'name' (letters, digits, - or _)")
        self.train_defaults = _make(TrainConfig, "train", {**cfg.train, "model": cfg.model, "data": "x",
                                                           "out": "x"})
        self.synth = {job["name"]: _make(SynthConfig, f"synth ({job['name']})",
                                         {**{k: v for k, v in job.items() if k != "name"},
                                          "eval_prompt": job.get("eval_prompt", self.train_defaults.prompt),
                                          "out": str(self.root / "synth" / job["name"])})
                      for job in cfg.synth}
        for b in cfg.benchmarks:
            self.eval_config(cfg.model, b, self.root / "x")
        if cfg.sizes is not None and (not cfg.sizes or min(cfg.sizes) < 1):
            raise MathsynthError("study recipe: 'sizes' must be positive example counts")

    def eval_config(self, model: str, bench: str, out: Path) -> EvalConfig:
        # Every model in a study is asked in the format the student is taught in, so base and
        # students are compared on the same prompt.
        values = {"prompt": self.train_defaults.prompt, **self.cfg.eval, "model": model, "benchmark": bench,
                  "out": str(out)}
        return _make(EvalConfig, "eval", values)

    def train_config(self, data: str, out: Path, limit: int | None) -> TrainConfig:
        values = {**self.cfg.train, "model": self.cfg.model, "data": data, "out": str(out)}
        if limit is not None:
            values["limit"] = limit
        return _make(TrainConfig, "train", values)


def _eval_stage(p: Pipeline, study: Study, name: str, model: str, bench: str, out: Path, upstream, kw) -> dict:
    from mathsynth.evaluate.runner import run_eval

    ecfg = study.eval_config(model, bench, out)
    settings = ecfg.model_dump(exclude={"out", "model"}) | {"model": model if not upstream else "student"}

    def go():
        m = run_eval(ecfg, **kw)
        return {k: m["overall"].get(k) for k in ("pass@1", "pass_ratio@N", "pass@N", "no_answer_rate")}

    return p.stage(name, settings, out, go, upstream)


def _train_stage(p: Pipeline, study: Study, name: str, data: str, out: Path, limit, upstream, kw) -> dict:
    from mathsynth.train.trainer import fingerprint, run_train

    tcfg = study.train_config(data, out, limit)
    return p.stage(name, fingerprint(tcfg), out, lambda: run_train(tcfg, **kw), upstream)


def _pool_size(paths: list[Path]) -> int:
    return sum(1 for path in paths for _ in read_jsonl(path))


def run_study(cfg: StudyConfig, *, scale: bool = False, console: Any = None, show_progress: bool = True) -> dict:
    """Run (or resume) a study; returns ``{"stages": {...}, "report": path or None}``.

    >>> from mathsynth.config import StudyConfig
    >>> run_study(StudyConfig(out="/tmp/s", synth=[{"name": "sym", "teacher": "symbolic"}],
    ...                       sizes=[100, 200]), scale=True)  # doctest: +SKIP
    """
    from mathsynth.synth.runner import run_synth

    if scale and not cfg.sizes:
        raise MathsynthError("mathsynth scale needs 'sizes' in the recipe (e.g. [250, 500, 1000, 2000])")
    study = Study(cfg)
    root = study.root
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / "study.json", run_manifest("scale" if scale else "run", cfg.model_dump()))
    p = Pipeline(root, console)
    kw = {"console": console, "show_progress": show_progress}
    eval_dirs: list[Path] = []
    for b in cfg.benchmarks:
        out = root / "base" / bench_dir(b)
        _eval_stage(p, study, f"base-eval:{b}", cfg.model, b, out, (), kw)
        eval_dirs.append(out)
    for name, scfg in study.synth.items():
        p.stage(f"synth:{name}", scfg.model_dump(exclude={"out"}), Path(scfg.out),
                lambda scfg=scfg: {k: v for k, v in run_synth(scfg, **kw).items() if not isinstance(v, dict | list)})
    sft = [Path(s.out) / "sft.jsonl" for s in study.synth.values()]
    synth_stages = [f"synth:{n}" for n in study.synth]
    data = ",".join(str(x) for x in sft)
    runs: list[tuple[str, str, int | None, list[str]]] = []  # (label, data, limit, upstream)
    if not scale:
        runs.append(("student", data, None, synth_stages))
    else:
        pool = _pool_size(sft)
        if pool < max(cfg.sizes):
            raise MathsynthError(f"the synthetic pool holds {pool} examples, fewer than the largest size "
                                 f"{max(cfg.sizes)}; raise the synth jobs' limit/per_seed or lower 'sizes'")
        real_pool = 0
        if cfg.real:
            from mathsynth.train.data import load_training_data

            real_pool = len(load_training_data(cfg.real, prompt=study.train_defaults.prompt)[0])
            skipped = [n for n in cfg.sizes if n > real_pool]
            if skipped and console is not None:
                console.print(f"real data {cfg.real!r} has {real_pool} examples: no real-data students at "
                              f"sizes {skipped}")
        for n in sorted(cfg.sizes):
            runs.append((f"synthetic-{n}", data, n, synth_stages))
            if cfg.real and n <= real_pool:
                runs.append((f"real-{n}", cfg.real, n, []))
    for label, src, limit, upstream in runs:
        model_dir = root / label / "model"
        _train_stage(p, study, f"train:{label}", src, model_dir, limit, upstream, kw)
        for b in cfg.benchmarks:
            out = root / label / "eval" / bench_dir(b)
            _eval_stage(p, study, f"eval:{label}:{b}", str(model_dir), b, out, [f"train:{label}"], kw)
            eval_dirs.append(out)
    if scale:
        from mathsynth.scale.summary import write_scale_summary

        write_scale_summary(root, cfg, [(lbl, n) for lbl, _, n, _ in runs])
    report = None
    if cfg.report:
        from mathsynth.report import build_report

        inputs = [root] if scale else eval_dirs
        report = str(build_report([str(d) for d in inputs], root / "report",
                                  title=f"mathsynth {'scale' if scale else 'run'}: {root.name}")["html"])
    return {"stages": {k: v.get("status") for k, v in p.state.items()}, "report": report}
