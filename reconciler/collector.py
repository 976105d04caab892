"""The cyclic garbage collector, paused while the data a command keeps is being built."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off.

    Reading the files, the fetch and the diff each build hundreds of thousands of objects
    that live until the command ends: every scan of them finds nothing to free, and the
    scans grow with what has been built (a third of a cold validate, a sixth of the fetch of
    10,000 contacts). What the block leaves in reference cycles waits until after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            # What the block kept is long-lived: move it to the oldest generation now
            # (freeze, then unfreeze, does just that), or the next collection scans it all.
            gc.freeze()
            gc.unfreeze()
        gc.enable()
