"""Offline symbolic generator: new GSM8K-style problems from annotated seeds, correct by construction.

No language model is involved. A seed's ``<<expr=value>>`` annotations form a computation graph whose
leaves are numbers of the question (or fixed constants such as 60 minutes). :func:`analyze_seed` links
each literal to its source; :func:`perturb` resamples the question numbers near their old values,
recomputes every step exactly with fractions, rejects variants that break integrality, sign or
plausibility, and rewrites question, solution and answer with the new numbers.

>>> from mathsynth.data import Problem
>>> seed = Problem(id="demo/1", answer="28",
...     question="Omar packs 12 boxes with 3 pens each. He gives away 8 pens. How many pens are left?",
...     solution="He packs 12*3 = <<12*3=36>>36 pens.\\nHe has 36-8 = <<36-8=28>>28 pens left.\\n#### 28")
>>> analyze_seed(seed).reason
>>> item = perturb(seed, index=0)
>>> item.id, item.seed_id, item.question != seed.question
('sym/demo/1/0', 'demo/1', True)
>>> verify_solution(item.solution) is None and item.answer == item.steps[-1][1]
True
>>> perturb(seed, index=0) == item  # deterministic for a given (seed, problem, index)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from mathsynth.data.loaders import Problem
from mathsynth.synth.symbolic_expr import (
    NumberSpan,
    decimals_needed,
    format_number,
    parse_annotation,
)
from mathsynth.synth.symbolic_plan import _ANN, _MAX_RATIO, SeedPlan, Source, analyze_seed

__all__ = ["Reject", "SeedPlan", "SymbolicItem", "analyze_seed", "generate", "perturb", "verify_solution"]

@dataclass(frozen=True)
class SymbolicItem:
    """One generated problem: ``steps`` are the recomputed (expr, value) annotation pairs."""

    id: str
    seed_id: str
    question: str
    solution: str
    answer: str
    steps: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Reject:
    """A (seed, index) for which no variant was produced, and why."""

    seed_id: str
    index: int
    reason: str


def _resample(value: Fraction, members: list[NumberSpan], rng: random.Random) -> Fraction:
    """A new value near ``value`` of the same kind: same decimals, roundness, percent range."""
    decimals = max(n.decimals for n in members)
    if any(n.money for n in members):
        decimals = min(decimals, 2)
    unit = Fraction(1, 10 ** decimals)
    n = int(value / unit)
    step = 1
    while n % (step * 10) == 0:
        step *= 10
    cap = None
    if any(n.percent for n in members) and value <= 100:
        cap = int(100 / unit)
    while True:  # widen the grid until there are at least 3 other choices
        lo = max(-(-n // 2 // step) * step, step, 2 if decimals == 0 else 1)
        hi = (2 * n // step) * step
        if cap is not None:
            hi = min(hi, cap)
        choices = [x for x in range(lo, hi + 1, step) if x != n]
        if len(choices) >= 3 or step == 1:
            break
        step //= 10
    return unit * rng.choice(choices) if choices else value


def _value(src: Source, groups: dict, results: list) -> Fraction:
    if src[0] == "q":
        return groups[src[1]] * src[2]
    return results[src[1]] if src[0] == "r" else src[1]


def _agree(srcs: list[Source], groups: dict, results: list) -> Fraction | None:
    vals = {_value(s, groups, results) for s in srcs}
    return vals.pop() if len(vals) == 1 else None


def _try(plan: SeedPlan, rng: random.Random) -> tuple[dict, list, list] | str:
    """One draw: new group values, new literal values per step and new results; or a reason."""
    new = {g: _resample(g, [plan.numbers[i] for i in idx], rng) for g, idx in plan.groups.items()}
    if len(set(new.values())) < len(new) or all(new[g] == g for g in new):
        return "resampled numbers collide or did not change"
    results: list[Fraction] = []
    literals: list[list[Fraction]] = []
    for (_, _, ann), row in zip(plan.annotations, plan.literal_sources, strict=True):
        vals = [_agree(srcs, new, results) for srcs in row]
        if None in vals:
            return "a number's possible sources disagree"
        try:
            r = ann.evaluate(vals)
        except ZeroDivisionError:
            return "division by zero"
        old = ann.value
        if (r > 0) != (old > 0) or (r < 0) != (old < 0):
            return "a step changed sign"
        if old.denominator == 1 and r.denominator != 1:
            return "a whole-number step became fractional"
        need = decimals_needed(r)
        if need is None or need > max(2, decimals_needed(old) or 0):
            return "a step needs too many decimals"
        if old and not Fraction(1, _MAX_RATIO) <= abs(r / old) <= _MAX_RATIO:
            return "a step changed implausibly much"
        results.append(r)
        literals.append(vals)
    if results[-1] == plan.annotations[-1][2].value:
        return "the answer did not change"
    return new, literals, results


def _render(plan: SeedPlan, new: dict, literals: list, results: list) -> tuple[str, str] | str:
    """Question and solution with the new numbers written in the old style."""
    q = plan.problem.question
    q_edits = [(plan.numbers[i], new[g]) for g, idx in plan.groups.items() for i in idx]
    edits = []
    for n, v in plan.text_sources:
        nv = _agree(v, new, results)
        if nv is None:
            return "a number in the solution prose is ambiguous"
        edits.append((n, nv))
    for n, v in q_edits + edits:
        if n.money and decimals_needed(v) > 2:
            return "an amount of money needs more than 2 decimals"

    def apply(text: str, changes: list[tuple[NumberSpan, Fraction]]) -> str:
        for n, v in sorted(changes, key=lambda c: -c[0].start):
            places = n.decimals or (2 if n.money and v.denominator != 1 else 0)
            text = text[:n.start] + format_number(v, places, "," in n.text) + text[n.end:]
        return text

    sol = apply(plan.problem.solution or "", edits)
    # Annotation spans sit before or after prose numbers and never overlap them, so offsets shift only
    # by the prose edits that come earlier; rebuild from the end to keep offsets valid.
    spans = _ANN.finditer(sol)
    out, last = [], 0
    for m, (_, _, ann), vals, r in zip(spans, plan.annotations, literals, results, strict=True):
        out += [sol[last:m.start()], "<<" + ann.render(vals, r) + ">>"]
        last = m.end()
    return apply(q, q_edits), "".join(out) + sol[last:]


def perturb(problem: Problem, index: int, seed: int = 0, max_tries: int = 20) -> SymbolicItem | Reject:
    """Variant ``index`` of ``problem``: deterministic in (seed, problem.id, index).

    >>> from mathsynth.data import Problem
    >>> p = Problem("z", "Bo has 7 bags of 3 apples.", "21", "7*3 = <<7*3=21>>21\\n#### 21")
    >>> perturb(p, 1, seed=5).solution.split("<<")[1].split(">>")[0] == perturb(p, 1, seed=5).steps[0][0] + "=" \\
    ...     + perturb(p, 1, seed=5).steps[0][1]
    True
    >>> perturb(Problem("w", "Bo has 7 bags.", "7", "He has 7."), 0)
    Reject(seed_id='w', index=0, reason='not perturbable: no calculator annotations')
    """
    plan = analyze_seed(problem)
    return _perturb_plan(plan, index, seed, max_tries)


def _perturb_plan(plan: SeedPlan, index: int, seed: int, max_tries: int) -> SymbolicItem | Reject:
    pid = plan.problem.id
    if not plan.ok:
        return Reject(pid, index, f"not perturbable: {plan.reason}")
    rng = random.Random(f"{seed}:{pid}:{index}")
    reason = "no tries"
    for _ in range(max_tries):
        drawn = _try(plan, rng)
        if isinstance(drawn, str):
            reason = drawn
            continue
        new, literals, results = drawn
        rendered = _render(plan, new, literals, results)
        if isinstance(rendered, str):
            reason = rendered
            continue
        question, solution = rendered
        steps = [(ann.render(v, r).rpartition("=")[0], format_number(r))
                 for (_, _, ann), v, r in zip(plan.annotations, literals, results, strict=True)]
        return SymbolicItem(f"sym/{pid}/{index}", pid, question, solution, format_number(results[-1]), steps)
    return Reject(pid, index, f"no valid variant in {max_tries} tries (last: {reason})")


def generate(problems: Iterable[Problem], per_seed: int, seed: int = 0,
             max_tries: int = 20) -> Iterator[SymbolicItem | Reject]:
    """``per_seed`` variants (or rejects) for each problem, in order; each seed is analyzed once.

    >>> from mathsynth.data import Problem
    >>> p = Problem("v", "Ida reads 12 pages a day for 5 days.", "60", "12*5 = <<12*5=60>>60\\n#### 60")
    >>> [type(x).__name__ for x in generate([p], per_seed=2)]
    ['SymbolicItem', 'SymbolicItem']
    """
    for problem in problems:
        plan = analyze_seed(problem)
        for index in range(per_seed):
            yield _perturb_plan(plan, index, seed, max_tries)


def verify_solution(solution: str) -> str | None:
    """Re-check a GSM8K-style solution: every annotation exact, ``####`` equal to the last result.

    Returns None when it checks out, else what is wrong.

    >>> verify_solution("3*4 = <<3*4=12>>12\\n#### 12") is None
    True
    >>> verify_solution("3*4 = <<3*4=13>>13\\n#### 13")
    "annotation '3*4=13' is not exact"
    """
    last = None
    for m in _ANN.finditer(solution):
        try:
            ann = parse_annotation(m.group(1))
        except ValueError as exc:
            return str(exc)
        if not ann.exact:
            return f"annotation {m.group(1)!r} is not exact"
        last = ann.value
    if "####" in solution:
        final = solution.rsplit("####", 1)[1].strip().replace(",", "")
        if last is None or Fraction(final) != last:
            return f"final answer {final} is not the last step's result"
    return None
