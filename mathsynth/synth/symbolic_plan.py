"""Seed analysis for the symbolic generator: link every number of a GSM8K seed's annotated steps to
its source (a question number, an earlier step's result, or a fixed constant), or say why not.

>>> from mathsynth.data import Problem
>>> seed = Problem(id="demo/1", answer="28",
...     question="Omar packs 12 boxes with 3 pens each. He gives away 8 pens. How many pens are left?",
...     solution="He packs 12*3 = <<12*3=36>>36 pens.\\nHe has 36-8 = <<36-8=28>>28 pens left.\\n#### 28")
>>> plan = analyze_seed(seed)
>>> plan.ok, len(plan.annotations)
(True, 2)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from mathsynth.data.loaders import Problem
from mathsynth.synth.symbolic_expr import (
    Annotation,
    NumberSpan,
    find_numbers,
    parse_annotation,
)

__all__ = ["SeedPlan", "Source", "analyze_seed"]

_ANN = re.compile(r"<<([^<>\n]*)>>")
# Unit constants a solution may use without the question writing them in digits.
_UNITS = {Fraction(v) for v in (1, 2, 4, 7, 10, 12, 24, 30, 52, 60, 100, 365, 1000)} | {Fraction(1, 2), Fraction(1, 100)}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
          "fifty": 50, "hundred": 100, "thousand": 1000, "half": 2, "twice": 2, "double": 2, "pair": 2,
          "couple": 2, "triple": 3, "thrice": 3, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5,
          "quadruple": 4, "dozen": 12, "percent": 100}
_MAX_RATIO = 25  # a step may grow or shrink at most this much: beyond, the story stops being plausible


# A source says where a number's new value comes from: ("q", group, scale) a question group times
# scale (20% read as 0.2 has scale 1/100), ("r", k) the result of annotation k, ("c", value) fixed.
Source = tuple


@dataclass
class SeedPlan:
    """What of a seed can be perturbed; ``reason`` is None when it can, else why not."""

    problem: Problem
    reason: str | None = None
    numbers: list[NumberSpan] = field(default_factory=list)  # of the question
    groups: dict[Fraction, list[int]] = field(default_factory=dict)  # variable value -> question numbers
    annotations: list[tuple[int, int, Annotation]] = field(default_factory=list)  # span in solution
    literal_sources: list[list[list[Source]]] = field(default_factory=list)
    text_sources: list[tuple[NumberSpan, list[Source]]] = field(default_factory=list)  # solution prose

    @property
    def ok(self) -> bool:
        """True when the seed is perturbable."""
        return self.reason is None


def _word_values(question: str) -> set[Fraction]:
    words = set(re.findall(r"[a-z]+", question.lower()))
    return {Fraction(v) for w, v in _WORDS.items() if w in words or w + "s" in words}


def analyze_seed(problem: Problem) -> SeedPlan:
    """Link every annotation literal of ``problem.solution`` to a question number, step or constant.

    >>> from mathsynth.data import Problem
    >>> p = Problem("x", "Ann has 5 cats and 5 dogs.", "10", "5+5 = <<5+5=10>>10\\n#### 10")
    >>> analyze_seed(p).reason  # both 5s are tied to one new value, so either reading stays right
    >>> analyze_seed(Problem("y", "Ann has 4 cats.", "9", "4+5 = <<4+5=9>>9\\n#### 9")).reason
    'literal 5 in step 1 matches nothing'
    """
    plan = SeedPlan(problem)
    sol = problem.solution or ""
    plan.numbers = find_numbers(problem.question)
    fixed_q = {n.value for n in plan.numbers if n.fixed or n.value <= 1}
    candidates: dict[Fraction, list[int]] = {}
    for i, n in enumerate(plan.numbers):
        if n.value not in fixed_q:
            candidates.setdefault(n.value, []).append(i)
    words = _word_values(problem.question) | fixed_q
    matches = list(_ANN.finditer(sol))
    if not matches:
        return _fail(plan, "no calculator annotations")
    final = sol.rsplit("####", 1)[1].strip().replace(",", "") if "####" in sol else None
    # The answer must be what the steps compute: a count of steps or a comparison would silently go stale.
    if final is not None and (not re.fullmatch(r"-?\d+(?:\.\d+)?", final) or
                              Fraction(final) != _last_value(matches)):
        return _fail(plan, "the final answer is not the last step's result")
    if re.search(r"\s[<>]\s", _ANN.sub("", sol)):
        return _fail(plan, "the solution compares numbers")
    for m in matches:
        try:
            ann = parse_annotation(m.group(1))
        except ValueError as exc:
            return _fail(plan, str(exc))
        if not ann.exact:
            return _fail(plan, f"annotation {m.group(1)!r} is not exact")
        plan.annotations.append((m.start(), m.end(), ann))
    used_consts: set[Fraction] = set()
    for k, (_, _, ann) in enumerate(plan.annotations):
        row = []
        for lit in ann.literals:
            v = lit.value
            qs = [("q", v, Fraction(1))] if v in candidates else []
            qs += [("q", g, Fraction(1, 100)) for g in candidates if g / 100 == v and g != v
                   and any(plan.numbers[i].percent for i in candidates[g])]
            rs = [("r", j) for j in range(k) if plan.annotations[j][2].value == v]
            if len(qs) > 1 or qs and (rs or v in words):
                return _fail(plan, f"literal {lit.text} in step {k + 1} is ambiguous")
            # A step result that equals a unit constant (24 clips vs 24 hours) is read as the result:
            # steps chain on results far more often than they reuse a unit. A number word is different.
            if rs and v in words:
                return _fail(plan, f"literal {lit.text} in step {k + 1} is ambiguous")
            if not qs and not rs and v not in words and v not in _UNITS:
                return _fail(plan, f"literal {lit.text} in step {k + 1} matches nothing")
            row.append(qs or rs or [("c", v)])
            used_consts |= {v} if not (qs or rs) else set()
        plan.literal_sources.append(row)
    plan.groups = {s[1]: candidates[s[1]] for row in plan.literal_sources for srcs in row
                   for s in srcs if s[0] == "q"}
    if not plan.groups:
        return _fail(plan, "no question number feeds the steps")
    reason = _link_text(plan, sol, words | used_consts | {Fraction(1)} | {n.value for n in plan.numbers})
    return _fail(plan, reason) if reason else plan


def _last_value(matches: list) -> Fraction | None:
    try:
        return parse_annotation(matches[-1].group(1)).value
    except ValueError:
        return None


def _fail(plan: SeedPlan, reason: str) -> SeedPlan:
    plan.reason = reason
    return plan


def _link_text(plan: SeedPlan, sol: str, constants: set[Fraction]) -> str | None:
    """Give each number of the solution prose a source; a reason string if one cannot be explained."""
    bounds = [(s, e) for s, e, _ in plan.annotations]
    prev_end = 0
    for k, (s, e, ann) in enumerate(plan.annotations):
        prose = sol[prev_end:s]
        # "=" outside an annotation is arithmetic the calculator did not check: unsafe to rewrite.
        if re.search(r"=(?!\s*\$?\s*$)", prose.split("\n")[-1]) or any(
                "=" in line for line in prose.split("\n")[:-1]):
            return "unannotated computation in the solution"
        nums = [n for n in find_numbers(prose) if not n.fixed]
        tail = nums[-len(ann.literals):] if len(nums) >= len(ann.literals) else []
        positional = (len(tail) == len(ann.literals) and "\n" not in prose[tail[0].start:] and
                      [n.value for n in tail] == [lit.value for lit in ann.literals])
        for i, n in enumerate(nums):
            shifted = NumberSpan(n.start + prev_end, n.end + prev_end, n.text, n.value, n.money,
                                 n.percent, n.fixed)
            if positional and n in tail:  # the visible copy of the expression, "48+24 = <<...>>"
                plan.text_sources.append((shifted, plan.literal_sources[k][tail.index(n)]))
                continue
            if i == 0 and k > 0 and n.start == 0:  # the visible result right after ">>"
                plan.text_sources.append((shifted, [("r", k - 1)]))
                continue
            srcs = _by_value(plan, n, _line_end(plan, sol, shifted.start), constants)
            if not srcs:
                return f"number {n.text} in the solution matches nothing"
            plan.text_sources.append((shifted, srcs))
        prev_end = e
    rest = sol[prev_end:]
    if "=" in rest:
        return "unannotated computation in the solution"
    for i, n in enumerate(x for x in find_numbers(rest) if not x.fixed):
        shifted = NumberSpan(n.start + prev_end, n.end + prev_end, n.text, n.value, n.money,
                             n.percent, n.fixed)
        last = len(bounds) - 1
        if (i == 0 and n.start == 0) or (rest[:n.start].rstrip().endswith("####")
                                         and n.value == plan.annotations[last][2].value):
            plan.text_sources.append((shifted, [("r", last)]))
            continue
        srcs = _by_value(plan, n, len(bounds), constants)
        if not srcs:
            return f"number {n.text} in the solution matches nothing"
        plan.text_sources.append((shifted, srcs))
    return None


def _line_end(plan: SeedPlan, sol: str, pos: int) -> int:
    """How many annotations start before the end of the line at ``pos`` ("72 ounces because 12*6=<<..>>72")."""
    end = sol.find("\n", pos)
    end = len(sol) if end < 0 else end
    return sum(1 for s, _, _ in plan.annotations if s < end)


def _by_value(plan: SeedPlan, n: NumberSpan, upto: int, constants: set[Fraction]) -> list[Source]:
    v = n.value
    srcs: list[Source] = [("q", v, Fraction(1))] if v in plan.groups else []
    srcs += [("q", g, Fraction(1, 100)) for g in plan.groups if g / 100 == v and g != v]
    srcs += [("r", j) for j in range(upto) if plan.annotations[j][2].value == v]
    if v in constants and not srcs:
        srcs.append(("c", v))
    elif v in constants and v not in plan.groups:
        srcs.append(("c", v))  # the variant must keep the value equal to the constant, else it is rejected
    return srcs
