"""Shared matplotlib plumbing for the report's plots: figures on the Agg canvas, colours, axes.

Figures are made with :class:`matplotlib.figure.Figure` on an explicit Agg canvas instead of
``pyplot``: that renders PNGs headless and never switches the global backend of a process that
imported us (a notebook keeps its inline backend).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from mathsynth.contracts import HEADLINE_METRICS

# Okabe & Ito's colour-blind-safe palette (distinct under the common colour-vision deficiencies),
# fixed so that run i has the same colour in every plot of a report; markers and line styles vary
# too, so series never rely on colour alone.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#999933",
           "#882255", "#44AA99")
DATA_COLORS = {"base": "#555555", "synthetic": "#0072B2", "real": "#E69F00"}
ERROR_COLORS = {"correct": "#009E73", "calculation": "#E69F00", "reasoning": "#CC79A7",
                "truncated": "#D55E00", "no_answer": "#999999"}
ERROR_LABELS = {"correct": "correct", "calculation": "calculation error", "reasoning": "reasoning error",
                "truncated": "truncated (token limit)", "no_answer": "no answer"}
# Error kinds a producer adds later get these, in order of appearance.
_EXTRA_ERROR_COLORS = ("#56B4E9", "#882255", "#44AA99", "#999933", "#332288")
DPI = 110


def color(i: int) -> str:
    """The i-th colour of the report palette (wrapping around).

    >>> color(0) == color(len(PALETTE))
    True
    """
    return PALETTE[i % len(PALETTE)]


def data_color(kind: str, i: int = 0) -> str:
    """The colour of a training-data kind (base / synthetic / real); other kinds use the palette.

    >>> data_color("real"), data_color("mixed", 4)
    ('#E69F00', '#CC79A7')
    """
    return DATA_COLORS.get(kind, color(i))


def error_color(kind: str, i: int = 0) -> str:
    """The colour of an error kind; a kind the report does not know yet gets a spare colour.

    >>> error_color("correct"), error_color("looping", 0)
    ('#009E73', '#56B4E9')
    """
    return ERROR_COLORS.get(kind) or _EXTRA_ERROR_COLORS[i % len(_EXTRA_ERROR_COLORS)]


def error_label(kind: str) -> str:
    """How an error kind is written in legends and column headers.

    >>> error_label("calculation"), error_label("off_topic")
    ('calculation error', 'off topic')
    """
    return ERROR_LABELS.get(kind) or kind.replace("_", " ")


def metric_label(metric: str, n: int | None = None) -> str:
    """How a metric key is written on axes and in tables (the paper's spelling, N filled in if known).

    >>> metric_label("pass_ratio@N", 8), metric_label("pass@N"), metric_label("pass@1")
    ('PassRatio@8', 'Pass@N', 'Pass@1')
    """
    names = {"pass@1": "Pass@1", "pass_ratio@N": "PassRatio@N", "pass@N": "Pass@N"}
    label = names.get(metric, metric)
    return label.replace("@N", f"@{n}") if n else label


def new_figure(width: float, height: float) -> Figure:
    """A blank figure attached to an Agg canvas.

    >>> new_figure(4, 3).get_size_inches().tolist()
    [4.0, 3.0]
    """
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG (creating the folder) and return the path.

    >>> import tempfile, pathlib
    >>> p = save(new_figure(2, 2), pathlib.Path(tempfile.mkdtemp()) / "plots" / "a.png")
    >>> p.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


def percent_axis(ax, axis: str = "y", top: float | None = None) -> None:
    """Show shares in [0, 1] as percentages on an axis, starting at 0 (optionally capped at ``top``)."""
    fmt = FuncFormatter(lambda v, _pos: f"{round(100 * v, 4):g}%")
    if axis == "y":
        ax.yaxis.set_major_formatter(fmt)
        ax.set_ylim(bottom=0, top=top)
    else:
        ax.xaxis.set_major_formatter(fmt)
        ax.set_xlim(left=0, right=top)
    ax.grid(True, axis=axis, alpha=0.3)


def log_ticks(ax, values: Iterable[float], base: int = 10) -> None:
    """A log x axis whose ticks are exactly the given values, printed as plain integers.

    Data sizes (250, 500, 1000) and k (1, 2, 4, 8) read better as-is than as powers of the base.
    """
    vals = sorted({float(v) for v in values if v > 0})
    ax.set_xscale("log", base=base)
    if vals:
        ax.set_xticks(vals)
        ax.set_xticklabels([f"{v:g}" if v < 1e5 else f"{v:.0e}" for v in vals])
        ax.xaxis.set_minor_locator(NullLocator())
        lo, hi = vals[0], vals[-1]
        pad = (hi / lo) ** 0.06 if hi > lo else 1.5
        ax.set_xlim(lo / pad, hi * pad)


def common_n(values: Iterable[object]) -> int | None:
    """The sample count N shared by all runs, or None if they differ (then labels keep a literal N).

    >>> common_n([8, 8]), common_n([8, 4]), common_n([None])
    (8, None, None)
    """
    ns = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
    return ns.pop() if len(ns) == 1 else None


def headline_axes(fig: Figure, n: int | None, sharey: bool = True) -> list:
    """One panel per headline metric (Pass@1, PassRatio@N, Pass@N), titled."""
    axes = fig.subplots(1, len(HEADLINE_METRICS), sharey=sharey)
    for ax, m in zip(axes, HEADLINE_METRICS, strict=True):
        ax.set_title(metric_label(m, n))
    return list(axes)


def legend_from(target, axes: Iterable, **kw) -> None:
    """A legend on ``target`` (axes or figure) of the labelled artists of all ``axes``, each label once.

    Panels may each lack some series; collecting across them keeps the legend complete, and a plot
    with no labelled artist gets no (empty, warning-raising) legend at all.

    >>> fig = new_figure(4, 3); ax = fig.subplots(); _ = ax.plot([1], [1], label="a")
    >>> legend_from(ax, [ax]); [t.get_text() for t in ax.get_legend().get_texts()]
    ['a']
    """
    seen: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        target.legend(list(seen.values()), list(seen), **kw)


def yerr(ys: list[float | None], cis: list[tuple[float, float] | None]):
    """Asymmetric error-bar lengths (2 x n, for matplotlib's ``yerr``) from values and 95% intervals.

    A value without an interval gets a zero-length bar; None when no value has one, so a file
    without intervals draws no bars at all. Lengths are clipped at 0 (a bootstrap percentile
    interval can sit just beside its point estimate).

    >>> yerr([0.5, 0.2], [(0.4, 0.7), None]).round(3).tolist()
    [[0.1, 0.0], [0.2, 0.0]]
    >>> yerr([0.5], [None]) is None
    True
    """
    import numpy as np

    if not any(c is not None and y is not None for y, c in zip(ys, cis, strict=True)):
        return None
    lo = [max(0.0, y - c[0]) if c is not None and y is not None else 0.0 for y, c in zip(ys, cis, strict=True)]
    hi = [max(0.0, c[1] - y) if c is not None and y is not None else 0.0 for y, c in zip(ys, cis, strict=True)]
    return np.array([lo, hi])


ERRORBAR = {"ecolor": "#333333", "elinewidth": 1.0, "capsize": 3}


def text_color(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (a ``#rrggbb`` colour).

    >>> text_color("#999999"), text_color("#0072B2")
    ('black', 'white')
    """
    r, g, b = (int(background[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
