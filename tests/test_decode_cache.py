"""The decode loops' KV cache (GrowingLayer) and shared prefill against the plain concatenating cache,
on a small randomly initialised Llama (real architecture, real transformers kernels)."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from mathsynth.backends import decode as dec  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return transformers.LlamaForCausalLM(cfg).eval()


def _prompts():
    g = torch.Generator().manual_seed(1)
    base = [torch.randint(3, 97, (int(n),), generator=g).tolist() for n in (5, 17, 9, 30, 2, 12)]
    return [p for p in base for _ in range(3)]  # three rows share each prompt, like n=3 samples


def _run(model, prompts, *, growing: bool, share: bool, eos: set[int]):
    from transformers import DynamicCache

    old = dec.new_cache, dec.SHARE_PREFILL
    if not growing:
        dec.new_cache = lambda m: DynamicCache(config=m.config)
    dec.SHARE_PREFILL = share
    try:
        return dec.decode_queue(model, prompts, 40, eos, max_rows=5, pad_id=0, refill=2)
    finally:
        dec.new_cache, dec.SHARE_PREFILL = old


def test_growing_cache_and_shared_prefill_give_the_concatenating_cache_tokens(tiny):
    prompts = _prompts()
    ref = _run(tiny, prompts, growing=False, share=False, eos={7, 11})
    assert any(len(t) < 40 for t in ref) and any(len(t) == 40 for t in ref)  # rows stop early and run long,
    # so rows are dropped, refilled and leading padding columns trimmed along the way
    assert _run(tiny, prompts, growing=True, share=False, eos={7, 11}) == ref
    assert _run(tiny, prompts, growing=True, share=True, eos={7, 11}) == ref


def test_growing_layer_reads_back_what_was_written_across_growth():
    layer = dec.new_cache(type("M", (), {"config": transformers.LlamaConfig(num_hidden_layers=1)})).layers[0]
    chunks = [torch.randn(2, 1, n, 4) for n in (3, 1, dec.GROW_COLUMNS, 1)]  # the third one forces a new buffer
    for c in chunks:
        k, v = layer.update(c, -c)
    want = torch.cat(chunks, dim=-2)
    assert torch.equal(k, want) and torch.equal(v, -want) and layer.get_seq_length() == want.shape[-2]
    layer.batch_select_indices(torch.tensor([1, 1]))
    assert torch.equal(layer.keys, want[[1, 1]]) and torch.equal(layer.values, -want[[1, 1]])
