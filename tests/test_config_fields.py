"""Every field of EvalConfig, SynthConfig and TrainConfig reaches the code it configures.

Each stage runs on a tiny input (the fake backend, the demo benchmark; training stops before the
model is loaded) once with base settings and once per field with that field changed. A trace of
what the stage hands on (backend factory arguments, every generation request, grader arguments,
the records it writes; for training the data, encoding, TRL and LoRA arguments) must change, or the
stage must refuse the value with a clear error. ``VALUES`` holds the changed value of every field;
``EXEMPT`` names the test covering a field whose effect lies past these seams. A field added
without either fails ``test_every_field_is_covered``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mathsynth.backends.fake import FakeGenerator
from mathsynth.config import EvalConfig, SynthConfig, TrainConfig
from mathsynth.errors import MathsynthError

# Backend options reach the backend factory (load_generator); what each backend does with them is
# tested with that backend (test_backends, test_openai_backend, test_llamacpp_backend, test_cache).
BACKEND = {"base_url": "http://localhost:1/v1", "max_concurrency": 3, "rpm": 60.0, "tpm": 1000.0,
           "request_timeout": 9.0, "max_retries": 1, "max_cost": 1.0, "prices": {"fake": (1.0, 2.0)},
           "cache": False, "cache_path": "c.sqlite", "tensor_parallel_size": 2, "data_parallel_size": 2,
           "n_ctx": 512, "stall_timeout": 5.0,
           # the executor reaches the factory too; tests/test_ray.py runs it on a real Ray cluster
           "executor": "ray", "ray_address": "auto", "workers": 3, "gpus_per_worker": 1.0}
# field -> changed value, or (changed value, settings the base run shares with it)
VALUES = {
    "eval": {**BACKEND, "model": "fake:other", "benchmark": "BENCH_FILE", "split": "train", "limit": 1, "n": 3,
             "temperature": 0.2, "top_p": 0.5, "max_tokens": 7, "greedy_first": True, "prompt": "vicuna",
             "seed": 5, "batch_size": 1, "dtype": "fp32", "rules": ["last-number"],
             "truncated_fallback": (True, {"max_tokens": 1}), "grade_workers": 2, "grade_timeout": 1.0,
             "out": "OTHER_OUT"},
    "synth": {**BACKEND, "seeds": "BENCH_FILE", "split": "train", "teacher": "fake:other", "mode": "question-plain",
              "style": "math", "prompt_file": "PROMPT_FILE", "per_seed": 2, "answers": 2, "limit": 1,
              "temperature": 0.5, "top_p": 0.5, "max_tokens": 9, "min_agreement": 1.0, "max_solution_chars": 100, "max_question_chars": 100,
              "dedup_threshold": (1.0, {"dedup_keep_number_variants": False}), "dedup_keep_number_variants": False, "seed_max_steps": 1,
              "decontam_ngram": 5, "decontam_embed_threshold": 0.5, "decontam_embeddings": False,
              "decontam_benchmarks": ["svamp"], "eval_prompt": "chat", "seed": 3, "batch_size": 1,
              "dtype": "fp32", "out": "OTHER_OUT"},
    "train": {"model": "other-model", "data": "DATA_FILE2", "limit": 2, "prompt": "chat", "epochs": 2.0,
              "max_steps": 3, "learning_rate": 1e-4, "lr_scheduler": "linear", "warmup_ratio": 0.1,
              "weight_decay": 0.1, "max_length": 40, "over_length": "truncate", "batch_size": 2, "grad_accum": 2,
              "packing": True, "group_by_length": False, "lora_r": 4, "lora_alpha": (4, {"lora_r": 4}),
              "lora_dropout": (0.1, {"lora_r": 4}), "lora_targets": ("q_proj,v_proj", {"lora_r": 4}),
              "dtype": "fp16", "gradient_checkpointing": True, "save_steps": 7, "save_total_limit": 3,
              "logging_steps": 2, "seed": 4, "deepspeed": "ds.json", "out": "OTHER_OUT"},
}
EXEMPT = {
    "eval": {},
    "synth": {},
    # the LoRA export happens after training, past this test's seam
    "train": {"merge": "tests/test_train.py::test_lora_fine_tune_saves_adapter_and_merged_model"},
}
CONFIGS = {"eval": EvalConfig, "synth": SynthConfig, "train": TrainConfig}


@pytest.mark.parametrize("stage", list(CONFIGS))
def test_every_field_is_covered(stage):
    fields = set(CONFIGS[stage].model_fields)
    covered = set(VALUES[stage]) | set(EXEMPT[stage])
    assert not set(VALUES[stage]) & set(EXEMPT[stage])
    assert covered == fields, (f"{stage}: fields without a probe here: {sorted(fields - covered)}; "
                               f"probes of no field: {sorted(covered - fields)}")


class _Recorder:
    def __init__(self, monkeypatch, respond=None):
        import mathsynth.backends.models as models
        import mathsynth.grading as grading

        self.log: list = []
        rec = self

        class Gen(FakeGenerator):
            def generate(self, requests, progress=None, on_complete=None):
                rec.log += [("request", r.id, r.prompt, json.dumps(r.messages), repr(r.params)) for r in requests]
                out = super().generate(requests, progress, on_complete)
                # the token limit, as a real backend applies it (a word is a token here)
                return [[c if len(c.text.split()) <= r.params.max_tokens else dataclasses.replace(
                    c, text=" ".join(c.text.split()[:r.params.max_tokens]), finish_reason="length") for c in cs]
                    for r, cs in zip(requests, out, strict=True)]

        def load_generator(name, **kw):
            self.log.append(("load_generator", name, sorted((k, repr(v)) for k, v in kw.items())))
            return Gen(respond)

        class Grader(grading.Grader):
            def __init__(self, **kw):
                rec.log.append(("grader", sorted(kw.items())))
                super().__init__(**{**kw, "workers": 1})  # one worker process: two cores

            def grade_many(self, items, **kw):
                rec.log.append(("grade_many", repr(sorted(kw.items()))))
                return super().grade_many(items, **kw)

        monkeypatch.setattr(models, "load_generator", load_generator)
        monkeypatch.setattr(grading, "Grader", Grader)


def _files(root: Path, names: tuple[str, ...]) -> list:
    """What the stage wrote (paths and records), less what is only bookkeeping."""
    out = []
    for p in sorted(root.rglob("*.jsonl")):
        if p.name in names:
            for line in p.read_text().splitlines():
                rec = json.loads(line)
                rec.pop("settings_key", None)
                out.append((str(p.relative_to(root)), json.dumps(rec, sort_keys=True)))
    return out


def _fixtures(tmp_path: Path) -> dict:
    from mathsynth.data import load_benchmark

    bench = tmp_path / "bench.jsonl"
    rows = [{"id": f"b{i}", "question": p.question, "answer": p.answer, "solution": p.solution}
            for i, p in enumerate(load_benchmark("demo", limit=3))]
    bench.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    prompt = tmp_path / "q.txt"
    prompt.write_text("Write a new problem like this one.\n{question}\n")
    return {"BENCH_FILE": str(bench), "PROMPT_FILE": str(prompt), "OTHER_OUT": str(tmp_path / "runs" / "other"),
            "DATA_FILE2": str(tmp_path / "d2.jsonl")}


def _cases(stage: str):
    return [(stage, f) for f in VALUES[stage]]


def _probe(tmp_path, stage, field, base, run):
    fixtures = _fixtures(tmp_path)
    value = VALUES[stage][field]
    value, shared = value if isinstance(value, tuple) else (value, {})
    value = fixtures.get(value, value) if isinstance(value, str) else value
    cls = CONFIGS[stage]

    def trace(values):
        try:
            return run(cls(**values))
        except MathsynthError as exc:  # a clear refusal of the value counts as reaching its code
            return ("error", str(exc))

    before = trace({**base, **shared, "out": str(tmp_path / "runs" / "base")})
    after = trace({**base, **shared, "out": str(tmp_path / "runs" / "base2"), field: value})
    if field == "out":
        after = trace({**base, **shared, field: value})
        assert Path(value).is_dir()
    assert after != before, f"{stage}.{field} = {value!r} changed nothing the stage hands on"


@pytest.mark.parametrize("stage, field", _cases("eval"))
def test_eval_field_reaches_its_code(tmp_path, monkeypatch, stage, field):
    from mathsynth.evaluate.runner import run_eval

    rec = _Recorder(monkeypatch)
    base = {"model": "fake", "benchmark": "demo", "limit": 2, "n": 2, "max_tokens": 32}

    def run(cfg):
        rec.log.clear()
        run_eval(cfg, show_progress=False)
        root = tmp_path / "runs"
        return rec.log[:], _files(root, ("samples.jsonl",)) if field == "out" else \
            [r[1] for r in _files(Path(cfg.out), ("samples.jsonl",))]

    _probe(tmp_path, stage, field, base, run)


_QUESTION = ("Mia buys {n} bags of apples at the market on Monday morning, and every bag holds exactly 4 red "
             "apples that she picked herself from the big wooden crate near the door of the little shop on the "
             "corner of the main street. How many apples does she buy?")


def _teacher_reply(req, i):
    """A teacher whose two problems are number variants of each other (dedup), whose answers
    disagree once (agreement) and whose first solution is long (length filter)."""
    if req.id.endswith("/answer"):
        if i == 0:
            return "SOLUTION:\nShe buys 3 * 4 = 12 apples, " + "one by one, " * 10 + "in all.\nFINAL ANSWER:\n12"
        return "SOLUTION:\nShe buys 13 apples.\nFINAL ANSWER:\n13" if i == 2 else \
            "SOLUTION:\nShe buys 3 * 4 = 12 apples.\nFINAL ANSWER:\n12"
    q = _QUESTION.format(n=5 if "demo-02" in req.id else 3)
    return f"CREATED QUESTION:\n{q}\nVERIFICATION AND MODIFICATION:\nNo change.\nFINAL CREATED QUESTION:\n{q}"


@pytest.mark.parametrize("stage, field", _cases("synth"))
def test_synth_field_reaches_its_code(tmp_path, monkeypatch, stage, field):
    import mathsynth.synth.decontam as decontam
    from mathsynth.synth.runner import run_synth

    rec = _Recorder(monkeypatch, _teacher_reply)

    class Decontaminator(decontam.Decontaminator):
        # recorded, then run without embeddings (a model download) and only against svamp (fast)
        def __init__(self, **kw):
            rec.log.append(("decontam", sorted((k, repr(v)) for k, v in kw.items())))
            super().__init__(**{**kw, "use_embeddings": False, "benchmarks": []})

    monkeypatch.setattr(decontam, "Decontaminator", Decontaminator)
    base = {"seeds": "demo", "teacher": "fake", "limit": 2, "per_seed": 1, "answers": 3, "min_agreement": 0.5,
            "decontam_benchmarks": []}

    def run(cfg):
        rec.log.clear()
        run_synth(cfg, show_progress=False)
        names = ("generated.jsonl", "questions.jsonl", "rejects.jsonl", "sft.jsonl")
        return rec.log[:], _files(tmp_path / "runs", names) if field == "out" else \
            [r[1] for r in _files(Path(cfg.out), names)]

    _probe(tmp_path, stage, field, base, run)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stage, field", _cases("train"))
def test_train_field_reaches_its_code(tmp_path, monkeypatch, stage, field):
    import mathsynth.backends.models as models
    import mathsynth.train.trainer as trainer

    real_weights = models.weights_path("smollm2-135m")
    log: list = []
    for name in ("d1.jsonl", "d2.jsonl"):
        rows = [{"id": f"{name}{i}", "messages": [{"role": "user", "content": f"What is {i} + {i}? " * (i + 1)},
                                                  {"role": "assistant", "content": f"{i} + {i} = {2 * i}. "
                                                   f"The answer is: {2 * i}."}]} for i in range(6)]
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))

    def weights_path(name):
        log.append(("weights", name))
        return real_weights

    def build_trainer(cfg, base, tok, rows, tokens, console, show_progress):
        # what the trainer would be built from: the encoded rows, TRL's arguments and LoRA's
        log.append(("rows", json.dumps(rows)))
        log.append(("sft", sorted((k, repr(v)) for k, v in trainer._make_sft_config(
            lambda **kw: kw, cfg, Path(cfg.out), use_cpu=True).items())))
        if cfg.lora_r:
            log.append(("lora", repr(trainer._lora_config(cfg))))
        log.append(("folder", sorted(p.name for p in Path(cfg.out).parent.iterdir())))
        raise _Stop

    monkeypatch.setattr(models, "weights_path", weights_path)
    monkeypatch.setattr(trainer, "_build_trainer", build_trainer)
    monkeypatch.chdir(tmp_path)
    base = {"data": str(tmp_path / "d1.jsonl"), "max_length": 64}

    def run(cfg):
        log.clear()
        with pytest.raises(_Stop):
            trainer.run_train(cfg, show_progress=False)
        return log[:]

    _probe(tmp_path, stage, field, base, run)
