"""How many requests go at once: the limit's rules, the gate that keeps to it, and the
client finding a server's capacity over HTTP (the sandbox's workers). Not timed."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.concurrency import gather_bounded
from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import SandboxOptions
from reconciler.targets.http.lanes import AdaptiveConcurrency, Lanes
from reconciler.targets.livedesk import Credentials, LiveDeskClient, RetryPolicy

pytestmark = pytest.mark.anyio


def rounds(
    limit: AdaptiveConcurrency,
    seconds: float,
    count: int = 1,
    *,
    busy: bool = True,
    paced: bool = False,
) -> None:
    """``count`` whole rounds of answers that each took ``seconds``."""
    for _ in range(count):
        if busy:
            limit.busy()
        for _ in range(limit.limit):
            limit.answered(seconds, paced=paced)


def in_flight(limit: AdaptiveConcurrency, seconds: float, count: int) -> None:
    """The answers to ``count`` requests sent before the last cut, each taking ``seconds``."""
    for _ in range(count):
        limit.answered(seconds)


def test_it_doubles_while_busy_and_prompt_then_grows_by_one_after_a_slow_round() -> None:
    limit = AdaptiveConcurrency(64)
    assert limit.limit == AdaptiveConcurrency.START == 8
    rounds(limit, 0.05, 2)
    assert limit.limit == 32
    slow = 0.05 * AdaptiveConcurrency.TOLERANCE * 1.1
    rounds(limit, slow)
    assert limit.limit == 24
    in_flight(limit, slow, 32)  # queued behind the old limit: they don't cut it again
    assert limit.limit == 24
    rounds(limit, 0.05, 3)
    assert limit.limit == 27


def test_it_never_passes_the_ceiling_nor_goes_below_one() -> None:
    limit = AdaptiveConcurrency(12)
    rounds(limit, 0.05, 5)
    assert limit.limit == 12
    for _ in range(20):
        limit.overloaded()
    assert limit.limit == 1


def test_slower_answers_alone_never_cut_below_the_start() -> None:
    limit = AdaptiveConcurrency(64)
    rounds(limit, 0.05)
    assert limit.limit == 16
    for seconds in (0.1, 0.2, 0.4, 0.8):
        in_flight(limit, seconds, limit.limit)
        rounds(limit, seconds)
    assert limit.limit == AdaptiveConcurrency.START
    assert AdaptiveConcurrency(4).limit == 4  # a ceiling under the start is the start
    assert AdaptiveConcurrency(3).limit == 3
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveConcurrency(0)


def test_it_grows_only_when_more_would_have_gone_out() -> None:
    limit = AdaptiveConcurrency(64)
    rounds(limit, 0.05, 3, busy=False)  # never a request waiting for a lane
    assert limit.limit == 8
    rounds(limit, 0.05, 3, paced=True)  # the pace held them, not the lanes
    assert limit.limit == 8


def test_the_base_is_the_fastest_of_recent_rounds_so_a_slower_server_is_followed() -> None:
    limit = AdaptiveConcurrency(64)
    rounds(limit, 0.01)
    rounds(limit, 0.05)  # five times slower than the base: cut
    assert limit.limit == 12
    in_flight(limit, 0.05, 16)
    # The fast round is forgotten (half the rounds after a cut are answers from before it)...
    rounds(limit, 0.05, 2 * AdaptiveConcurrency.BASE_ROUNDS)
    while limit.settling:
        limit.answered(0.05)
    cut = limit.limit
    rounds(limit, 0.05, 2)  # ...and 50 ms is the server's pace now, not a queue
    assert limit.limit == cut + 2


def test_one_quick_answer_among_slower_ones_is_not_taken_for_the_base() -> None:
    limit = AdaptiveConcurrency(64)
    limit.busy()
    limit.answered(0.005)  # a cheap endpoint, or a cache, answering at once
    for _ in range(limit.limit - 1):
        limit.answered(0.05)
    rounds(limit, 0.05)
    assert limit.limit == 32


def test_a_costlier_kind_of_request_is_not_taken_for_queueing() -> None:
    limit = AdaptiveConcurrency(64)
    for _ in range(2):
        limit.busy()
        for n in range(limit.limit):  # reads by id answer in 50 ms, searches in 150
            limit.answered(0.05 if n % 2 else 0.15, kind="GET /contacts/#" if n % 2 else "?q")
    assert limit.limit == 32
    limit.busy()
    for n in range(limit.limit):  # the searches queue now: three times their own base
        limit.answered(0.05 if n % 2 else 0.45, kind="GET /contacts/#" if n % 2 else "?q")
    assert limit.limit == 24


async def test_the_gate_admits_up_to_the_limit_and_more_as_it_grows() -> None:
    limit = AdaptiveConcurrency(64)
    limit.limit = 2
    lanes = Lanes(limit, object)
    inside = 0
    most = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal inside, most
        async with lanes.lane():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.ensure_future(hold()) for _ in range(6)]
    await asyncio.sleep(0.01)
    assert inside == 2
    limit.limit = 5
    lanes.admit()
    await asyncio.sleep(0.01)
    assert inside == 5
    release.set()
    await asyncio.gather(*tasks)
    assert most == 5
    assert len(lanes.opened) == 5  # a lane is reused, not made per request


async def test_a_caller_cancelled_while_waiting_or_just_admitted_leaves_no_lane_taken() -> None:
    limit = AdaptiveConcurrency(64)
    limit.limit = 1
    lanes = Lanes(limit, object)
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def hold() -> None:
        async with lanes.lane():
            entered.set()
            await leave.wait()

    holder = asyncio.ensure_future(hold())
    await entered.wait()
    waiting = asyncio.ensure_future(hold())
    admitted = asyncio.ensure_future(hold())
    await asyncio.sleep(0.01)
    waiting.cancel()
    leave.set()
    await holder  # its lane goes to `admitted` (the cancelled waiter is skipped)...
    admitted.cancel()  # ...which is cancelled before it runs: the lane comes back
    await asyncio.gather(waiting, admitted, return_exceptions=True)
    async with asyncio.timeout(1):
        async with lanes.lane():
            pass


class InFlight:
    """ASGI middleware: the most requests a server had at once, past the first ``skip``."""

    def __init__(self, app: ASGIApp, skip: int) -> None:
        self.app, self.skip = app, skip
        self.now = self.seen = self.most = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.now += 1
        self.seen += 1
        if self.seen > self.skip:
            self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


REQUESTS = 300
FAST = RetryPolicy(attempts=2, timeout=5.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


async def most_in_flight(
    options: SandboxOptions, concurrency: int, workers: int
) -> tuple[int, int]:
    """The most requests in flight once the client settled, and the failures, for
    REQUESTS reads of a sandbox 20 ms away with ``workers``."""
    app: Starlette = create_app(dataclasses.replace(options, latency_ms=20, workers=workers))
    app.state.store.seed_if_empty([{"identifier": "one", "created_at": 1_700_000_000}])
    counter = InFlight(app, skip=REQUESTS // 2)
    transport = httpx.ASGITransport(app=counter, raise_app_exceptions=False)
    client = LiveDeskClient(
        "http://127.0.0.1",
        Credentials("sandbox", "sandbox"),
        transport=transport,
        concurrency=concurrency,
        retry=FAST,
    )
    failures = 0

    async def read() -> None:
        nonlocal failures
        try:
            await client.get_contact(1)
        except Exception:
            failures += 1

    try:
        await gather_bounded((read() for _ in range(REQUESTS)), limit=concurrency * 2)
    finally:
        await client.aclose()
        app.state.store.close()
    return counter.most, failures


async def test_a_server_that_answers_many_at_once_gets_more_than_the_start(
    sandbox_options: SandboxOptions,
) -> None:
    most, failures = await most_in_flight(sandbox_options, concurrency=32, workers=0)
    assert failures == 0
    assert most > AdaptiveConcurrency.START


async def test_a_server_with_few_workers_is_never_sent_the_ceiling(
    sandbox_options: SandboxOptions,
) -> None:
    most, failures = await most_in_flight(sandbox_options, concurrency=32, workers=4)
    assert failures == 0
    # The answers slow down as requests queue for the 4 workers: it stays near the start
    # (a queue within TOLERANCE of the round trip is allowed), far from the ceiling.
    assert most < 2 * AdaptiveConcurrency.START


async def test_a_configured_concurrency_is_never_exceeded(
    sandbox_options: SandboxOptions,
) -> None:
    most, failures = await most_in_flight(sandbox_options, concurrency=3, workers=0)
    assert (most, failures) == (3, 0)


class FirstLimit:
    """ASGI middleware: each request held ``hold`` seconds; the ``at``-th answered 429 (a
    limit met once); the most in flight before that 429 was sent."""

    def __init__(self, app: ASGIApp, at: int, hold: float = 0.005) -> None:
        self.app, self.at, self.hold = app, at, hold
        self.now = self.seen = self.most_before = 0
        self.limited = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.now += 1
        self.seen += 1
        if not self.limited:
            self.most_before = max(self.most_before, self.now)
        try:
            await asyncio.sleep(self.hold)
            if self.seen == self.at:
                self.limited = True
                response = PlainTextResponse("Retry later", status_code=429)
                await response(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            self.now -= 1


async def test_a_small_run_risks_few_requests_at_once_until_it_meets_a_limit(
    sandbox_options: SandboxOptions,
) -> None:
    app: Starlette = create_app(sandbox_options)
    app.state.store.seed_if_empty([{"identifier": "one", "created_at": 1_700_000_000}])
    server = FirstLimit(app, at=10)
    client = LiveDeskClient(
        "http://127.0.0.1",
        Credentials("sandbox", "sandbox"),
        transport=httpx.ASGITransport(app=server),
        retry=FAST,
    )
    try:
        client.expect(75)  # an apply's: 5% of them, less one, at once at most
        await gather_bounded((client.get_contact(1) for _ in range(12)), limit=64)
        concurrency = client._session._lanes.concurrency
        assert server.limited and server.most_before == 2
        assert concurrency.probe is None and concurrency.lanes == concurrency.limit
        client.expect(75)  # a limit is known now (the pace): nothing to hold back
        assert concurrency.probe is None
    finally:
        await client.aclose()
        app.state.store.close()
