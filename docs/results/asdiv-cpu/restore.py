"""Put this folder's committed results back into a study folder, so the study resumes on a new machine.

The inverse of ``collect.py``. Each session of this study may run on a fresh machine that has none
of the last session's run folder; without this step every session would redo the finished evals.
What comes back, marked done in ``stages.json``:

- every finished eval (metrics, config, samples), the base's and the students';
- a student's training stage only when *all* of its evals are done: its weights are never
  committed, so a student with an eval still to run is trained again, and then all of its evals
  run again with that one model (a student's evals never mix two trainings).

Synthesis and the real-data arm are not restored: they are deterministic and take minutes, and the
students still to train need their files; their stage keys come out the same, so the restored
stages downstream of them stay valid (a changed recipe still invalidates them, as usual).

    python docs/results/asdiv-cpu/restore.py runs/asdiv-cpu     # then: mathsynth scale recipes/asdiv-cpu.yaml
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def local(text: str, root: Path) -> str:
    """Undo ``collect.portable``: the study folder's name under runs/ and ~/.cache become this machine's."""
    text = text.replace(f"runs/{root.name}", str(root.resolve()))
    return text.replace('"~/.cache/', f'"{Path.home() / ".cache"}/')


def _student(name: str) -> str:
    return name.split(":")[1]  # "eval:synthetic-125:asdiv:grade1-3:sampled" -> "synthetic-125"


def main(root: Path, src: Path = HERE / "data") -> None:
    stages = json.loads((src / "stages.json").read_text())
    if (root / "stages.json").exists():
        sys.exit(f"{root}/stages.json exists: restore only into a new study folder")
    done = {k for k, v in stages.items() if v.get("status") == "done"}
    # A student's evals and training: restored all together or not at all.
    # The evals every student has: the base's, less the base's other prompt formats ("~chat").
    wanted = [n[len("base-eval:"):] for n in stages if n.startswith("base-eval:") and "~" not in n]
    complete = {k[len("train:"):] for k in done if k.startswith("train:")}
    complete = {s for s in complete if all(f"eval:{s}:{w}" in done for w in wanted)}
    keep = {name: entry for name, entry in stages.items() if name in done and (
        name.startswith("base-eval:") or name.startswith(("eval:", "train:")) and _student(name) in complete)}
    root.mkdir(parents=True, exist_ok=True)
    restored = 0
    for folder in sorted(m.parent for m in src.glob("**/metrics.json")):
        rel = folder.relative_to(src)
        label = rel.parts[0]
        if label != "base" and label not in complete:
            continue
        out = root / rel
        out.mkdir(parents=True, exist_ok=True)
        for f in ("metrics.json", "config.json"):
            (out / f).write_text(local((folder / f).read_text(), root))
        with gzip.open(folder / "samples.jsonl.gz", "rt", encoding="utf-8") as fh:
            (out / "samples.jsonl").write_text(local(fh.read(), root))
        restored += 1
    for tc in sorted(src.glob("*/model/train_config.json")):
        if tc.parent.parent.name in complete:
            out = root / tc.parent.relative_to(src)
            out.mkdir(parents=True, exist_ok=True)
            for f in ("train_config.json", "train_log.jsonl"):
                if (tc.parent / f).exists():
                    (out / f).write_text(local((tc.parent / f).read_text(), root))
    (root / "stages.json").write_text(local(json.dumps(keep, indent=1), root))
    print(f"{restored} evals and {len(keep)} stages restored into {root} "
          f"(students complete: {', '.join(sorted(complete)) or 'none'})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
