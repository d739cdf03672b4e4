"""Why mathsynth has its own MinHash LSH: ours vs datasketch on the same questions, in one run.

Takes the first ``--n`` questions of the 1M-question file that ``bench/dedup.py`` caches (run that
once first) and deduplicates them with both implementations at the same settings: word 3-gram
shingles of the same normalized text, 64 permutations, Jaccard threshold 0.8. datasketch
(``pip install datasketch``) is driven the usual way: one ``MinHash`` per question updated with its
shingles, ``MinHashLSH.query`` then ``insert`` for each kept question. Exact duplicates are removed
first on both sides by normalized text. Prints both rates and how far the kept sets agree; the
last line is ``datasketch: ours X q/s, datasketch Y q/s, ratio R, kept ours A / datasketch B``.

    PYTHONPATH=. .venv/bin/python bench/dedup_datasketch.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mathsynth.backends.models import cache_dir  # noqa: E402
from mathsynth.synth.dedup import Deduper, normalize_text  # noqa: E402


def load(n: int) -> list[tuple[str, str]]:
    path = Path(cache_dir()) / "bench" / "dedup_questions_1000000.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/dedup.py once to generate the questions")
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if isinstance(rec, dict):  # the header line (source, generation time)
                continue
            out.append((rec[0], rec[1]))
            if len(out) >= n:
                break
    return out


def ours(items: list[tuple[str, str]]) -> tuple[set[str], float]:
    t0 = time.time()
    d = Deduper(threshold=0.8)
    verdicts = []
    for k in range(0, len(items), 4096):  # the batch size bench/dedup.py and the stage use
        chunk = items[k:k + 4096]
        verdicts += d.add_many([i for i, _ in chunk], [t for _, t in chunk])
    kept = {i for (i, _), v in zip(items, verdicts, strict=True) if v is None}
    return kept, time.time() - t0


def datasketch_dedup(items: list[tuple[str, str]]) -> tuple[set[str], float]:
    from datasketch import MinHash, MinHashLSH

    t0 = time.time()
    lsh = MinHashLSH(threshold=0.8, num_perm=64)
    seen: set[str] = set()
    kept: set[str] = set()
    for qid, text in items:
        norm = normalize_text(text)
        if norm in seen:
            continue
        seen.add(norm)
        words = norm.split()
        m = MinHash(num_perm=64, seed=1)
        for k in range(max(1, len(words) - 2)):
            m.update(" ".join(words[k:k + 3]).encode())
        if lsh.query(m):
            continue
        lsh.insert(qid, m)
        kept.add(qid)
    return kept, time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()
    items = load(args.n)
    k_ours, t_ours = ours(items)
    k_ds, t_ds = datasketch_dedup(items)
    both = len(k_ours & k_ds)
    print(f"ours: kept {len(k_ours)} in {t_ours:.2f} s; datasketch: kept {len(k_ds)} in {t_ds:.2f} s; "
          f"kept by both {both} (Jaccard of kept sets {both / len(k_ours | k_ds):.3f})")
    print(f"datasketch: ours {len(items) / t_ours:,.0f} q/s, datasketch {len(items) / t_ds:,.0f} q/s, "
          f"ratio {t_ds / t_ours:.1f}, kept ours {len(k_ours)} / datasketch {len(k_ds)}")


if __name__ == "__main__":
    main()
