"""Which failed attempts are tried again, and what a caller sees when one can't be.

No httpx here: reconciler.targets.http.client raises ``Retryable`` from an attempt, and stamina asks
``retry_wait`` whether, and after how long, to try again.
"""

from __future__ import annotations

import logging

from reconciler.errors import ApiError, ServerError, TransportError

logger = logging.getLogger(
    "reconciler.targets.http.client"
)  # the retries are the client's story in the log


class Retryable(Exception):
    """An attempt failed in a way worth another try; ``error`` is what the caller sees."""

    def __init__(
        self, error: ApiError, *, maybe_written: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.maybe_written = maybe_written  # the server may have done the write
        self.retry_after = retry_after


def retry_wait(exception: Exception, retry_after_cap: float) -> bool | float:
    """stamina's hook: retry a Retryable, after its Retry-After (capped) if it had one."""
    if not isinstance(exception, Retryable):
        return False
    if exception.retry_after is None:
        logger.debug("attempt failed: %s", exception.error)
        return True
    wait = min(exception.retry_after, retry_after_cap)
    logger.debug("attempt failed: %s; Retry-After says wait %.2f s", exception.error, wait)
    return wait


def unfindable(error: ApiError) -> ApiError:
    """The error of an ambiguous create that can't be looked up, so can't be safely retried."""
    note = (
        "; the contact may have been created, and with no identifier, email or phone_number "
        "to look it up by, it was not posted again"
    )
    if isinstance(error, ServerError):
        return ServerError(error.status, error.message + note, error.service)
    return TransportError(f"{error}{note}")
