from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from reconciler.targets.http.ratelimit import RateLimiter, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_limit_never_waits() -> None:
    for per_second in (None, 0.0):
        limiter = RateLimiter(per_second)
        assert [limiter.reserve() for _ in range(100)] == [0.0] * 100


def test_slots_are_spaced_evenly_from_now() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    clock.now += 10  # idle time is not saved up as a burst
    assert [limiter.reserve() for _ in range(2)] == [0.0, 0.25]


def test_a_caller_that_comes_late_takes_the_next_free_slot() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock)
    assert limiter.reserve() == 0.0
    clock.now += 0.05
    assert limiter.reserve() == pytest.approx(0.05)


@pytest.mark.parametrize("per_second", [-1.0, float("nan")])
def test_a_nonsense_rate_is_refused(per_second: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(per_second)


@pytest.mark.anyio
async def test_concurrent_waiters_start_spaced_apart() -> None:
    limiter = RateLimiter(200)  # one start every 5 ms
    starts: list[float] = []

    async def request() -> None:
        await limiter.wait()
        starts.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(request() for _ in range(20)))
    # The n-th caller may start no sooner than n slots in; a late wake-up only adds.
    assert all(started - began >= n * 0.005 - 0.0005 for n, started in enumerate(starts))
    assert starts == sorted(starts)


NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        (format_datetime(NOW + timedelta(seconds=7), usegmt=True), 7.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Sat, 01 Mar 2025 11:59:00 GMT", 0.0),  # a date in the past: go now
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_as_seconds_or_http_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds
