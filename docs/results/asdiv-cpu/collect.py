"""Copy a (possibly unfinished) asdiv-cpu study's result files into this folder's data/ for committing.

Finished stages only (stages.json says "done"): each eval's metrics.json, config.json and
samples.jsonl (gzipped), the study's stages.json, study.json, scale.json and result.json when they
exist, and each student's train_config.json and train_log.jsonl (not the weights). Machine-specific
absolute paths in the manifests are replaced by portable ones (the study folder by its name under
runs/, the user's cache by ~/.cache), so nothing of the machine that ran it is committed.

    python docs/results/asdiv-cpu/collect.py runs/asdiv-cpu
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def portable(text: str, root: Path) -> str:
    text = text.replace(str(root.resolve()), f"runs/{root.name}")
    text = re.sub(r'"/[^"]*/\.cache/', '"~/.cache/', text)
    text = re.sub(r'"/[^"]*/bin/(mathsynth)"', r'"\1"', text)  # argv[0]: the console script
    return re.sub(r'"/[^"]*/(mathsynth/cli\.py)"', r'"\1"', text)


def main(root: Path, dest: Path = HERE / "data") -> None:
    stages = json.loads((root / "stages.json").read_text())
    done = {k for k, v in stages.items() if v.get("status") == "done"}
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir()
    for name in ("stages.json", "study.json", "scale.json", "result.json"):
        if (root / name).exists():
            (dest / name).write_text(portable((root / name).read_text(), root))
    copied = 0
    for metrics in sorted(root.glob("**/metrics.json")):
        folder = metrics.parent
        rel = folder.relative_to(root)
        out = dest / rel
        out.mkdir(parents=True, exist_ok=True)
        for f in ("metrics.json", "config.json"):
            if (folder / f).exists():
                (out / f).write_text(portable((folder / f).read_text(), root))
        # mtime=0: the same samples give the same bytes, so a re-collect changes no committed file
        data = gzip.compress(portable((folder / "samples.jsonl").read_text(), root).encode(), 9, mtime=0)
        (out / "samples.jsonl.gz").write_bytes(data)
        copied += 1
    for tc in sorted(root.glob("*/model/train_config.json")):
        out = dest / tc.parent.relative_to(root)
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(portable(tc.read_text(), root))
        if (tc.parent / "train_log.jsonl").exists():
            shutil.copy(tc.parent / "train_log.jsonl", out / "train_log.jsonl")
    print(f"{copied} evals, {len(done)} of {len(stages)} stages done -> {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
