"""The report as data: sections holding paragraphs, tables and plots, rendered to HTML and Markdown.

Keeping one document model means report.html and report.md can never disagree: both renderers walk
the same sections, so the same tables and the same PNGs appear in both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Link:
    """A table cell that links somewhere (``href`` relative to the report folder)."""

    text: str
    href: str


Cell = str | Link


@dataclass
class Table:
    """A titled table; cells are already formatted strings (or :class:`Link`)."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str = ""


@dataclass
class Plot:
    """A PNG written under the report's ``plots/`` folder, with the caption shown under it."""

    path: Path
    caption: str


@dataclass
class Section:
    """A titled part of the report; ``items`` are paragraphs (str, or a :class:`Link` on its own line),
    :class:`Table` or :class:`Plot`."""

    title: str
    items: list[str | Link | Table | Plot] = field(default_factory=list)

    def add(self, item: str | Link | Table | Plot | None) -> None:
        """Append an item, ignoring None (what a plot or table builder returns when it has no data).

        >>> s = Section("x"); s.add(None); s.add("text"); s.items
        ['text']
        """
        if item is not None:
            self.items.append(item)


def pct(x: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage string, "-" when absent.

    >>> pct(0.1234), pct(None), pct(1.0, 0)
    ('12.3', '-', '100')
    """
    return "-" if x is None else f"{100 * x:.{digits}f}"


def pp(x: float | None) -> str:
    """A signed difference of shares in percentage points, "-" when absent.

    >>> pp(0.05), pp(-0.012), pp(None)
    ('+5.0', '-1.2', '-')
    """
    return "-" if x is None else f"{100 * x:+.1f}"


def rel_href(target: Path, base: Path) -> str:
    """A link from folder ``base`` to ``target``: relative with forward slashes, so the report folder
    can be moved along with its inputs; a file:// URL where no relative path exists (another drive).

    >>> rel_href(Path("/r/ev/metrics.json"), Path("/r/out"))
    '../ev/metrics.json'
    """
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:
        return Path(target).resolve().as_uri()
