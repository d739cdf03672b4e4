"""Real fine-tuning of the embedded model on CPU: loss falls, the folder reloads and evaluates, LoRA,
resume after a kill; and the tokenization/packing invariants the trainer relies on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mathsynth.config import TrainConfig
from tests.conftest import REPO

QUESTIONS = [f"Sam has {a} apples and buys {b} more. How many apples does he have now?"
             for a, b in [(3, 4), (10, 7), (21, 5), (8, 8), (14, 9), (6, 30), (40, 2), (12, 13)]]


@pytest.fixture(scope="module")
def base_dir():
    from mathsynth.backends.models import ensure_embedded

    return ensure_embedded()


@pytest.fixture(scope="module")
def tok(base_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_dir)


def _data(tmp_path, n=8):
    from mathsynth.formats import get_format

    fmt = get_format("vicuna")
    recs = []
    for i, q in enumerate(QUESTIONS[:n]):
        a, b = [int(w) for w in q.split() if w.isdigit()]
        sol = f"Sam starts with {a} apples and buys {b} more, so {a} + {b} = {a + b}.\nThe answer is: {a + b}."
        recs.append({"id": f"t{i}", "messages": fmt.sft_messages(q, sol)})
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _mean_loss(model_dir, tok, path, prompt="vicuna"):
    """Loss on the assistant tokens of the training file, one example at a time (no padding effects)."""
    import torch
    from transformers import AutoModelForCausalLM

    from mathsynth.train.data import read_examples
    from mathsynth.train.encode import encode

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    rows, _ = encode(read_examples(str(path)), tok, prompt=prompt, max_length=1024)
    losses = []
    with torch.no_grad():
        for r in rows:
            losses.append(model(input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]])).loss.item())
    return sum(losses) / len(losses)


@pytest.mark.parametrize("prompt", ["vicuna", "chat"])
def test_prompt_tokens_are_exactly_what_evaluation_sends(tok, prompt):
    from mathsynth.formats import get_format
    from mathsynth.train.encode import IGNORE, encode

    fmt = get_format(prompt)
    q = QUESTIONS[0]
    rows, stats = encode([{"id": "1", "messages": fmt.sft_messages(q, "3 + 4 = 7.\nThe answer is: 7.")}], tok,
                         prompt=prompt, max_length=1024)
    req = fmt.build(q)
    text = req["prompt"] if "prompt" in req else tok.apply_chat_template(req["messages"], tokenize=False,
                                                                         add_generation_prompt=True)
    sent = tok(text, add_special_tokens=False)["input_ids"]
    ids, labels = rows[0]["input_ids"], rows[0]["labels"]
    n_prompt = sum(1 for x in labels if x == IGNORE)
    assert ids[:n_prompt] == sent
    assert labels[n_prompt:] == ids[n_prompt:]
    assert tok.eos_token_id in ids[n_prompt:][-2:]  # the student learns to stop
    assert stats.loss_tokens == len(ids) - n_prompt


def test_over_length_examples_are_dropped_and_counted(tok, tmp_path):
    from mathsynth.train.data import read_examples
    from mathsynth.train.encode import encode

    exs = read_examples(str(_data(tmp_path)))
    exs[3]["messages"][-1]["content"] += " and so on" * 200
    rows, stats = encode(exs, tok, prompt="vicuna", max_length=256)
    assert stats.dropped_over_length == 1 and stats.dropped_ids == ["t3"] and len(rows) == 7
    rows, stats = encode(exs, tok, prompt="vicuna", max_length=256, over_length="truncate")
    assert stats.truncated == 1 and len(rows) == 8 and max(len(r["input_ids"]) for r in rows) == 256


@pytest.mark.slow
def test_packed_sequences_do_not_attend_across_examples(base_dir, tok, tmp_path):
    """Padding-free packing relies on position_ids restarting per example; each example's logits must be
    the same packed as alone. Only without a KV cache (the trainer sets use_cache=False): with one,
    transformers does not detect the packing and examples see each other."""
    import torch
    from transformers import AutoModelForCausalLM

    from mathsynth.train.data import read_examples
    from mathsynth.train.encode import encode

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
    model.config.use_cache = False
    rows, _ = encode(read_examples(str(_data(tmp_path, 2))), tok, prompt="vicuna", max_length=1024)
    with torch.no_grad():
        alone = [model(input_ids=torch.tensor([r["input_ids"]])).logits[0] for r in rows]
        ids = torch.tensor([rows[0]["input_ids"] + rows[1]["input_ids"]])
        pos = torch.tensor([list(range(len(rows[0]["input_ids"]))) + list(range(len(rows[1]["input_ids"])))])
        packed = model(input_ids=ids, position_ids=pos).logits[0]
    n0 = len(rows[0]["input_ids"])
    assert torch.allclose(packed[:n0], alone[0], atol=1e-3)
    assert torch.allclose(packed[n0:], alone[1], atol=1e-3)
    with torch.no_grad():
        leaky = model(input_ids=ids, position_ids=pos, use_cache=True).logits[0]
    assert not torch.allclose(leaky[n0:], alone[1], atol=1e-3)  # the trap the trainer avoids


@pytest.mark.slow
def test_full_fine_tune_lowers_loss_and_the_folder_evaluates(tmp_path, base_dir, tok):
    from mathsynth.config import EvalConfig
    from mathsynth.evaluate.runner import run_eval
    from mathsynth.train.trainer import run_train

    data = _data(tmp_path)
    out = tmp_path / "student"
    cfg = TrainConfig(data=str(data), epochs=4, batch_size=8, learning_rate=2e-4, max_length=512,
                      save_steps=1000, out=str(out))
    summary = run_train(cfg, show_progress=False)
    assert summary["global_step"] == 4
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all("learning_rate" in r and "loss" in r for r in log)
    before, after = _mean_loss(base_dir, tok, data), _mean_loss(out, tok, data)
    assert after < 0.7 * before, (before, after)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json",
                 "chat_template.jinja"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "train_config.json").read_text())
    assert manifest["status"] == "done" and manifest["encode"]["kept"] == 8
    # a rerun of a finished folder does nothing
    assert run_train(cfg, show_progress=False) == summary
    # changed settings are refused rather than mixed
    with pytest.raises(Exception, match="other settings"):
        run_train(cfg.model_copy(update={"learning_rate": 3e-4}), show_progress=False)
    metrics = run_eval(EvalConfig(model=str(out), benchmark="demo", limit=2, n=1, max_tokens=24, prompt="vicuna",
                                  cache=False, out=str(tmp_path / "eval")), show_progress=False)
    assert metrics["overall"]["n_problems"] == 2


@pytest.mark.slow
def test_lora_fine_tune_saves_adapter_and_merged_model(tmp_path, base_dir, tok):
    from mathsynth.train.trainer import run_train

    data = _data(tmp_path)
    out = tmp_path / "lora"
    run_train(TrainConfig(data=str(data), epochs=4, batch_size=8, learning_rate=2e-3, lora_r=8, max_length=512,
                          save_steps=1000, out=str(out)), show_progress=False)
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert (out / "adapter" / "adapter_config.json").exists()
    assert _mean_loss(out, tok, data) < 0.85 * _mean_loss(base_dir, tok, data)


@pytest.mark.slow
def test_kill_mid_training_then_resume_reaches_the_same_step_count(tmp_path):
    data = _data(tmp_path)
    out = tmp_path / "resumed"
    args = [sys.executable, "-m", "mathsynth.cli", "train", "--data", str(data), "--out", str(out),
            "--max-steps", "4", "--batch-size", "4", "--save-steps", "2", "--max-length", "512",
            "--learning-rate", "1e-4"]
    p = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 500
        while time.time() < deadline and p.poll() is None:
            if (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists():
                break
            time.sleep(0.5)
        assert p.poll() is None, "training finished or died before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
    assert not (out / "model.safetensors").exists()
    # The data file's content changed since the checkpoint (same ids, other answers): refused.
    original = data.read_text()
    data.write_text(original.replace("The answer is", "So the answer is", 1))
    r = subprocess.run(args + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 2 and "was trained on other data" in r.stderr, r.stderr[-2000:]
    data.write_text(original)
    r = subprocess.run(args + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "train_config.json").read_text())["summary"]
    assert summary["global_step"] == 4 and summary["resumed_from"].startswith("checkpoint-")
    steps = [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_four_percent_warmup_starts_below_the_peak_learning_rate(tmp_path):
    # warmup_ratio reaches transformers as warmup_steps < 1, which transformers >= 5 reads as a ratio
    # (4.x read it as zero steps: the paper's 4% warmup silently vanished); pyproject pins >= 5.
    import torch
    from transformers import get_scheduler

    from mathsynth.train.trainer import _sft_args

    args = _sft_args(TrainConfig(data="x.jsonl", warmup_ratio=0.04, learning_rate=2e-5, out=str(tmp_path)), tmp_path)
    assert args.get_warmup_steps(100) == 4
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-5)
    sched = get_scheduler(args.lr_scheduler_type, opt, num_warmup_steps=args.get_warmup_steps(100),
                          num_training_steps=100)
    opt.step()
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(2e-5 / 4)   # step 1 of 4 warmup steps
    for _ in range(3):
        opt.step()
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(2e-5)       # the peak after the warmup
