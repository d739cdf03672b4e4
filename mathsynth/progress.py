"""Progress bars for long stages (rich), or nothing when output is not a terminal."""

from __future__ import annotations

import contextlib
from typing import Any


def progress_bar(console: Any, show: bool, *fields: str):
    """A context manager yielding a rich ``Progress`` (or None when ``show`` is false) with a bar,
    done/total, the given text columns (``{task.fields[...]}`` templates) and elapsed time.

    >>> with progress_bar(None, False, "x") as p:
    ...     p is None
    True
    """
    if not show:
        return contextlib.nullcontext()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *(TextColumn(f) for f in fields), TimeElapsedColumn(), console=console)
