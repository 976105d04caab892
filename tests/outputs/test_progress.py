"""The progress bar shows on a terminal for long runs, and nowhere else."""

from __future__ import annotations

import io

from reconciler.outputs.progress import MIN_CONTACTS_FOR_PROGRESS, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_run_on_a_terminal_shows_a_bar() -> None:
    stream = Terminal()
    with progress_bar("Reading LiveDesk", 100, stream=stream) as advance:
        advance(60)
        advance(40)
    assert "Reading LiveDesk" in stream.getvalue()


def test_no_bar_when_piped_or_short() -> None:
    piped, short = io.StringIO(), Terminal()
    with progress_bar("Applying", 1000, stream=piped) as advance:
        advance(1000)
    with progress_bar("Applying", MIN_CONTACTS_FOR_PROGRESS - 1, stream=short) as advance:
        advance(1)
    assert piped.getvalue() == short.getvalue() == ""
