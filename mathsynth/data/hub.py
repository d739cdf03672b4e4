"""Fallback loader: fetch a registered benchmark from the Hugging Face hub through ``datasets``.

Used only when ``$MATHSYNTH_DATA_DIR`` is unset. Hub rows are mapped to the same field layout as the
local JSONL files, so one parser handles both. Before calling ``datasets`` the hub endpoint is probed
with a short timeout (``$MATHSYNTH_HUB_TIMEOUT`` seconds, default 5) so that a machine without network
fails fast with one clear error; with ``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1`` the probe is
skipped and ``datasets`` answers from its local cache.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from mathsynth.data.registry import DATA_DIR_ENV, get_benchmark, list_benchmarks
from mathsynth.errors import MathsynthError

HUB_TIMEOUT_ENV = "MATHSYNTH_HUB_TIMEOUT"

_MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                  "number_theory", "prealgebra", "precalculus")


@dataclass(frozen=True)
class HubSource:
    """Where a benchmark lives on the hub: repo, configs to concatenate, and our split -> hub splits."""

    repo: str
    configs: tuple[str | None, ...]
    splits: dict[str, tuple[str, ...]]


HUB_SOURCES: dict[str, HubSource] = {
    "gsm8k": HubSource("openai/gsm8k", ("main",), {"train": ("train",), "test": ("test",)}),
    "math": HubSource("EleutherAI/hendrycks_math", _MATH_SUBJECTS, {"train": ("train",), "test": ("test",)}),
    "math500": HubSource("HuggingFaceH4/MATH-500", (None,), {"test": ("test",)}),
    "svamp": HubSource("ChilleD/SVAMP", (None,), {"test": ("train", "test")}),
    "asdiv": HubSource("EleutherAI/asdiv", ("asdiv",), {"test": ("validation",)}),
}

# A hub chunk: (config, hub split, rows).
Chunk = tuple[str | None, str, list[dict]]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """True when the user asked ``huggingface_hub``/``datasets`` to stay offline (cache only)."""
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("HF_DATASETS_OFFLINE"))


def hub_reachable(timeout: float | None = None) -> bool:
    """Probe the hub endpoint (``$HF_ENDPOINT`` or huggingface.co); any HTTP answer counts as reachable."""
    if timeout is None:
        try:
            timeout = float(os.environ.get(HUB_TIMEOUT_ENV, "5"))
        except ValueError:
            timeout = 5.0
    endpoint = os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"
    try:
        with urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # URLError, timeouts, DNS failures, bad endpoint
        return False


def _load_dataset(repo: str, config: str | None, split: str) -> list[dict]:
    """Call ``datasets.load_dataset`` (imported here, so the package works without it)."""
    import datasets

    ds = datasets.load_dataset(repo, config, split=split) if config else datasets.load_dataset(repo, split=split)
    return [dict(row) for row in ds]


def local_layout_help() -> str:
    """The expected ``$MATHSYNTH_DATA_DIR`` layout.

    >>> local_layout_help().split(", ")[:2]
    ['gsm8k/{test,train}.jsonl', 'math/{test,test500,train}.jsonl']
    """
    by_dir: dict[str, set[str]] = {}
    for info in list_benchmarks():
        if not info.builtin:
            by_dir.setdefault(info.directory, set()).update(info.files.values())
    parts = []
    for directory, files in by_dir.items():
        stems = sorted(f.removesuffix(".jsonl") for f in files)
        parts.append(f"{directory}/{stems[0]}.jsonl" if len(stems) == 1
                     else f"{directory}/{{{','.join(stems)}}}.jsonl")
    return ", ".join(parts)


class HubUnreachable(OSError):
    """The hub endpoint did not answer within the probe timeout."""


def load_rows(name: str, split: str) -> tuple[list[dict], str]:
    """Rows of benchmark ``name``/``split`` from the hub, in the local-file layout, and a source label.

    Every failure (no ``datasets``, hub unreachable, dataset missing) becomes one
    :class:`MathsynthError` explaining how to point ``$MATHSYNTH_DATA_DIR`` at local files.
    """
    info = get_benchmark(name)
    info.check_split(split)
    src = HUB_SOURCES.get(info.name)
    if src is None:
        raise MathsynthError(_help(info.name, split, None, "no hub source is known for it"))
    label = f"hub:{src.repo}[{split}]"
    try:
        if not hub_offline() and not hub_reachable():
            raise HubUnreachable("the hub did not answer (no network?; if the dataset is in your local "
                                 "Hugging Face cache, set HF_HUB_OFFLINE=1 to use it)")
        chunks: list[Chunk] = [(config, hub_split, _load_dataset(src.repo, config, hub_split))
                               for hub_split in src.splits[split] for config in src.configs]
    except ImportError as exc:
        raise MathsynthError(_help(info.name, split, src.repo,
                                   f"the 'datasets' package is not importable ({exc})")) from None
    except Exception as exc:  # noqa: BLE001 - any hub/datasets failure gets the same advice
        reason = str(exc) if isinstance(exc, HubUnreachable) else f"{exc.__class__.__name__}: {exc}"
        reason = reason.strip().rstrip(".")
        raise MathsynthError(_help(info.name, split, src.repo, reason)) from None
    return _MAPPERS.get(info.name, _concat)(chunks, split), label


def _help(name: str, split: str, repo: str | None, reason: str) -> str:
    info = get_benchmark(name)
    where = f" ({repo})" if repo else ""
    return (f"benchmark '{name}' (split '{split}') could not be loaded from the Hugging Face hub{where}: "
            f"{reason}. To use local files, set {DATA_DIR_ENV} to a folder that contains "
            f"{info.directory}/{info.files[split]}, e.g. `export {DATA_DIR_ENV}=/path/to/data` "
            f"(layout: {local_layout_help()}).")


# ---- row mappers: hub field names -> local JSONL field names ------------------------------------------

def _concat(chunks: list[Chunk], split: str) -> list[dict]:
    return [row for _, _, rows in chunks for row in rows]


def _map_math(chunks: list[Chunk], split: str) -> list[dict]:
    """EleutherAI/hendrycks_math: per-subject configs, fields problem/level/type/solution, no file names.

    Ids are positional (``test/algebra/0``), not the original ``<n>.json`` file names; the answer is
    left out so the loader takes the last ``\\boxed{}`` of the solution.
    """
    out = []
    for config, _, rows in chunks:
        for i, row in enumerate(rows):
            out.append({"problem": row.get("problem"), "solution": row.get("solution"),
                        "subject": row.get("type") or row.get("subject") or config,
                        "level": row.get("level"),
                        "unique_id": row.get("unique_id") or f"{split}/{config}/{i}"})
    return out


def _svamp_order(row: dict) -> tuple[int, str]:
    ident = str(row.get("ID", ""))
    tail = ident.rsplit("-", 1)[-1]
    return (int(tail), ident) if tail.isdigit() else (10**9, ident)


def _map_svamp(chunks: list[Chunk], split: str) -> list[dict]:
    """ChilleD/SVAMP splits the 1,000 problems 700/300; rejoin them in original id order."""
    rows = sorted(_concat(chunks, split), key=_svamp_order)
    out = []
    for row in rows:
        body, q = str(row.get("Body", "")).strip(), str(row.get("Question", "")).strip()
        out.append({"id": row.get("ID"), "question": f"{body} {q}".strip() or None,
                    "answer": row.get("Answer"), "body": body, "question_sentence": q,
                    "equation": row.get("Equation"), "type": row.get("Type")})
    return out


_ASDIV_NUMBER = re.compile(r"^\s*(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)\s*(?:\((.*)\))?\s*$")


def _asdiv_number(raw: object) -> str | None:
    """The number of an ASDiv answer; None for names, times, ratios.

    >>> _asdiv_number("9 (apples)"), _asdiv_number("9.80 (dollars)"), _asdiv_number("3:30 p.m.")
    ('9', '9.8', None)
    """
    m = _ASDIV_NUMBER.match(str(raw))
    if not m:
        return None
    num = m.group(1).replace(",", "")
    if "." in num:
        num = num.rstrip("0").rstrip(".")
    return num


def _map_asdiv(chunks: list[Chunk], split: str) -> list[dict]:
    """EleutherAI/asdiv (2,305 rows, answer like '9 (apples)'): keep the rows with one number."""
    out = []
    for i, row in enumerate(_concat(chunks, split)):
        answer = _asdiv_number(row.get("answer"))
        if answer is None:
            continue
        body, q = str(row.get("body", "")).strip(), str(row.get("question", "")).strip()
        out.append({"id": f"nluds-{i + 1:04d}", "question": f"{body} {q}".strip() or None,
                    "answer": answer, "answer_raw": row.get("answer"), "body": body,
                    "question_sentence": q, "solution_type": row.get("solution_type"),
                    "formula": row.get("formula")})
    return out


_MAPPERS: dict[str, Callable[[list[Chunk], str], list[dict]]] = {
    "math": _map_math, "svamp": _map_svamp, "asdiv": _map_asdiv,
}
