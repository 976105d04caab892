"""How many requests go at once: found out from their round trips, under a ceiling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

Lane = TypeVar("Lane")
logger = logging.getLogger(__name__)


class AdaptiveConcurrency:
    """The requests in flight that a server answers without slowing down.

    A *round* is as many answers as the limit. Starting from ``START``, the limit doubles
    each round in which every lane was busy and no request waited for the pace (more would
    have gone out), as long as the round's answers took on average within ``TOLERANCE`` of
    their base. Each kind of request (a search, a read by id) has its own base, as their
    costs differ: the lowest floor (lower quartile) of that kind in the last
    ``BASE_ROUNDS`` rounds. Once a round is
    slower than that (the server, the network or this process queueing), the limit is cut
    by ``DECREASE``, never below ``START`` for slowness alone, and from then on grows by one
    a round, as TCP's congestion window does after slow start. The answers to requests sent
    before a cut don't judge the limit after it. Timeouts, 5xx and dropped
    connections cut it too, down to 1: the server is failing, not just busy. A 429 doesn't:
    the rate, not the concurrency, is what the server limits then (see ``AdaptivePace``).
    The limit never passes ``ceiling`` (the ``concurrency`` setting), nor, while set,
    ``probe``: the lanes a run risks while the server's rate limit is unknown (the requests
    in flight when it is first hit are all refused).
    """

    START = 8
    TOLERANCE = 1.5
    DECREASE = 0.75
    BASE_ROUNDS = 20

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError(f"concurrency must be at least 1, not {ceiling}")
        self.ceiling = ceiling
        self.limit = min(self.START, ceiling)
        self.probe: int | None = None
        self._stale = 0  # answers still to come of requests sent before the last cut
        self._slow_start = True
        self._round: dict[str, list[float]] = {}
        self._answers = 0
        self._busy = False
        self._paced = False
        self._floors: dict[str, deque[float]] = {}

    def __repr__(self) -> str:
        return f"AdaptiveConcurrency(limit={self.limit}, ceiling={self.ceiling})"

    @property
    def lanes(self) -> int:
        """How many requests may be in flight now."""
        return self.limit if self.probe is None else min(self.limit, self.probe)

    @property
    def settling(self) -> bool:
        """Whether answers are still due to requests sent before the last cut."""
        return self._stale > 0

    def busy(self) -> None:
        """A request waited for a lane: with more, it would have gone out sooner."""
        self._busy = True

    def answered(self, seconds: float, *, kind: str = "", paced: bool = False) -> None:
        """A request of ``kind`` took ``seconds`` to answer; ``paced``: it first waited
        for the pace."""
        if self._stale:
            self._stale -= 1  # sent before the last cut: it queued behind the old limit
            return
        self._round.setdefault(kind, []).append(seconds)
        self._answers += 1
        self._paced = self._paced or paced
        if self._answers < self.limit:
            return
        ratios: list[float] = []
        for each, times in self._round.items():
            # A floor is a lower quartile, not the fastest answer: one quick answer (a cache)
            # would otherwise make every other look queued.
            floors = self._floors.setdefault(each, deque(maxlen=self.BASE_ROUNDS))
            floors.append(sorted(times)[len(times) // 4])
            base = min(floors)
            ratios += [time / base for time in times] if base > 0 else []
        slower = bool(ratios) and sum(ratios) / len(ratios) > self.TOLERANCE
        grow = self._busy and not self._paced
        self._end_round()
        if slower:
            self._cut(floor=min(self.START, self.ceiling), why="answers slowed down")
        elif grow and self.limit < self.ceiling:
            grown = self.limit * 2 if self._slow_start else self.limit + 1
            self._set(min(self.ceiling, grown), "answers as fast as before")

    def _end_round(self) -> None:
        self._round, self._answers, self._busy, self._paced = {}, 0, False, False

    def overloaded(self) -> None:
        """The server failed to answer (a timeout, a 5xx, a dropped connection): fewer."""
        self._cut(floor=1, why="the server failed to answer")

    def _cut(self, floor: int, why: str) -> None:
        # The requests in flight were sent under the old limit: their answers would judge
        # the new one by the old queue, and cut again below what the server serves.
        self._stale = self.limit
        self._set(min(self.limit, max(floor, int(self.limit * self.DECREASE))), why)
        self._slow_start = False
        self._end_round()

    def _set(self, limit: int, why: str) -> None:
        if limit != self.limit:
            logger.debug("%d requests at once, not %d: %s", limit, self.limit, why)
        self.limit = limit


class Lanes(Generic[Lane]):
    """At most ``concurrency.lanes`` callers at once, each holding a lane (an HTTP client
    with one connection), made on first need and reused warmest first."""

    def __init__(self, concurrency: AdaptiveConcurrency, new_lane: Callable[[], Lane]) -> None:
        self.concurrency = concurrency
        self._new_lane = new_lane
        self._in_use = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._idle: list[Lane] = []
        self.opened: list[Lane] = []

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[Lane]:
        await self._acquire()
        lane = self._idle.pop() if self._idle else self._open()
        try:
            yield lane
        finally:
            self._idle.append(lane)
            self._in_use -= 1
            self.admit()

    def admit(self) -> None:
        """Let waiting callers in up to the limit (call when it may have grown)."""
        while self._waiting and self._in_use < self.concurrency.lanes:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)

    def close(self) -> list[Lane]:
        """Forget every lane; the caller closes what this returns."""
        opened, self.opened, self._idle = self.opened, [], []
        return opened

    async def _acquire(self) -> None:
        if self._in_use < self.concurrency.lanes and not self._waiting:
            self._in_use += 1
            return
        self.concurrency.busy()
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # admitted, then cancelled
                self._in_use -= 1
                self.admit()
            raise

    def _open(self) -> Lane:
        lane = self._new_lane()
        self.opened.append(lane)
        return lane
