import pytest

from mathsynth.backends import GenerationRequest, SamplingParams, load_generator, resolve_model
from mathsynth.backends.fake import FakeGenerator
from mathsynth.errors import MathsynthError
from mathsynth.formats import FORMATS, get_format


def test_sampling_params_validation():
    with pytest.raises(MathsynthError, match="n must be"):
        SamplingParams(n=0)
    with pytest.raises(MathsynthError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(MathsynthError, match="exactly one"):
        GenerationRequest("x")


def test_model_names_resolve():
    assert resolve_model("smollm2-135m").backend == "transformers"
    assert resolve_model("hf:org/model").target == "org/model"
    assert resolve_model("org/model").target == "org/model"
    for bad in ("no/such/thing/here", "./missing-folder", "x.gguf"):
        with pytest.raises(MathsynthError, match="model"):
            resolve_model(bad)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(MathsynthError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_fake_backend_counts_requests():
    g = load_generator("fake")
    assert isinstance(g, FakeGenerator)
    out = g.generate([GenerationRequest(str(i), SamplingParams(n=3), prompt="q") for i in range(4)])
    assert [len(c) for c in out] == [3, 3, 3, 3] and g.calls == 4


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 0.999])
def test_nucleus_by_topk_equals_the_full_sort(top_p):
    """Sharp rows (the nucleus inside the top-k), flat rows (it is wider: the fallback sorts them) and
    a mix in one batch give the same kept tokens as sorting the whole vocabulary."""
    import torch

    from mathsynth.backends.transformers_backend import NUCLEUS_TOPK, nucleus, sorted_nucleus

    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.3, 1.0, 3.0, 8.0, 20.0] * 4).unsqueeze(-1)
    logits = torch.randn(len(scales), 49152, generator=g) * scales
    want, got = sorted_nucleus(logits, top_p), nucleus(logits, top_p)
    assert torch.equal(want.isinf(), got.isinf())
    assert torch.equal(want[~want.isinf()], got[~got.isinf()])
    kept = (~got.isinf()).sum(-1)
    assert kept.min() >= 1 and kept.max() > NUCLEUS_TOPK  # both paths were taken


def test_formats_build_and_stop():
    for name, fmt in FORMATS.items():
        built = fmt.build("What is 1+1?")
        assert ("messages" in built) == (fmt.kind == "chat"), name
    vic = get_format("vicuna").build("What is 1+1?")["prompt"]
    assert vic.endswith("'The answer is: <ANSWER>.' ASSISTANT:")
    assert "USER: What is 1+1? Give your solution in detail." in vic
    assert len(get_format("chat-fewshot").build("q")["messages"]) == 9
    with pytest.raises(MathsynthError, match="unknown prompt format"):
        get_format("nope")


# ---- the real embedded model -------------------------------------------------------------------

def _req(i, params, question="What is 7 times 6?"):
    return GenerationRequest(f"q{i}", params, **get_format("chat").build(question))


@pytest.mark.slow
def test_real_model_n_samples_and_token_limit(small_model):
    params = SamplingParams(n=3, temperature=0.9, max_tokens=16, seed=1)
    out = small_model.generate([_req(0, params), _req(1, params, "Name a prime number.")])
    assert [len(c) for c in out] == [3, 3]
    for comps in out:
        for c in comps:
            assert 0 < c.completion_tokens <= 16 and c.prompt_tokens > 10
            assert c.finish_reason in ("stop", "length")
            assert "<|im_end|>" not in c.text and "<|im_start|>" not in c.text
    # samples differ (temperature 0.9) - at least two distinct texts among six
    assert len({c.text for comps in out for c in comps}) >= 2


@pytest.mark.slow
def test_real_model_seeded_reruns_reproduce(small_model):
    params = SamplingParams(n=2, temperature=1.0, max_tokens=12, seed=123)
    reqs = [_req(0, params), _req(1, params, "What is 10 minus 3?")]
    a = [c.text for cs in small_model.generate(reqs) for c in cs]
    b = [c.text for cs in small_model.generate(reqs) for c in cs]
    assert a == b
    other = SamplingParams(n=2, temperature=1.0, max_tokens=12, seed=124)
    c = [c.text for cs in small_model.generate([_req(0, other), _req(1, other, "What is 10 minus 3?")])
         for c in cs]
    assert c != a


@pytest.mark.slow
def test_real_model_resume_after_a_cut_off_call_reproduces_the_uninterrupted_call(small_model, tmp_path):
    """What a kill mid-eval leaves: some of a call's samples cached. The resumed call must give the
    uninterrupted call's samples, although sampled rows depend on their batch mates through rounding."""
    from mathsynth.backends.cache import ResponseCache
    from mathsynth.backends.cached import CachedGenerator

    params = SamplingParams(n=2, temperature=0.7, max_tokens=48, seed=5)
    from mathsynth.data import load_benchmark

    reqs = [_req(i, params, p.question) for i, p in enumerate(load_benchmark("demo", limit=8))]
    whole = [c.text for cs in small_model.generate(reqs) for c in cs]
    with ResponseCache(tmp_path / "r.sqlite") as cache:
        gen = CachedGenerator(small_model, cache)
        first = [c.text for cs in gen.generate(reqs) for c in cs]
        cache._conn().execute("DELETE FROM responses WHERE rowid % 2 = 0")  # half of it lost in a kill
        resumed = [c.text for cs in gen.generate(reqs) for c in cs]
    assert first == whole and resumed == whole
    assert gen.stats["regenerated"] == 1


@pytest.mark.slow
def test_real_model_greedy_is_deterministic_and_batch_independent(small_model):
    greedy = SamplingParams(n=1, temperature=0, max_tokens=12)
    alone = small_model.generate([_req(0, greedy)])[0][0].text
    batched = small_model.generate([_req(0, greedy), _req(1, greedy, "A much longer question about how "
                                                                    "many apples are in three baskets of four?")])
    assert batched[0][0].text == alone  # left padding must not change the answer


@pytest.mark.slow
def test_real_model_stop_strings_honoured(small_model):
    params = SamplingParams(n=2, temperature=0, max_tokens=40, stop=(" ",))
    out = small_model.generate([_req(0, params)])[0]
    for c in out:
        assert " " not in c.text and c.finish_reason == "stop"


@pytest.mark.slow
def test_n_larger_than_batch_is_split(small_model):
    old = small_model.batch_size
    small_model.batch_size = 2
    try:
        out = small_model.generate([_req(0, SamplingParams(n=5, max_tokens=4, seed=3))])
    finally:
        small_model.batch_size = old
    assert len(out[0]) == 5


def test_backend_prefixes_resolve(tmp_path):
    spec = resolve_model("openai:gpt-4-turbo")
    assert (spec.backend, spec.target, spec.base_url) == ("openai", "gpt-4-turbo", None)
    spec = resolve_model("openai:qwen@http://127.0.0.1:8000/v1")
    assert (spec.target, spec.base_url) == ("qwen", "http://127.0.0.1:8000/v1")
    assert resolve_model("vllm:org/model").backend == "vllm"
    assert resolve_model("llamacpp:smollm2-135m").backend == "llamacpp"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(f"llamacpp:{gguf}").target == str(gguf)
    for bad in ("openai:", "openai:m@ftp://x", "vllm:", "llamacpp:missing.gguf", "llamacpp:notes.txt"):
        with pytest.raises(MathsynthError, match="model"):
            resolve_model(bad)


@pytest.mark.slow
def test_cli_eval_with_llamacpp_and_clear_vllm_error(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    args = [sys.executable, "-m", "mathsynth.cli", "eval", "--model", "llamacpp:smollm2-135m", "--benchmark", "demo",
            "--limit", "2", "--n", "2", "--max-tokens", "16", "--out", str(out), "--cache-path",
            str(tmp_path / "c.sqlite")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(len(x["completions"]) == 2 and all(x["completions"]) for x in recs)
    assert json.loads((out / "config.json").read_text())["backend"]["backend"] == "llamacpp"
    try:
        import vllm  # noqa: F401
    except ImportError:
        r = subprocess.run(args[:5] + ["vllm:HuggingFaceTB/SmolLM2-135M-Instruct"] + args[6:-4]
                           + ["--out", str(tmp_path / "v")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "[vllm]" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_real_model_pruned_and_continuous_decode_match_generate(small_model, temperature):
    # Dropping finished rows from the batch (backends.decode.decode) and refilling them with queued
    # prompts (decode_queue, here with 4 rows for 12 samples, so rows are refilled many times) must
    # give what model.generate gives: the same greedy tokens, and the same per-row seeded samples.
    from mathsynth.data import load_benchmark
    from mathsynth.formats import get_format

    inner = getattr(small_model, "inner", small_model)
    assert inner.continuous  # SmolLM2's cache is a plain dynamic one
    fmt = get_format("vicuna")
    params = SamplingParams(n=2, temperature=temperature, max_tokens=48, stop=fmt.stop, seed=5)
    reqs = [GenerationRequest(p.id, params, **fmt.build(p.question)) for p in load_benchmark("demo", limit=6)]
    old = inner.prune, inner.continuous, inner.batch_size
    try:
        inner.prune = False
        ref = inner.generate(reqs)
        inner.prune, inner.continuous = True, False
        pruned = inner.generate(reqs)
        inner.continuous, inner.batch_size = True, 4
        seen = []
        queued = inner.generate(reqs, on_complete=lambda i, k, c: seen.append((i, k)))
    finally:
        inner.prune, inner.continuous, inner.batch_size = old
    texts = lambda out: [[c.text for c in cs] for cs in out]  # noqa: E731
    reasons = lambda out: [[c.finish_reason for c in cs] for cs in out]  # noqa: E731
    assert texts(pruned) == texts(ref) and texts(queued) == texts(ref)
    assert reasons(pruned) == reasons(ref) and reasons(queued) == reasons(ref)
    assert sorted(seen) == [(i, k) for i in range(6) for k in range(2)]  # each sample reported once
    assert {c.finish_reason for cs in ref for c in cs} >= {"length"}   # some rows ran to the limit
