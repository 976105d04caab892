"""Pacing of requests: the client-side rate limit and the server's Retry-After header."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class RateLimiter:
    """Spaces the start of requests at least ``1 / per_second`` seconds apart.

    Each caller reserves the next free slot and sleeps until it, so waiting costs no CPU and
    callers start in the order they asked. ``per_second`` None (or 0) means no limit.
    """

    def __init__(
        self, per_second: float | None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_second is not None and (math.isnan(per_second) or per_second < 0):
            raise ValueError(f"a rate limit must be a positive number, not {per_second!r}")
        self.per_second = per_second or None
        self._interval = 1.0 / per_second if per_second else 0.0
        self._clock = clock
        self._next_start = -math.inf

    def __repr__(self) -> str:
        return f"RateLimiter(per_second={self.per_second!r})"

    def reserve(self) -> float:
        """Take the next slot; return how many seconds to wait for it."""
        if not self._interval:
            return 0.0
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self._interval
        return start - now

    async def wait(self) -> None:
        """Return when the caller may start its request."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or an HTTP date).

    None when there is no header or it can't be read; never negative.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
