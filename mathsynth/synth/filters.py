"""Quality filters for synthetic items: answer consistency across M teacher answers, exact
arithmetic of the kept solution, length limits. Correctness is decided by :mod:`mathsynth.grading`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mathsynth.grading import check_steps


@dataclass(frozen=True)
class Consistency:
    """Which of the M answers agree with the majority: ``members`` (indices), ``ratio`` = size / M."""

    members: tuple[int, ...]
    ratio: float


def cluster_pairs(answers: Sequence[str | None]) -> list[tuple[int, int]]:
    """The (i, j) pairs of parsed answers to compare (i < j, both present).

    >>> cluster_pairs(["1", None, "2"])
    [(0, 2)]
    """
    idx = [i for i, a in enumerate(answers) if a is not None]
    return [(i, j) for k, i in enumerate(idx) for j in idx[k + 1:]]


def majority(answers: Sequence[str | None], same: dict[tuple[int, int], bool]) -> Consistency:
    """The largest group of mutually equivalent answers (union of equal pairs); ties go to the
    group holding the earliest answer. ``same[(i, j)]`` is the verdict for each pair of
    :func:`cluster_pairs`. Missing answers count against agreement.

    >>> majority(["4", "4.0", "5", None], {(0, 1): True, (0, 2): False, (1, 2): False})
    Consistency(members=(0, 1), ratio=0.5)
    """
    parent = list(range(len(answers)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (i, j), eq in sorted(same.items()):
        if eq:
            parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            groups.setdefault(find(i), []).append(i)
    if not groups:
        return Consistency((), 0.0)
    best = max(groups.values(), key=lambda g: (len(g), -g[0]))
    return Consistency(tuple(best), len(best) / max(1, len(answers)))


def pick_solution(solutions: Sequence[str], members: Sequence[int]) -> tuple[int | None, dict]:
    """The first majority solution whose every arithmetic step re-computes exactly.

    Returns (index or None, checks) where checks records steps found/checked and the first wrong
    step seen, for the record and for rejects.

    >>> pick_solution(["3 * 4 = 13 so 13", "3 * 4 = 12 so 12"], [0, 1])
    (1, {'steps_checked': 1, 'wrong_steps_skipped': 1, 'first_wrong_step': '3 * 4 = 13'})
    """
    checks: dict = {"steps_checked": 0, "wrong_steps_skipped": 0, "first_wrong_step": None}
    for i in members:
        report = check_steps(solutions[i])
        if report.ok:
            checks["steps_checked"] = report.checked
            return i, checks
        checks["wrong_steps_skipped"] += 1
        if checks["first_wrong_step"] is None:
            checks["first_wrong_step"] = report.wrong[0].text
    return None, checks
