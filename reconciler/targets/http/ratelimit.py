"""Pacing of requests: a fixed rate limit, the adaptive pace, and the Retry-After header."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
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


class AdaptivePace:
    """The pace a server allows, found out rather than configured.

    Unpaced until the first 429. That one's pace is a guess: the answers since any moment
    were at most the server's bucket then (taken as a second's worth, as is usual) and its
    refill since, and the tightest such bound, less ``FIRST_DECREASE``, is the pace; it grows
    by ``INCREASE`` of itself (at least one) every second without a 429. A later 429
    measures the pace: what the server let through since the 429 before (its bucket empty at
    both), or, within ``MEASURE`` seconds of it, what it answered in the last second; the
    pace is that less ``DECREASE`` (with too few answers to tell, the pace is cut, or an
    unpaced client pauses a ``COOLDOWN``). It then grows fast up to ``NEAR`` the measure and
    by ``GENTLE`` beyond, so that it stays close under the limit, probed again at the cost of
    a few 429s. A 429 lowers it at most once a ``COOLDOWN`` (the requests under way when the
    limit was met are answered 429 too), except one to a request paced after the last cut
    (past ``MIN_SAMPLE`` slots of the new pace, which an emptied bucket may still refuse): the
    cut was not deep enough. Slots taken before a cut are taken again at the new pace. A
    server counting in fixed windows (``window``, in seconds, on the wall clock) is waited
    out to its next window: its 429s say the window's quota is spent. ``ceiling`` (the
    ``rate_limit`` setting) is never exceeded.
    """

    DECREASE = 0.9
    FIRST_DECREASE = 0.95  # of the first estimate, which allows for the burst already
    INCREASE = 0.05  # a second, well below the pace of the last 429
    NEAR = 0.95  # from this share of the pace of the last 429 on, probe gently:
    GENTLE = 0.01  # a second
    COOLDOWN = 0.5
    MIN_SAMPLE = 4  # answers in the last second that say something of the server's pace
    FLOOR = 0.2  # requests a second: the slowest it ever goes
    MEASURE = 2.0  # seconds between two limits met that measure the server's pace

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ceiling = ceiling or None
        self.window = window
        self._clock = clock
        self._wall_clock = wall_clock
        self.rate: float | None = self.ceiling  # requests a second; None: unpaced
        self._next_start = -math.inf
        self._answered: deque[float] = deque()  # when the last second's answers came
        self._last_change = -math.inf  # when the pace last changed (grew, or was cut)
        self._last_cut = -math.inf
        self._paused_until = -math.inf
        self._limit_seen: float | None = None  # the server's pace measured at the last 429
        self._answers = 0  # answered so far
        self._cuts = 0  # times the pace was lowered
        self._last_limit: tuple[float, int] | None = None  # when a 429 last cut, answers then
        self.throttled = 0  # 429s seen

    def __repr__(self) -> str:
        return f"AdaptivePace(rate={self.rate!r}, ceiling={self.ceiling!r})"

    def reserve(self) -> float:
        """Take the next slot; how many seconds to wait for it."""
        now = self._clock()
        self._grow(now)
        start = max(now, self._paused_until)
        if self.rate is not None:
            start = max(start, self._next_start)
            self._next_start = start + 1.0 / self.rate
        return start - now

    async def wait(self) -> tuple[bool, float]:
        """Return when the caller may start its request: whether it had to wait, and when
        (this clock) it took the slot it goes in. A slot taken before a cut is given up for
        one at the new pace: spaced by the old, it would meet the same emptied bucket."""
        waited = False
        while True:
            cuts, taken = self._cuts, self._clock()
            delay = self.reserve()
            if delay <= 0:
                return waited, taken
            waited = True
            await asyncio.sleep(delay)
            if self._cuts == cuts:
                return waited, taken

    def answered(self) -> None:
        """The server answered a request (with anything but 429)."""
        now = self._clock()
        self._answers += 1
        self._answered.append(now)
        while self._answered and self._answered[0] < now - 1.0:
            self._answered.popleft()

    def throttle(self, sent: float | None = None) -> None:
        """The server answered 429 to a request that took its slot at ``sent`` (the pace's
        clock): slow down, or wait for its next window. Once a cooldown, unless the request
        took its slot after the last cut: then the pace it was sent at is too fast already."""
        now = self._clock()
        self.throttled += 1
        if self.window:
            wall = self._wall_clock()
            self._paused_until = max(self._paused_until, now + self.window - wall % self.window)
        # Paced after the last cut, past the few slots an empty bucket still refuses.
        grace = self.MIN_SAMPLE / self.rate if self.rate else 0.0
        after_the_cut = sent is not None and sent > self._last_cut + grace
        if now - self._last_cut < self.COOLDOWN and not after_the_cut:
            return
        self._last_change = self._last_cut = now
        recent = [at for at in self._answered if at > now - 1.0]
        allowed = float(len(recent))
        previous, self._last_limit = self._last_limit, (now, self._answers)
        if allowed < self.MIN_SAMPLE:
            if self.rate is None:
                self._paused_until = max(self._paused_until, now + self.COOLDOWN)
                return
            allowed = self.rate
        elif self.rate is None:
            # Unpaced, the answers since any moment were at most what the server's bucket
            # held then (a second's worth, as is usual) and what it refilled since: B + r·T
            # with B = r. The tightest of those bounds on r: a guess, as B is unknown.
            allowed = max((len(recent) - k) / (1.0 + now - at) for k, at in enumerate(recent))
        elif previous is not None and now - previous[0] >= self.MEASURE:
            # Between two limits met the bucket went from empty to empty: what it let
            # through is what it refilled. (A bucket that hides a pace over the limit until
            # its store runs out makes the last second's answers overstate it.)
            allowed = (self._answers - previous[1]) / (now - previous[0])
        else:
            allowed = min(allowed, self.rate)
        cut = self.FIRST_DECREASE if self.rate is None else self.DECREASE
        # A guess grows as from well below the limit, until a second limit measures it.
        self._limit_seen = None if self.rate is None else allowed
        self.rate = max(self.FLOOR, allowed * cut)
        # The bucket is empty: its next token comes one interval on. The slots taken at
        # the old pace are taken again (``wait``).
        self._cuts += 1
        self._next_start = now + 1.0 / self.rate

    def _grow(self, now: float) -> None:
        if self.rate is None or self.rate == self.ceiling or now - self._last_change < 1.0:
            return
        seconds = int(now - self._last_change)
        rate = self.rate
        near = self.NEAR * (self._limit_seen or math.inf)
        for _ in range(min(seconds, 100)):
            if rate < near:
                rate = min(rate + max(1.0, rate * self.INCREASE), max(near, rate))
            else:
                rate += max(0.05, rate * self.GENTLE)
        if self.ceiling is not None:
            rate = min(rate, self.ceiling)
        self.rate = rate
        self._last_change += seconds
