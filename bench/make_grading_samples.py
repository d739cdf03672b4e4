"""Build deterministic "recorded answer variants" for the grading benchmark (MATH500 x N samples).

Sampling 64 real solutions per problem from a model is too slow on a 2-core CPU box, so this
builds responses that look like sampled ones, from the problem's reference answer:

1. Per problem, a seeded RNG (``random.Random(f"{seed}:{unique_id}")``) draws
   ``p_correct`` from the problem level (level 1: 0.9 ... level 5: 0.3, +-0.1 jitter) and
   ``p_none = 0.04``.
2. Distinct answers: the gold string itself; up to 3 *reformatted-equivalent* forms of it
   (``\\dfrac``/``a/b``/terminating decimal for fractions; ``1,000``/``1000.0``/``\\$``/units/
   ``x = n`` for integers; degree signs added/removed; ``\\left( \\right)``; spacing changes;
   reversed solution lists; ``\\text{}`` removed); and up to 4 *plausible wrong* answers
   (off by one, wrong sign on scalar answers, doubled, swapped fraction, 2-place rounding of
   a repeating decimal, a mutated digit, a dropped list element, another same-subject
   problem's answer).
3. Each of the N samples is: no answer (p_none); else correct with ``p_correct`` (the gold
   string with weight 0.6, the equivalent forms sharing the rest); else a wrong answer picked
   with Zipf weights 1, 1/2, 1/3, 1/4 so one wrong answer dominates, as in real sampling.
4. The answer is rendered into a response: the start of the reference solution (cut before its
   ``\\boxed``, at most 600 characters, cut at a sentence end outside math) as "reasoning",
   then one of five endings:
   ``Therefore, the final answer is $\\boxed{X}$.`` (45%), ``\\[\\boxed{X}\\]`` (15%),
   ``Final Answer: The final answer is $X$. I hope it is correct.`` (15%),
   ``The answer is: $X$`` (15%), ``So the answer is $\\boxed{X}$`` (10%).
   No-answer samples are the reasoning cut at a random point (30% of them end inside an
   unclosed ``\\boxed{``, as a response cut off by the token limit would).

Usage: ``python bench/make_grading_samples.py --out samples.jsonl [--limit N --samples N --seed S]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
from fractions import Fraction
from pathlib import Path
from random import Random

DEFAULT_DATA = Path(__file__).resolve().parent.parent / ".." / "shared" / "data"


def data_path() -> Path:
    root = Path(os.environ.get("MATHSYNTH_DATA_DIR", DEFAULT_DATA))
    return root / "math" / "test500.jsonl"


def load_problems(path: Path | None = None) -> list[dict]:
    path = path or data_path()
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


_INT = re.compile(r"-?\d+")
_FRAC = re.compile(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")
_DEG = re.compile(r"(.+?)\^\{?\\circ\}?")
# A comma list of solutions, not a number with thousands separators ("10,\\!080").
_LIST = re.compile(r"(?!.*,(?:\\!)?\s*\d{3}(?!\d))[^()\[\]{}]*,[^()\[\]{}]*")


def _terminating(fr: Fraction) -> str | None:
    d = fr.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    return f"{float(fr):.10f}".rstrip("0").rstrip(".")


def equivalent_forms(gold: str, problem: str) -> list[str]:
    """Reformatted answers that mean the same as ``gold`` (not all are equal to math-verify)."""
    forms: list[str] = []
    g = gold.strip()
    if _INT.fullmatch(g):
        n = int(g)
        if abs(n) >= 1000:
            forms.append(f"{n:,}")
        forms.append(f"{n}.0")
        if "\\$" in problem or "dollar" in problem:
            forms.append(f"\\${n}")
        if "degree" in problem:
            forms.append(f"{n}^\\circ")
        if re.search(r"\bcm\b", problem):
            forms.append(f"{n}\\text{{ cm}}")
        if "square units" in problem:
            forms.append(f"{n} \\text{{ square units}}")
        if re.search(r"value of \$x\$|Find \$x\$|solve for \$x\$", problem, re.I):
            forms.append(f"x = {n}")
    m = _FRAC.fullmatch(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        forms += [f"{sign}\\dfrac{{{a}}}{{{b}}}", f"{sign}{a}/{b}"]
        dec = _terminating(Fraction(a, b))
        if dec:
            forms.append(sign + dec)
        if a < 10 and b < 10:
            forms.append(f"{sign}\\frac{a}{b}")
    m = _DEG.fullmatch(g)
    if m:
        forms += [m.group(1), f"{m.group(1)}^{{\\circ}}", f"{m.group(1)}°"]
    t = re.fullmatch(r"\\text\{(.+)\}", g)
    if t:
        forms.append(t.group(1))
    if "\\frac" in g and not m:
        forms.append(g.replace("\\frac", "\\dfrac"))
    if g.startswith("(") and g.endswith(")") and "\\cup" not in g:
        forms.append("\\left( " + g[1:-1] + " \\right)")
    if _LIST.fullmatch(g):
        forms.append(", ".join(reversed([p.strip() for p in g.split(",")])))
    spaced = re.sub(r"\s*([+=,]|(?<=[\w}])-)\s*", r" \1 ", g).strip()
    spaced = re.sub(r"\s+", " ", spaced)
    tight = re.sub(r"(?<![A-Za-z]) | (?![A-Za-z])", "", g) if "\\text" not in g else g
    forms += [spaced, tight]
    out: list[str] = []
    for f in forms:
        if f != g and f not in out:
            out.append(f)
    return out


def wrong_forms(gold: str, rng: Random, others: list[str]) -> list[str]:
    """Plausible wrong answers for ``gold``, most plausible first."""
    g = gold.strip()
    forms: list[str] = []
    if _INT.fullmatch(g):
        n = int(g)
        forms += [str(n + 1), str(n - 1), str(2 * n), str(-n) if n else "1", str(n * 10)]
    m = _FRAC.fullmatch(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        forms += [f"{sign}\\frac{{{b}}}{{{a}}}", f"{sign}\\frac{{{a + 1}}}{{{b}}}",
                  f"{'' if sign else '-'}\\frac{{{a}}}{{{b}}}"]
        if not _terminating(Fraction(a, b)):
            forms.append(f"{sign}{a / b:.2f}")
    d = _DEG.fullmatch(g)
    if d and _INT.fullmatch(d.group(1)):
        forms.append(f"{180 - int(d.group(1))}^\\circ")
    if _LIST.fullmatch(g):
        forms.append(",".join(g.split(",")[:-1]))
    if not re.search(r"[,=()\[\]]|\\begin|\\cup|\\in|\\text", g):  # signs fit scalars only
        forms.append(g[1:] if g.startswith("-") else "-" + g)
    digits = [i for i, c in enumerate(g) if c.isdigit()]
    if digits:
        i = rng.choice(digits)
        forms.append(g[:i] + str((int(g[i]) + rng.randint(1, 8)) % 10) + g[i + 1:])
    if others:
        forms.append(rng.choice(others))
    out: list[str] = []
    for f in forms:
        if f and f != g and f not in out:
            out.append(f)
    head, tail = out[:2], out[2:]
    rng.shuffle(tail)
    return (head + tail)[:4]


_ENDINGS = [
    (0.45, "Therefore, the final answer is $\\boxed{{{x}}}$."),
    (0.15, "\n\\[\n\\boxed{{{x}}}\n\\]"),
    (0.15, "Final Answer: The final answer is ${x}$. I hope it is correct."),
    (0.15, "The answer is: ${x}$"),
    (0.10, "So the answer is $\\boxed{{{x}}}$"),
]
_P_CORRECT = {1: 0.9, 2: 0.8, 3: 0.65, 4: 0.5, 5: 0.3}


_SENT_END = re.compile(r"\.\s")
_DOLLAR = re.compile(r"(?<!\\)\$")


def _reasoning(solution: str, limit: int = 600) -> str:
    """The start of the reference solution, before its box, cut at a sentence end that leaves no
    ``$`` open (so the "reasoning" is well-formed, as a model's would be)."""
    cut = solution.find("\\boxed")
    text = solution if cut < 0 else solution[:cut]
    best = 0
    for m in _SENT_END.finditer(text):
        if m.end() > limit:
            break
        if len(_DOLLAR.findall(text, 0, m.end())) % 2 == 0 and "[asy]" not in text[:m.end()]:
            best = m.end()
    return text[:best].rstrip()


def _pick(rng: Random, options: list[str], weights: list[float]) -> str:
    return rng.choices(options, weights=weights, k=1)[0]


def build_samples(problems: list[dict], samples: int = 64, seed: int = 0) -> list[dict]:
    """``samples`` responses per problem: dicts with unique_id, gold, response, answer, kind."""
    by_subject: dict[str, list[str]] = {}
    for p in problems:
        by_subject.setdefault(p.get("subject", ""), []).append(p["answer"])
    out: list[dict] = []
    for p in problems:
        rng = Random(f"{seed}:{p['unique_id']}")
        gold = p["answer"]
        others = [a for a in by_subject.get(p.get("subject", ""), []) if a != gold]
        equiv = equivalent_forms(gold, p["problem"])
        rng.shuffle(equiv)
        equiv = equiv[:3]
        wrong = wrong_forms(gold, rng, others)
        p_correct = min(0.97, max(0.05, _P_CORRECT.get(int(p.get("level", 3)), 0.6)
                                  + rng.uniform(-0.1, 0.1)))
        reasoning = _reasoning(p.get("solution", ""))
        correct_opts = [gold] + equiv
        correct_w = [0.6] + [0.4 / len(equiv)] * len(equiv) if equiv else [1.0]
        wrong_w = [1 / (i + 1) for i in range(len(wrong))]
        for _ in range(samples):
            u = rng.random()
            if u < 0.04:
                cut = rng.randint(0, len(reasoning)) if reasoning else 0
                text = reasoning[:cut]
                if rng.random() < 0.3:
                    text += " Therefore, the final answer is $\\boxed{" + gold[: rng.randint(0, len(gold))]
                out.append({"unique_id": p["unique_id"], "gold": gold, "response": text,
                            "answer": None, "kind": "none"})
                continue
            if u < 0.04 + 0.96 * p_correct or not wrong:
                ans = _pick(rng, correct_opts, correct_w)
                kind = "gold" if ans == gold else "equivalent"
            else:
                ans = _pick(rng, wrong, wrong_w)
                kind = "wrong"
            ending = _pick(rng, [e for _, e in _ENDINGS], [w for w, _ in _ENDINGS])
            response = (reasoning + "\n\n" if reasoning else "") + ending.format(x=ans)
            out.append({"unique_id": p["unique_id"], "gold": gold, "response": response,
                        "answer": ans, "kind": kind})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default: all)")
    ap.add_argument("--samples", type=int, default=64, help="responses per problem")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    problems = load_problems()[: args.limit]
    rows = build_samples(problems, args.samples, args.seed)
    with open(args.out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    distinct = len({(r["unique_id"], r["answer"]) for r in rows})
    print(f"wrote {len(rows)} samples for {len(problems)} problems to {args.out}: {kinds}; "
          f"{distinct} distinct (problem, answer) pairs")


if __name__ == "__main__":
    main()
