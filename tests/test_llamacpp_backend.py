"""The in-process llama.cpp backend on the real embedded GGUF, and vLLM's pure helpers with stubs."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace as NS

import pytest

from mathsynth.backends.base import Completion, GenerationRequest, SamplingParams, row_seed
from mathsynth.errors import MathsynthError

MSGS = ({"role": "user", "content": "What is 12 times 7? Think step by step."},)
RAW = "Question: What is 2 + 3?\nAnswer:"

pytestmark = pytest.mark.slow  # a real llama.cpp model or server


@pytest.fixture(scope="module")
def gen():
    from mathsynth.backends.llamacpp_backend import LlamaCppGenerator
    from mathsynth.backends.models import embedded_gguf

    g = LlamaCppGenerator(embedded_gguf(), n_ctx=1024, reuse_prefix=False)  # exact offsets
    yield g
    g.close()


def chat(rid="q1", sample_offset=0, **kw):
    kw.setdefault("max_tokens", 24)
    return GenerationRequest(rid, SamplingParams(**kw), messages=MSGS, sample_offset=sample_offset)


def test_chat_template_is_the_ggufs_chatml(gen):
    text = gen.render(chat())
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    "<|im_end|>\n<|im_start|>user\nWhat is 12 times 7? Think step by step.<|im_end|>\n"
                    "<|im_start|>assistant\n")
    # The template's special tokens are single tokens, and no BOS is added in front of them.
    toks = gen._tokens(chat())
    assert toks[0] == gen.llm.token_bos() and toks.count(toks[0]) == 3


def test_chat_and_raw_requests_with_callbacks(gen):
    calls, progress = [], []
    reqs = [chat(n=2, temperature=0.8, seed=1),
            GenerationRequest("r", SamplingParams(temperature=0, max_tokens=16), prompt=RAW)]
    out = gen.generate(reqs, progress=lambda d, t: progress.append((d, t)),
                       on_complete=lambda i, k, c: calls.append((i, k, c)))
    assert [len(cs) for cs in out] == [2, 1]
    for cs in out:
        for c in cs:
            assert isinstance(c, Completion) and c.ok and c.text
            assert c.finish_reason in ("stop", "length") and 0 < c.completion_tokens <= 24
    assert out[0][0].prompt_tokens > 30 and 5 < out[1][0].prompt_tokens < 20
    assert [(i, k) for i, k, _ in calls] == [(0, 0), (0, 1), (1, 0)]
    assert calls[1][2] is out[0][1]
    assert progress == [(1, sum(c.completion_tokens for c in out[0])), (1, out[1][0].completion_tokens)]


def test_seeded_samples_reproduce_and_offsets_line_up(gen):
    full = gen.generate([chat(n=4, temperature=1.0, seed=7)])[0]
    gen.generate([GenerationRequest("other", SamplingParams(max_tokens=8), prompt="Unrelated text")])
    tail = gen.generate([chat(n=2, temperature=1.0, seed=7, sample_offset=2)])[0]
    again = gen.generate([chat(n=4, temperature=1.0, seed=7)])[0]
    texts = [c.text for c in full]
    assert [c.text for c in again] == texts
    assert [c.text for c in tail] == texts[2:]
    assert len(set(texts)) > 1  # samples differ from one another
    other_seed = gen.generate([chat(n=4, temperature=1.0, seed=8)])[0]
    assert [c.text for c in other_seed] != texts


def test_greedy_decodes_once_and_replicates(gen):
    out = gen.generate([chat(n=3, temperature=0)])[0]
    assert len(out) == 3 and len({c.text for c in out}) == 1
    assert out[0] is not out[1]  # distinct objects: callers may annotate them


def test_stop_strings_and_length(gen):
    free = gen.generate([chat(temperature=0)])[0][0]
    words = free.text.split()
    assert len(words) >= 3
    word = words[len(words) // 2]
    cut = gen.generate([chat(temperature=0, stop=(word,))])[0][0]
    assert cut.finish_reason == "stop" and word not in cut.text and free.text.startswith(cut.text)
    short = gen.generate([chat(temperature=0, max_tokens=3)])[0][0]
    assert short.finish_reason == "length" and short.completion_tokens == 3


def test_describe_and_cache_identity(gen):
    d = gen.describe()
    assert d["backend"] == "llamacpp" and d["n_ctx"] == 1024 and d["path"].endswith(".gguf")
    ident = gen.cache_identity()
    assert ident["backend"] == "llamacpp" and "#" in ident["model"]


def test_too_long_prompt_is_an_error_completion(gen):
    req = GenerationRequest("long", SamplingParams(n=2, max_tokens=4), prompt="one two three " * 400)
    out = gen.generate([req])[0]
    assert [c.finish_reason for c in out] == ["error", "error"] and "context" in out[0].error


def test_missing_gguf_is_a_clear_error(tmp_path):
    from mathsynth.backends.llamacpp_backend import LlamaCppGenerator

    with pytest.raises(MathsynthError, match="nope.gguf"):
        LlamaCppGenerator(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(MathsynthError, match="bad.gguf"):
        LlamaCppGenerator(bad)


# ---- vLLM: only the parts that need no vLLM ----

@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_missing_gives_install_hint():
    from mathsynth.backends.vllm_backend import VLLMGenerator

    with pytest.raises(MathsynthError, match=r"\[vllm\] extra"):
        VLLMGenerator("Qwen/Qwen2.5-Math-1.5B-Instruct")


def _echo_engine(log):
    """A stand-in for ``LLM.generate``: each output's text is its job's seed (or 'greedy')."""
    def generate(prompts, params):
        log.append(len(prompts))
        return [NS(prompt_token_ids=p["prompt_token_ids"],
                   outputs=[NS(text=f"{sp['seed']}" if sp["seed"] is not None else "greedy. Q: more",
                               finish_reason="stop", token_ids=[1] * sp["max_tokens"])])
                for p, sp in zip(prompts, params, strict=True)]
    return generate


def test_vllm_jobs_seeds_offsets_and_callbacks():
    from mathsynth.backends.vllm_backend import run_jobs

    reqs = [GenerationRequest("a", SamplingParams(n=4, max_tokens=5), prompt="x"),
            GenerationRequest("a", SamplingParams(n=2, max_tokens=5), prompt="x", sample_offset=2),
            GenerationRequest("g", SamplingParams(n=3, temperature=0, max_tokens=2, stop=("Q:",)),
                              prompt="y")]
    calls, progress, log = [], [], []
    out = run_jobs(_echo_engine(log), dict, reqs, [[1, 2], [1, 2], [3]], chunk_size=4,
                   progress=lambda d, t: progress.append((d, t)),
                   on_complete=lambda i, k, c: calls.append((i, k)))
    assert [c.text for c in out[0]] == [str(row_seed(0, "a", k)) for k in range(4)]
    assert [c.text for c in out[1]] == [c.text for c in out[0][2:]]
    assert [c.text for c in out[2]] == ["greedy. "] * 3 and out[2][0] is not out[2][1]
    assert all(c.finish_reason == "stop" and c.prompt_tokens in (1, 2) for cs in out for c in cs)
    assert log == [4, 3]  # 4 + 2 sampled jobs and 1 greedy job, in chunks of 4
    assert sorted(calls) == [(0, k) for k in range(4)] + [(1, 0), (1, 1)] + [(2, k) for k in range(3)]
    assert sum(d for d, _ in progress) == 3 and sum(t for _, t in progress) == 4 * 5 + 2 * 5 + 3 * 2


def test_vllm_too_long_prompt_fails_alone():
    from mathsynth.backends.vllm_backend import run_jobs

    reqs = [GenerationRequest("ok", SamplingParams(max_tokens=3), prompt="x"),
            GenerationRequest("long", SamplingParams(n=2, max_tokens=3), prompt="y")]
    out = run_jobs(_echo_engine([]), dict, reqs, [[1], [1] * 10], max_len=8)
    assert out[0][0].ok and [c.finish_reason for c in out[1]] == ["error", "error"]


def test_vllm_result_mapping_and_params():
    from mathsynth.backends.vllm_backend import sampling_kwargs, to_completion

    length = to_completion(NS(prompt_token_ids=[1, 2], outputs=[NS(text="abc", finish_reason="length",
                                                                    token_ids=[4, 5, 6])]))
    assert (length.finish_reason, length.prompt_tokens, length.completion_tokens) == ("length", 2, 3)
    aborted = to_completion(NS(prompt_token_ids=[1],
                               outputs=[NS(text="", finish_reason="abort", token_ids=[])]))
    assert aborted.finish_reason == "error" and "abort" in aborted.error
    assert to_completion(NS(prompt_token_ids=None, outputs=[])).finish_reason == "error"
    greedy = sampling_kwargs(SamplingParams(temperature=0, top_p=0.5), None)
    assert greedy["top_p"] == 1.0 and greedy["stop"] is None and greedy["n"] == 1


def test_vllm_prompt_encoding_matches_llm_chat():
    from mathsynth.backends.vllm_backend import encode_prompts

    seen = []

    class Tok:
        chat_template = "{{ messages }}"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert tokenize is False and add_generation_prompt is True
            return "<s>chat:" + messages[0]["content"]

        def encode(self, text, add_special_tokens=True):
            seen.append((text, add_special_tokens))
            return [1] * len(text)

    reqs = [GenerationRequest("c", messages=MSGS), GenerationRequest("r", prompt="2+2=")]
    ids = encode_prompts(Tok(), reqs)
    assert [len(i) for i in ids] == [len("<s>chat:" + MSGS[0]["content"]), 4]
    assert [s for _, s in seen] == [False, True]  # the template's own BOS is not doubled


def test_vllm_generator_wiring_with_a_stub_engine(monkeypatch):
    import sys
    import types

    from mathsynth.backends.vllm_backend import VLLMGenerator

    made = {}

    class StubTokenizer:
        chat_template = "chatml"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "<|im_start|>user\n" + messages[-1]["content"] + "<|im_end|>\n<|im_start|>assistant\n"

        def encode(self, text, add_special_tokens=True):
            return list(range(len(text.split())))

    class StubLLM:
        def __init__(self, model, **kwargs):
            made.update(kwargs, model=model)
            self.llm_engine = NS(model_config=NS(max_model_len=64), engine_core=NS(shutdown=lambda: None))

        def get_tokenizer(self):
            return StubTokenizer()

        def generate(self, prompts, params, use_tqdm=True):
            assert use_tqdm is False
            return _echo_engine([])(prompts, params)

    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams, fake.__version__ = StubLLM, dict, "0.0-stub"
    monkeypatch.setitem(sys.modules, "vllm", fake)
    g = VLLMGenerator("org/model", dtype="bfloat16")
    assert made["model"] == "org/model" and "data_parallel_size" not in made and made["dtype"] == "bfloat16"
    assert g.describe()["max_model_len"] == 64
    assert g.cache_identity() == {"backend": "vllm", "model": "org/model"}
    calls = []
    out = g.generate([GenerationRequest("q", SamplingParams(n=3, max_tokens=4), messages=MSGS)],
                     on_complete=lambda i, k, c: calls.append(k))
    assert [c.text for c in out[0]] == [str(row_seed(0, "q", k)) for k in range(3)] and calls == [0, 1, 2]
    g.close()
    with pytest.raises(MathsynthError, match="closed"):
        g.generate([])
    VLLMGenerator("org/model", data_parallel_size=2)
    assert made["data_parallel_size"] == 2
