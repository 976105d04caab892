"""Writing what a command produces to a path the user gave: a plan, an exported file.

A regular file (or a new one) is written atomically, through a temporary file beside it,
so that a reader never sees half of it. Anything else that exists there (a device such as
``/dev/null`` or ``/dev/stdout``, a FIFO, a terminal) is written as a stream and never
replaced: as root, replacing ``/dev/null`` with a file would break the machine.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from reconciler.errors import ReconcilerError


def is_stream(path: Path) -> bool:
    """Whether ``path`` names something that exists and isn't a regular file or directory
    (followed through symbolic links), or lies under /dev or /proc."""
    if path.absolute().parts[1:2] in (("dev",), ("proc",)):
        return True
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_output(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` (``mode``: a new file's permissions; None: mkstemp's
    0600); ReconcilerError, in one line, when it can't be."""
    if is_stream(path):
        try:
            with path.open("wb") as stream:
                stream.write(data)
        except OSError as error:
            raise ReconcilerError(f"can't write to {path}: {error.strerror}") from None
        return
    if path.is_dir():
        raise ReconcilerError(f"can't write to {path}: it is a directory; give a file name")
    target = path.resolve() if path.is_symlink() else path  # the link stays a link
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise ReconcilerError(f"can't write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        if mode is not None:
            Path(temporary).chmod(mode)
        Path(temporary).replace(target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ReconcilerError(f"can't write {path}: {error.strerror}") from None
