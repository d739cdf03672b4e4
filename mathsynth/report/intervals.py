"""95% intervals, small-cell flags and p-values from result files, formatted for the report's tables.

The statistics are computed by the stages that write the result files (``ci95``, ``ci_method``,
``small_cell`` beside every aggregate value); the report only reads and formats them. Files written
before those keys existed simply show the bare value: an absent interval is never invented here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mathsynth.report.load import num

SMALL_MARK = "†"
SMALL_NOTE = ("† fewer than 30 problems in this cell: its interval is wide, compare such cells with care. "
              "[lo, hi]: 95% interval.")
DASH = "—"  # a value the producer reports as null by design (no fit possible), unlike "-" (not recorded)
PASS1_SOURCES = {"greedy": "greedy", "first_sample": "first sample"}


def pair(v: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` as a tuple of finite floats with lo <= hi, else None.

    >>> pair([0.1, 0.2]), pair([0.2, 0.1]), pair(None), pair([0.1, "x"])
    ((0.1, 0.2), None, None, None)
    """
    if not isinstance(v, list | tuple) or len(v) != 2:
        return None
    lo, hi = num(v[0]), num(v[1])
    if lo is None or hi is None or lo > hi:
        return None
    return lo, hi


def ci_of(cell: Any, metric: str, k: int | str | None = None) -> tuple[float, float] | None:
    """The 95% interval of ``metric`` (of its ``k`` entry for pass@k / maj@k) in a result cell.

    >>> cell = {"ci95": {"pass@1": [0.1, 0.3], "pass@k": {"2": [0.2, 0.4]}}}
    >>> ci_of(cell, "pass@1"), ci_of(cell, "pass@k", 2), ci_of(cell, "pass@N"), ci_of({}, "pass@1")
    ((0.1, 0.3), (0.2, 0.4), None, None)
    """
    ci = cell.get("ci95") if isinstance(cell, dict) else None
    v = ci.get(metric) if isinstance(ci, dict) else None
    if k is not None:
        v = v.get(str(k)) if isinstance(v, dict) else None
    return pair(v)


def is_small(cell: Any) -> bool:
    """Whether the producer flagged the cell as resting on too few problems.

    >>> is_small({"small_cell": True}), is_small({"small_cell": "yes"}), is_small(None)
    (True, False, False)
    """
    return isinstance(cell, dict) and cell.get("small_cell") is True


def pct_ci(x: float | None, ci: tuple[float, float] | None = None, small: bool = False,
           digits: int = 1) -> str:
    """A share and its interval in percent, ``"12.3 [10.1, 14.8]"``; a dagger marks a small cell.

    >>> pct_ci(0.1234, (0.101, 0.148)), pct_ci(0.5), pct_ci(0.5, (0.2, 0.8), small=True), pct_ci(None)
    ('12.3 [10.1, 14.8]', '50.0', '50.0 [20.0, 80.0]†', '-')
    """
    if x is None:
        return "-"
    s = f"{100 * x:.{digits}f}"
    if ci is not None:
        s += f" [{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}]"
    return s + (SMALL_MARK if small else "")


def pp_ci(x: float | None, ci: tuple[float, float] | None = None, digits: int = 1) -> str:
    """A signed difference in percentage points with its interval, ``"+5.0 [+1.2, +8.8]"``.

    >>> pp_ci(0.05, (0.012, 0.088)), pp_ci(-0.01), pp_ci(None)
    ('+5.0 [+1.2, +8.8]', '-1.0', '-')
    """
    if x is None:
        return "-"
    s = f"{100 * x:+.{digits}f}"
    if ci is not None:
        s += f" [{100 * ci[0]:+.{digits}f}, {100 * ci[1]:+.{digits}f}]"
    return s


def value(cell: Any, metric: str, k: int | str | None = None) -> str:
    """One metric of a result cell as a table string: value, interval where recorded, small-cell mark.

    >>> value({"pass@1": 0.25, "ci95": {"pass@1": [0.2, 0.3]}, "small_cell": True}, "pass@1")
    '25.0 [20.0, 30.0]†'
    >>> value({"pass@k": {"4": 0.5}}, "pass@k", 4), value({}, "pass@N")
    ('50.0', '-')
    """
    if not isinstance(cell, dict):
        return "-"
    x = cell.get(metric)
    if k is not None:
        x = x.get(str(k)) if isinstance(x, dict) else None
    return pct_ci(num(x), ci_of(cell, metric, k), is_small(cell))


def fmt_p(p: Any) -> str:
    """A p-value for a table: three decimals, ``<0.001`` below that, "-" when absent.

    >>> fmt_p(0.0342), fmt_p(1e-5), fmt_p(None), fmt_p(1)
    ('0.034', '<0.001', '-', '1.000')
    """
    p = num(p)
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def pass1_source(cells: Iterable[Any]) -> str | None:
    """How Pass@1 was measured when every cell that says agrees ("greedy" / "first sample"), else None.

    >>> pass1_source([{"pass@1_source": "greedy"}, {}]), pass1_source([{"pass@1_source": "greedy"},
    ...     {"pass@1_source": "first_sample"}])
    ('greedy', None)
    """
    found = {c.get("pass@1_source") for c in cells if isinstance(c, dict) and c.get("pass@1_source")}
    if len(found) != 1:
        return None
    src = found.pop()
    return PASS1_SOURCES.get(src, str(src))


def has_small(cells: Iterable[Any]) -> bool:
    """Whether any cell is flagged small (then a table carries :data:`SMALL_NOTE`).

    >>> has_small([{}, {"small_cell": True}]), has_small([])
    (True, False)
    """
    return any(is_small(c) for c in cells)


def has_ci(cells: Iterable[Any]) -> bool:
    """Whether any cell records an interval (then a table says what the brackets mean).

    >>> has_ci([{"ci95": {"pass@1": [0, 1]}}]), has_ci([{"ci95": {}}])
    (True, False)
    """
    return any(isinstance(c, dict) and isinstance(c.get("ci95"), dict) and c["ci95"] for c in cells)


def interval_note(cells: list[Any], base: str = "") -> str:
    """A table note: ``base`` plus what brackets and daggers mean, when the table shows them.

    >>> interval_note([{"ci95": {"pass@1": [0, 1]}}], "Shares in %.")
    'Shares in %. [lo, hi]: 95% interval.'
    """
    parts = [base] if base else []
    if has_small(cells):
        parts.append(SMALL_NOTE)
    elif has_ci(cells):
        parts.append("[lo, hi]: 95% interval.")
    return " ".join(parts)
