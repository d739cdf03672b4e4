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

from mathsynth.errors import IncompleteRun, MathsynthError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Teach language models math with synthetic data: evaluate, synthesize, train, scale.")
data_app = typer.Typer(no_args_is_help=True, help="List and inspect benchmarks.")
app.add_typer(data_app, name="data")


def _console():
    from rich.console import Console

    return Console(stderr=False)


@app.command("eval")
def eval_cmd(
    model: Annotated[str | None, typer.Option(
        help="smollm2-135m, hf:<id>, folder, .gguf, openai:<model>[@url], vllm:<id>, llamacpp:<file.gguf>")] = None,
    benchmark: Annotated[str | None, typer.Option(help="gsm8k, math, math500, svamp, asdiv, demo, or a .jsonl")] = None,
    out: Annotated[Path | None, typer.Option(help="run folder for samples.jsonl, metrics.json, config.json")] = None,
    split: Annotated[str | None, typer.Option(help="benchmark split")] = None,
    limit: Annotated[int | None, typer.Option(help="first K problems only")] = None,
    n: Annotated[int | None, typer.Option(help="samples per problem (N)")] = None,
    temperature: Annotated[float | None, typer.Option(help="sampling temperature")] = None,
    top_p: Annotated[float | None, typer.Option(help="nucleus sampling top-p")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="max new tokens per answer")] = None,
    greedy_first: Annotated[bool | None, typer.Option("--greedy-first/--no-greedy-first",
                                                         help="also decode one greedy answer for Pass@1")] = None,
    prompt: Annotated[str | None, typer.Option(help="prompt format: chat, chat-fewshot, vicuna, vicuna-fewshot")] = None,
    seed: Annotated[int | None, typer.Option(help="sampling seed")] = None,
    batch_size: Annotated[int | None, typer.Option(help="sequences per forward pass")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, bf16, fp16 or fp32")] = None,
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe; its 'eval' section gives defaults")] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: server URL (else $OPENAI_BASE_URL or the OpenAI API)",
                                                 rich_help_panel="Backend")] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="openai: requests in flight",
                                                        rich_help_panel="Backend")] = None,
    rpm: Annotated[float | None, typer.Option(help="openai: requests per minute", rich_help_panel="Backend")] = None,
    tpm: Annotated[float | None, typer.Option(help="openai: tokens per minute", rich_help_panel="Backend")] = None,
    request_timeout: Annotated[float | None, typer.Option(help="openai: seconds per request",
                                                          rich_help_panel="Backend")] = None,
    max_retries: Annotated[int | None, typer.Option(help="openai: retries per request", rich_help_panel="Backend")] = None,
    max_cost: Annotated[float | None, typer.Option(help="openai: stop (resumably) after spending this many USD",
                                                   rich_help_panel="Backend")] = None,
    cache: Annotated[bool | None, typer.Option("--cache/--no-cache", help="SQLite response cache (on by default)",
                                               rich_help_panel="Backend")] = None,
    cache_path: Annotated[str | None, typer.Option(help="response cache file", rich_help_panel="Backend")] = None,
    tensor_parallel_size: Annotated[int | None, typer.Option(help="vllm: GPUs per model", rich_help_panel="Backend")] = None,
    data_parallel_size: Annotated[int | None, typer.Option(help="vllm: model replicas", rich_help_panel="Backend")] = None,
    n_ctx: Annotated[int | None, typer.Option(help="llamacpp: context length", rich_help_panel="Backend")] = None,
    truncated_fallback: Annotated[bool | None, typer.Option(
        "--truncated-fallback/--no-truncated-fallback",
        help="grade a completion cut off at the token limit by its last number (old behaviour; default: no answer)")] = None,
) -> None:
    """Sample N answers per problem, grade them and report Pass@1, pass@k, maj@k, PassRatio@N."""
    from mathsynth.config import EvalConfig, resolve
    from mathsynth.evaluate.runner import run_eval
    from mathsynth.evaluate.table import summary_tables

    overrides = dict(model=model, benchmark=benchmark, out=str(out) if out else None, split=split,
                     limit=limit, n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                     greedy_first=greedy_first, prompt=prompt, seed=seed, batch_size=batch_size, dtype=dtype,
                     base_url=base_url, max_concurrency=max_concurrency, rpm=rpm, tpm=tpm,
                     request_timeout=request_timeout, max_retries=max_retries, max_cost=max_cost, cache=cache,
                     cache_path=cache_path, tensor_parallel_size=tensor_parallel_size,
                     data_parallel_size=data_parallel_size, n_ctx=n_ctx, truncated_fallback=truncated_fallback)
    cfg = resolve(EvalConfig, "eval", recipe, overrides)
    console = _console()
    metrics = run_eval(cfg, console=console, show_progress=sys.stderr.isatty() or sys.stdout.isatty())
    for table in summary_tables(metrics):
        console.print(table)
    console.print(f"wrote {cfg.out}/samples.jsonl, metrics.json, config.json")
    failed = metrics.get("run", {}).get("problems_with_failed_samples")
    if failed:
        raise IncompleteRun(f"{failed} of {metrics['overall']['n_problems']} problem(s) have samples that failed "
                            "to generate (reasons in samples.jsonl 'errors'); rerun the same command to retry "
                            "just those")


@app.command("synth")
def synth_cmd(
    seeds: Annotated[str | None, typer.Option(help="gsm8k:train, math:train, or a .jsonl of {question, answer}")] = None,
    teacher: Annotated[str | None, typer.Option(help="'symbolic' (no LLM) or a model: openai:gpt-4-turbo, ...")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for questions/rejects/sft .jsonl and stats.json")] = None,
    mode: Annotated[str | None, typer.Option(help="question-verify, question-plain, add-constraint, change-numbers, "
                                                  "change-background, change-numbers-background, rephrase")] = None,
    style: Annotated[str | None, typer.Option(help="gsm8k or math (default: from the seeds)")] = None,
    prompt_file: Annotated[Path | None, typer.Option(help="your own question template with {question}")] = None,
    per_seed: Annotated[int | None, typer.Option(help="new problems per seed (K)")] = None,
    answers: Annotated[int | None, typer.Option(help="teacher answers per new problem (M)")] = None,
    limit: Annotated[int | None, typer.Option(help="first S seeds only")] = None,
    temperature: Annotated[float | None, typer.Option(help="teacher temperature (paper: 1.0)")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="max tokens per teacher reply")] = None,
    min_agreement: Annotated[float | None, typer.Option(help="share of the M answers that must agree")] = None,
    decontam_embeddings: Annotated[bool | None, typer.Option("--embeddings/--no-embeddings",
                                                             help="embedding decontamination (slow on CPU)")] = None,
    seed: Annotated[int | None, typer.Option(help="sampling seed")] = None,
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe; its 'synth' section gives defaults")] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="openai: requests in flight", rich_help_panel="Backend")] = None,
    max_cost: Annotated[float | None, typer.Option(help="openai: stop (resumably) after spending this many USD",
                                                   rich_help_panel="Backend")] = None,
    cache: Annotated[bool | None, typer.Option("--cache/--no-cache", help="SQLite response cache",
                                               rich_help_panel="Backend")] = None,
    cache_path: Annotated[str | None, typer.Option(help="response cache file", rich_help_panel="Backend")] = None,
) -> None:
    """Make new verified problems from seed problems: question -> M answers -> filters -> dedup/decontam."""
    from mathsynth.config import SynthConfig, resolve
    from mathsynth.synth.runner import run_synth

    overrides = dict(seeds=seeds, teacher=teacher, out=str(out) if out else None, mode=mode, style=style,
                     prompt_file=str(prompt_file) if prompt_file else None, per_seed=per_seed, answers=answers,
                     limit=limit, temperature=temperature, max_tokens=max_tokens, min_agreement=min_agreement,
                     decontam_embeddings=decontam_embeddings, seed=seed, max_concurrency=max_concurrency,
                     max_cost=max_cost, cache=cache, cache_path=cache_path)
    cfg = resolve(SynthConfig, "synth", recipe, overrides)
    console = _console()
    stats = run_synth(cfg, console=console, show_progress=sys.stderr.isatty() or sys.stdout.isatty())
    console.print(f"{stats['accepted']} of {stats['units']} accepted ({stats['acceptance_rate']}); "
                  f"rejects by stage {stats['rejects_by_stage']}")
    console.print(f"wrote {cfg.out}/questions.jsonl, rejects.jsonl, sft.jsonl, stats.json")
    if stats.get("failed"):
        raise IncompleteRun(f"{stats['failed']} unit(s) failed at the teacher (server down, timeouts; e.g. "
                            f"{stats['failed_ids'][0]}); rerun the same command to retry just those")


@app.command("train")
def train_cmd(
    data: Annotated[str | None, typer.Option(help="FILE.jsonl[,FILE2.jsonl:ratio] of chat messages, or gsm8k:train "
                                                  "(reference solutions)")] = None,
    out: Annotated[Path | None, typer.Option(help="model folder to write (MODELDIR)")] = None,
    model: Annotated[str | None, typer.Option(help="student: smollm2-135m, hub id, folder or .gguf")] = None,
    limit: Annotated[int | None, typer.Option(help="first N examples of a fixed hash order (nested sizes)")] = None,
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe; its 'train' section gives defaults")] = None,
    prompt: Annotated[str | None, typer.Option(help="prompt format taught (evaluate with the same): vicuna, chat")] = None,
    epochs: Annotated[float | None, typer.Option(help="passes over the data")] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after this many optimizer steps")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="peak learning rate (cosine, warmup)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="sequences per device per step")] = None,
    grad_accum: Annotated[int | None, typer.Option(help="gradient accumulation steps")] = None,
    max_length: Annotated[int | None, typer.Option(help="max tokens per example")] = None,
    over_length: Annotated[str | None, typer.Option(help="drop or truncate examples over max_length")] = None,
    packing: Annotated[bool | None, typer.Option("--packing/--no-packing",
                                                 help="pack examples padding-free (best with flash attention)")] = None,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank (omit for full fine-tuning)")] = None,
    merge: Annotated[bool | None, typer.Option("--merge/--no-merge", help="LoRA: also save the merged model")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto (bf16 autocast where fast), bf16, fp16, fp32")] = None,
    save_steps: Annotated[int | None, typer.Option(help="checkpoint every N steps")] = None,
    seed: Annotated[int | None, typer.Option(help="training seed")] = None,
    resume: Annotated[bool | None, typer.Option("--resume/--no-resume",
                                                help="resume from the newest checkpoint (default: if one exists)")] = None,
    restart: Annotated[bool, typer.Option(help="delete checkpoints and logs in --out and start over")] = False,
) -> None:
    """Fine-tune a student on messages data (TRL SFT, full or LoRA) into a Hugging Face model folder."""
    from mathsynth.config import TrainConfig, resolve
    from mathsynth.train.trainer import run_train

    overrides = dict(data=data, out=str(out) if out else None, model=model, limit=limit, prompt=prompt,
                     epochs=epochs, max_steps=max_steps, learning_rate=learning_rate, batch_size=batch_size,
                     grad_accum=grad_accum, max_length=max_length, over_length=over_length, packing=packing,
                     lora_r=lora_r, merge=merge, dtype=dtype, save_steps=save_steps, seed=seed)
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


def _study(recipe: Path, out: Path | None, model: str | None, scale: bool) -> None:
    from mathsynth.config import StudyConfig, build, load_recipe
    from mathsynth.scale.study import run_study

    values = load_recipe(recipe)
    values.update({k: v for k, v in (("out", str(out) if out else None), ("model", model)) if v is not None})
    cfg = build(StudyConfig, values, f"invalid study recipe {recipe}")
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
) -> None:
    """End to end: evaluate the base model, synthesize, train a student, evaluate it, report (resumable)."""
    _study(recipe, out, model, scale=False)


@app.command("scale")
def scale_cmd(
    recipe: Annotated[Path, typer.Argument(help="study recipe (YAML) with 'sizes', e.g. recipes/scale-cpu.yaml")],
    out: Annotated[Path | None, typer.Option(help="study folder (overrides the recipe's out)")] = None,
    model: Annotated[str | None, typer.Option(help="base model (overrides the recipe's model)")] = None,
) -> None:
    """Accuracy vs synthetic data size: one student per nested size, scale.json with fits, report."""
    _study(recipe, out, model, scale=True)


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
