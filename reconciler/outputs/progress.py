"""A progress bar on a terminal for long fetches and applies; nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

MIN_CONTACTS_FOR_PROGRESS = 40

Advance = Callable[[int], None]


@contextmanager
def progress_bar(
    description: str, total: int, *, stream: TextIO | None = None
) -> Iterator[Advance]:
    """Yield a callback that moves the bar on by n; a bar is shown only when it helps."""
    stream = stream or sys.stderr
    if total < MIN_CONTACTS_FOR_PROGRESS or not stream.isatty():
        yield lambda _count: None
        return
    # Imported here: piped output (CI, scripts) draws no bar and never needs rich's.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),  # the time left, at the pace so far
    )
    with Progress(*columns, console=Console(file=stream), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)
