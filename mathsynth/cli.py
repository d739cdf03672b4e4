"""The ``mathsynth`` command line: one subcommand per stage.

Heavy libraries (torch, transformers, math-verify) are imported inside commands so ``--help`` is fast.
User-fixable problems raise :class:`MathsynthError`; they are printed as one clear line (exit code 2)
instead of a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mathsynth.cli_options import config_command
from mathsynth.config import EvalConfig, SynthConfig, TrainConfig
from mathsynth.errors import IncompleteRun, MathsynthError
from mathsynth.recipe import resolve

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Teach language models math with synthetic data: evaluate, synthesize, train, scale.")
data_app = typer.Typer(no_args_is_help=True, help="List and inspect benchmarks.")
app.add_typer(data_app, name="data")


def _console():
    from rich.console import Console

    return Console(stderr=False)


RECIPE_HELP = "YAML recipe; its '{}' section gives defaults (the command line overrides it)"


@app.command("eval")
@config_command(EvalConfig, "eval", first=("model", "benchmark", "out"))
def eval_cmd(
    recipe: Annotated[Path | None, typer.Option(help=RECIPE_HELP.format("eval"))] = None,
    *, overrides: dict,
) -> None:
    """Sample N answers per problem, grade them and report Pass@1, pass@k, maj@k, PassRatio@N."""
    from mathsynth.evaluate.runner import run_eval
    from mathsynth.evaluate.table import summary_tables

    cfg = resolve(EvalConfig, "eval", recipe, overrides)
    console = _console()
    metrics = run_eval(cfg, console=console, show_progress=sys.stderr.isatty() or sys.stdout.isatty())
    for table in summary_tables(metrics):
        console.print(table)
    console.print(f"wrote {cfg.out}/samples.jsonl, metrics.json, config.json")
    too_long = metrics.get("run", {}).get("finish_reasons", {}).get("prompt_too_long")
    if too_long:
        console.print(f"[yellow]{too_long} sample(s) were not generated: their prompt does not fit the model's "
                      "context with --max-tokens (finish reason prompt_too_long, graded wrong)[/yellow]")
    failed = metrics.get("run", {}).get("problems_with_failed_samples")
    if failed:
        raise IncompleteRun(f"{failed} of {metrics['overall']['n_problems']} problem(s) have samples that failed "
                            "to generate (reasons in samples.jsonl 'errors'); rerun the same command to retry "
                            "just those")


@app.command("synth")
@config_command(SynthConfig, "synth", first=("seeds", "teacher", "out"))
def synth_cmd(
    recipe: Annotated[Path | None, typer.Option(help=RECIPE_HELP.format("synth"))] = None,
    job: Annotated[str | None, typer.Option(help="the recipe's synth job of this name (when it has several)")] = None,
    *, overrides: dict,
) -> None:
    """Make new verified problems from seed problems: question -> M answers -> filters -> dedup/decontam."""
    from mathsynth.synth.runner import run_synth

    cfg = resolve(SynthConfig, "synth", recipe, overrides, job=job)
    console = _console()
    stats = run_synth(cfg, console=console, show_progress=sys.stderr.isatty() or sys.stdout.isatty())
    console.print(f"{stats['accepted']} of {stats['units']} accepted ({stats['acceptance_rate']}); "
                  f"rejects by stage {stats['rejects_by_stage']}")
    console.print(f"wrote {cfg.out}/questions.jsonl, rejects.jsonl, sft.jsonl, stats.json")
    if stats.get("failed"):
        raise IncompleteRun(f"{stats['failed']} unit(s) failed at the teacher (server down, timeouts; e.g. "
                            f"{stats['failed_ids'][0]}); rerun the same command to retry just those")


@app.command("train")
@config_command(TrainConfig, "train", first=("data", "out", "model", "limit"))
def train_cmd(
    recipe: Annotated[Path | None, typer.Option(help=RECIPE_HELP.format("train"))] = None,
    resume: Annotated[bool | None, typer.Option("--resume/--no-resume",
                                                help="resume from the newest checkpoint (default: if one exists)")] = None,
    restart: Annotated[bool, typer.Option(help="delete checkpoints and logs in --out and start over")] = False,
    *, overrides: dict,
) -> None:
    """Fine-tune a student on messages data (TRL SFT, full or LoRA) into a Hugging Face model folder."""
    from mathsynth.train.trainer import run_train

    cfg = resolve(TrainConfig, "train", recipe, overrides)
    console = _console()
    summary = run_train(cfg, console=console, show_progress=sys.stderr.isatty() or sys.stdout.isatty(),
                        resume=resume, restart=restart)
    console.print(f"trained {summary['global_step']} steps, loss {summary['first_loss']} -> {summary['final_loss']}, "
                  f"{summary['tokens_per_s']} tok/s")
    console.print(f"wrote {cfg.out} (evaluate: mathsynth eval --model {cfg.out} --prompt {cfg.prompt} ...)")


@app.command("grade")
def grade_cmd(
    run_dir: Annotated[Path, typer.Argument(help="an eval run folder holding samples.jsonl")],
    rules: Annotated[str | None, typer.Option(help="comma-separated extraction rules, in order")] = None,
    workers: Annotated[int | None, typer.Option(help="grading worker processes")] = None,
) -> None:
    """Re-grade an existing samples.jsonl (new extraction rules or grader) without regenerating."""
    from mathsynth.evaluate.regrade import regrade
    from mathsynth.evaluate.table import summary_tables

    metrics = regrade(run_dir, rules=rules.split(",") if rules else None, workers=workers)
    console = _console()
    for table in summary_tables(metrics):
        console.print(table)


@app.command("compare")
def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="eval run folder A (e.g. the base model)")],
    run_b: Annotated[Path, typer.Argument(help="eval run folder B (e.g. the student), same problems")],
    out: Annotated[Path | None, typer.Option(help="also write the comparisons to this JSON file")] = None,
) -> None:
    """Paired comparison of two evals on the same problems: B - A per metric, with a paired-bootstrap
    interval and p-value (McNemar's exact test for 0/1 outcomes such as greedy Pass@1)."""
    from mathsynth.evaluate.compare import compare_runs, describe
    from mathsynth.io import atomic_write_json

    comps = compare_runs(run_a, run_b, a_label=run_a.name, b_label=run_b.name)
    for c in comps:
        typer.echo(describe(c))
    if out is not None:
        atomic_write_json(out, {"a": str(run_a), "b": str(run_b), "comparisons": comps})
        typer.echo(f"wrote {out}")


STUDY_SETS = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="override a recipe value (YAML), e.g. eval.n=4, synth.<job>.limit=40, "
                                       "sizes=[64,128]; repeatable")]


def _study(recipe: Path, out: Path | None, model: str | None, sets: list[str] | None, scale: bool) -> None:
    from mathsynth.recipe import StudyConfig, read_recipe
    from mathsynth.scale.study import run_study

    updates = {k: v for k, v in (("out", str(out) if out else None), ("model", model)) if v is not None}
    cfg = read_recipe(recipe, StudyConfig, updates, sets)
    console = _console()
    res = run_study(cfg, scale=scale, console=console, show_progress=sys.stderr.isatty() or sys.stdout.isatty())
    for line in res.get("summary", []):
        console.print(line)
    if res["report"]:
        console.print(f"report: {res['report']}")


@app.command("run")
def run_cmd(
    recipe: Annotated[Path, typer.Argument(help="study recipe (YAML), e.g. recipes/quickstart-cpu.yaml")],
    out: Annotated[Path | None, typer.Option(help="study folder (overrides the recipe's out)")] = None,
    model: Annotated[str | None, typer.Option(help="base model (overrides the recipe's model)")] = None,
    set_values: STUDY_SETS = None,
) -> None:
    """End to end: evaluate the base model, synthesize, train a student, evaluate it, report (resumable)."""
    _study(recipe, out, model, set_values, scale=False)


@app.command("scale")
def scale_cmd(
    recipe: Annotated[Path, typer.Argument(help="study recipe (YAML) with 'sizes', e.g. recipes/asdiv-cpu.yaml")],
    out: Annotated[Path | None, typer.Option(help="study folder (overrides the recipe's out)")] = None,
    model: Annotated[str | None, typer.Option(help="base model (overrides the recipe's model)")] = None,
    set_values: STUDY_SETS = None,
) -> None:
    """Accuracy vs synthetic data size: one student per nested size, scale.json with fits, report."""
    _study(recipe, out, model, set_values, scale=True)


@app.command("report")
def report_cmd(
    dirs: Annotated[list[Path], typer.Argument(help="eval folders (metrics.json), scaling studies (scale.json), "
                                                    "synth folders (generated.jsonl) and/or compare files "
                                                    "(mathsynth compare --out X.json)")],
    out: Annotated[Path, typer.Option(help="folder for report.html, report.md and plots/")] = Path("report"),
    title: Annotated[str | None, typer.Option(help="report title")] = None,
) -> None:
    """Write report.html, report.md and the sample browser (browser.html) from result files: several
    runs side by side, the samples of every eval, the accepted and rejected items of every synth run."""
    from mathsynth.report import build_report

    res = build_report([str(d) for d in dirs], out, title=title)
    extra = f", sample browser {res['browser']}" if res.get("browser") else ""
    _console().print(f"wrote {res['html']} and {res['md']} ({len(res['plots'])} plots{extra})")


@data_app.command("list")
def data_list() -> None:
    """List registered benchmarks and their splits."""
    from rich.table import Table

    from mathsynth.data import list_benchmarks

    t = Table(title="benchmarks")
    for col in ("name", "splits", "description"):
        t.add_column(col)
    for b in list_benchmarks():
        t.add_row(b.name, ", ".join(b.splits), b.description)
    _console().print(t)


@data_app.command("show")
def data_show(
    name: Annotated[str, typer.Argument(help="benchmark name (name:split) or a .jsonl file")],
    split: Annotated[str, typer.Option(help="split")] = "test",
    limit: Annotated[int, typer.Option(help="how many problems")] = 3,
) -> None:
    """Print the first problems of a benchmark as normalised records."""
    import json

    from mathsynth.data import load_benchmark

    for p in load_benchmark(name, split=split, limit=limit):
        typer.echo(json.dumps(p.to_dict(), ensure_ascii=False, indent=2))


def main() -> None:
    """Entry point: run the app, turning user-fixable errors into one line on stderr (exit 2 for bad
    input, 3 for a run that must be rerun to finish; see mathsynth.errors)."""
    try:
        app()
    except MathsynthError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.secho("interrupted; rerun the same command to resume", err=True)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
