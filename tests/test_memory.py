"""Each stage gives its model back before the next one loads: the real embedded model as evaluated
model, LLM teacher and trained student, stages run through the study's Pipeline as `run` does."""

from __future__ import annotations

import gc
import json
import warnings

from mathsynth.config import EvalConfig, SynthConfig, TrainConfig
from mathsynth.memory import release_memory, rss_bytes
from mathsynth.scale.pipeline import Pipeline


def live_models() -> set[int]:
    """ids of the Hugging Face models alive in this process (other tests' fixtures included)."""
    from transformers import PreTrainedModel

    gc.collect()
    with warnings.catch_warnings():  # isinstance on every object touches deprecated torch aliases
        warnings.simplefilter("ignore")
        return {id(o) for o in gc.get_objects() if isinstance(o, PreTrainedModel)}


def test_release_memory_returns_heap_pages():
    import torch

    before = release_memory()
    blocks = [torch.ones(1 << 20) for _ in range(64)]  # 256 MiB in 4 MiB tensors from malloc
    held = rss_bytes()
    del blocks
    after = release_memory()
    assert held - before > 200 << 20
    assert after < held - (150 << 20)  # given back to the OS, not kept in the process's heap


def test_each_stage_frees_its_model(tmp_path, monkeypatch):
    p = Pipeline(tmp_path / "study")
    start = live_models()

    ecfg = EvalConfig(model="smollm2-135m", benchmark="demo", limit=2, n=1, temperature=0.0, max_tokens=12,
                      out=str(tmp_path / "eval"), cache=False)
    from mathsynth.evaluate.runner import run_eval

    p.stage("eval", {"e": 1}, None, lambda: run_eval(ecfg, show_progress=False)["overall"]["n_problems"])
    assert live_models() == start, "the evaluated model outlived its stage"

    scfg = SynthConfig(seeds="demo", teacher="smollm2-135m", mode="question-verify", limit=1, per_seed=1,
                       answers=1, max_tokens=24, out=str(tmp_path / "synth"), decontam_embeddings=False,
                       cache=False)
    from mathsynth.synth import runner

    seen = {}
    real_finalize = runner.finalize

    def finalize(*args, **kwargs):  # decontamination (the embedder) runs in here
        seen["models"] = live_models()
        return real_finalize(*args, **kwargs)

    monkeypatch.setattr(runner, "finalize", finalize)
    p.stage("synth", {"s": 1}, None, lambda: runner.run_synth(scfg, show_progress=False)["units"])
    assert seen["models"] == start, "the teacher was still loaded when finalize (the embedder) ran"
    assert live_models() == start

    from mathsynth.formats import get_format

    fmt = get_format("vicuna")
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps({"id": f"t{i}", "messages": fmt.sft_messages(
        f"Sam has {i} apples and buys 2 more. How many apples does he have?",
        f"{i} + 2 = {i + 2}.\nThe answer is: {i + 2}.")}) + "\n" for i in range(4)))
    tcfg = TrainConfig(data=str(sft), out=str(tmp_path / "student"), epochs=1, batch_size=4, max_length=256,
                       save_steps=100)
    from mathsynth.train.trainer import run_train

    p.stage("train", {"t": 1}, None, lambda: len(run_train(tcfg, show_progress=False)))
    assert live_models() == start, "the trainer's model outlived its stage"


def test_pipeline_stage_collects_a_model_left_in_a_cycle(tmp_path):
    """A stage that leaves a cycle behind (a model referencing itself) is still collected."""
    import torch

    class Cyclic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(512, 512)
            self.me = [self]  # a reference cycle: plain refcounting never frees it

    gc.disable()
    try:
        import weakref

        ref = {}

        def work():
            m = Cyclic()
            ref["m"] = weakref.ref(m)
            return 1

        Pipeline(tmp_path).stage("cyclic", {}, None, work)
        assert ref["m"]() is None
    finally:
        gc.enable()
