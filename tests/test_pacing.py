"""The pace the client finds under a server's rate limit nobody configured: every contact
applied, few requests answered 429 (a token bucket on LiveDesk's face, fixed windows on
Chatwoot's). How fast is the benchmarks' to say (benchmarks/RESULTS.md); this is not timed."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from pathlib import Path

import httpx
import pytest
from cli_testing import Desk, point_at, run, store_of, write_contacts, write_settings

from reconciler.engine.apply import apply_plan
from reconciler.engine.fetch import fetch_live
from reconciler.engine.plan import make_plan
from reconciler.input.settings import default_settings
from reconciler.model import Declaration, DeclaredContact, Position
from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import SandboxOptions
from reconciler.targets.chatwoot import Chatwoot, ChatwootClient, Token
from reconciler.targets.http.ratelimit import AdaptivePace

SERVER_LIMIT = 100  # requests a second, unknown to the client
CONTACTS = 1000  # as many as the benchmark applies: a first burst weighs as much
MAX_429_SHARE = 0.05


@pytest.fixture
def sandbox_options(sandbox_options: SandboxOptions) -> SandboxOptions:
    # Chatwoot's windows are a minute; a second here, so the test takes seconds.
    return dataclasses.replace(sandbox_options, rate_limit=SERVER_LIMIT, rate_window=1.0)


def test_an_unknown_limit_is_found_with_few_429s_and_no_failure(
    live_sandbox: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    desk: Desk,
) -> None:
    monkeypatch.setattr("reconciler.targets.chatwoot.RATE_WINDOW", 1.0)
    caplog.set_level(logging.DEBUG, logger="reconciler.targets.http.client")
    store = store_of(live_sandbox)  # type: ignore[arg-type]
    store.seed_if_empty(
        [
            {"identifier": f"c-{n}", "name": "Old", "created_at": 1_700_000_000 + n}
            for n in range(CONTACTS)
        ]
    )
    files = write_contacts(
        tmp_path / "c", [{"identifier": f"c-{n}", "name": "New"} for n in range(CONTACTS)]
    )
    point_at(monkeypatch, live_sandbox, tmp_path, desk)  # type: ignore[arg-type]
    write_settings(tmp_path, desk, 'max_changes: "100%"\n')  # no rate_limit: found out
    code, out, _ = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 0, out
    assert f"{CONTACTS} updated, 0 failed" in out
    messages = [record.getMessage() for record in caplog.records]
    sent = sum(
        int(match.group(1))
        for message in messages
        if (match := re.fullmatch(r"(\d+) HTTP requests sent to .*", message))
    )
    throttled = [
        int(match.group(1))
        for message in messages
        if (match := re.match(r"(\d+) answered 429 so far", message))
    ]
    assert throttled, "the limit was never hit: the test shows nothing"
    assert throttled[-1] <= MAX_429_SHARE * sent, (throttled[-1], sent)


CHATWOOT_SETTINGS = dataclasses.replace(
    default_settings(), target="chatwoot", account_id=1, max_changes="100%"
)


def test_chatwoot_is_paced_under_its_known_limit_unless_on_loopback_or_told() -> None:
    def ceiling(base_url: str, rate_limit: float | None = None) -> float | None:
        settings = dataclasses.replace(CHATWOOT_SETTINGS, rate_limit=rate_limit)
        return Chatwoot(base_url, Token("t"), 1, settings).pace.ceiling

    assert ceiling("https://desk.example") == 40.0  # 80% of 3,000 a minute
    assert ceiling("http://127.0.0.1:3000") is None  # rack-attack exempts loopback
    assert ceiling("https://desk.example", rate_limit=10) == 10  # lower
    assert ceiling("https://desk.example", rate_limit=48) == 48  # or higher


@pytest.mark.anyio
async def test_chatwoot_applies_hundreds_under_its_known_limit_with_no_429(
    sandbox_options: SandboxOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The known limit (SERVER_LIMIT a one-second window here, as the sandbox counts it):
    # the steady pace under it is answered with no 429, which would lock out the agents.
    for module in ("chatwoot", "chatwoot_server"):
        monkeypatch.setattr(f"reconciler.targets.{module}.RATE_WINDOW", 1.0)
    monkeypatch.setattr("reconciler.targets.chatwoot_server.REQUESTS_PER_WINDOW", SERVER_LIMIT)
    app = create_app(sandbox_options)
    count = 300
    app.state.store.seed_if_empty(
        [
            {"identifier": f"c-{n}", "name": "Old", "created_at": 1_700_000_000 + n}
            for n in range(count)
        ]
    )
    declaration = Declaration(
        tuple(
            DeclaredContact(Position("c.yaml", n + 1, 5), {"identifier": f"c-{n}", "name": "New"})
            for n in range(count)
        )
    )
    settings = dataclasses.replace(CHATWOOT_SETTINGS, ownership=False)
    target = Chatwoot("https://desk.example", Token("sandbox-token"), 1, settings)
    assert target.pace.ceiling == 0.8 * SERVER_LIMIT
    transport = httpx.ASGITransport(app=app)
    try:
        async with ChatwootClient(
            target.base_url, target.token, 1, transport=transport, pace=target.pace
        ) as client:
            live = await fetch_live(client, declaration)
            plan = make_plan(declaration, live, settings, client.capabilities)
            outcomes = await apply_plan(client, plan)
            sent = client.request_count
    finally:
        app.state.store.close()
    assert [outcome.status for outcome in outcomes] == ["updated"] * count
    assert sent > count  # the limit would have been reached unpaced
    assert target.pace.throttled == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unpaced_until_a_429_then_what_the_server_answered_less_a_margin() -> None:
    clock = Clock()
    pace = AdaptivePace(clock=clock)
    assert [pace.reserve() for _ in range(100)] == [0.0] * 100  # nothing known: no wait
    pace.answered()
    pace.throttle()  # too few answers to say anything: a pause, still unpaced
    assert pace.rate is None and pace.reserve() == pytest.approx(AdaptivePace.COOLDOWN)
    clock.now += 1.5
    for _ in range(40):  # the server answered 40 in the last second, then said 429
        pace.answered()
    pace.throttle()
    rate = pace.rate
    assert rate is not None and rate == pytest.approx(40 * AdaptivePace.FIRST_DECREASE)
    waits = [pace.reserve() for _ in range(3)]
    assert waits[1] - waits[0] == pytest.approx(1 / rate)
    pace.throttle()  # the requests under way come back 429 too: one cut a cooldown
    assert pace.rate == pytest.approx(40 * AdaptivePace.FIRST_DECREASE)
    assert pace.throttled == 3


def test_a_429_to_a_request_paced_after_the_cut_cuts_again_within_the_cooldown() -> None:
    clock = Clock()
    pace = AdaptivePace(clock=clock)
    for _ in range(40):
        pace.answered()
    before = clock.now
    pace.throttle(before)  # the first cut: 30 a second
    first = pace.rate
    assert first is not None and first == pytest.approx(40 * AdaptivePace.FIRST_DECREASE)
    clock.now += 0.01
    pace.throttle(before)  # sent before the cut: under way when the limit was hit
    assert pace.rate == first
    grace = AdaptivePace.MIN_SAMPLE / first  # slots an empty bucket may still refuse
    pace.throttle(before + grace / 2)
    assert pace.rate == first
    clock.now += grace
    pace.throttle(clock.now)  # paced by the cut pace, and still refused: too fast
    assert pace.rate == pytest.approx(first * AdaptivePace.DECREASE)
    assert pace.throttled == 4


def test_a_burst_is_read_as_the_bucket_and_what_it_refilled_meanwhile() -> None:
    clock = Clock()
    pace = AdaptivePace(clock=clock)
    for _ in range(6):  # a burst at once...
        pace.answered()
    clock.now += 0.5
    for _ in range(9):  # ...and more half a second on, then a 429
        pace.answered()
    pace.throttle(clock.now)
    # The 15 were at most a second's bucket and half a second's refill: at least 10 a
    # second (the last 9 alone say at least 9).
    guess = 15 / 1.5
    assert pace.rate == pytest.approx(guess * AdaptivePace.FIRST_DECREASE)
    clock.now += 1.0
    pace.reserve()  # a guess, not a measure: it grows as from well below the limit
    assert pace.rate == pytest.approx(guess * AdaptivePace.FIRST_DECREASE + 1.0)


def test_two_limits_met_measure_the_pace_the_server_refilled_between_them() -> None:
    clock = Clock()
    pace = AdaptivePace(clock=clock)
    for _ in range(20):
        pace.answered()
    pace.throttle(clock.now)  # unpaced: a guess of 20 a second
    for _ in range(30):  # 3 s at 10 a second, then a 429 at the pace grown meanwhile
        clock.now += 0.1
        pace.reserve()
        pace.answered()
    assert pace.rate is not None and pace.rate > 20
    pace.throttle(clock.now)
    # The last second's 10 answers, or the 30 over 3 s: 10 a second, not the pace it had.
    assert pace.rate == pytest.approx(10 * AdaptivePace.DECREASE)


@pytest.mark.anyio
async def test_a_slot_taken_before_a_cut_is_taken_again_at_the_new_pace() -> None:
    pace = AdaptivePace(1000.0)  # 1 ms apart
    waiting = [asyncio.create_task(pace.wait()) for _ in range(5)]
    await asyncio.sleep(0)  # each took a slot at 1,000 a second
    for _ in range(AdaptivePace.MIN_SAMPLE * 2):
        pace.answered()
    pace.throttle()  # answered 8 in the last second: 7.2 a second from now on
    cut = time.monotonic()
    taken = sorted(slot for _, slot in await asyncio.gather(*waiting))
    # Only the first slot (already due) was kept; the others were taken again after the cut.
    assert sum(1 for slot in taken if slot >= cut) >= len(taken) - 1
    rate = pace.rate
    assert rate is not None
    assert time.monotonic() - cut >= (len(taken) - 1) / rate


def test_it_grows_each_second_without_a_429_and_never_past_the_ceiling() -> None:
    clock = Clock()
    pace = AdaptivePace(30.0, clock=clock)
    assert pace.rate == 30.0  # a configured rate_limit: the start, and the ceiling
    for _ in range(20):
        pace.answered()
    pace.throttle()
    assert pace.rate == pytest.approx(20 * AdaptivePace.DECREASE)  # 18
    clock.now += 1.0
    pace.reserve()  # fast up to just under what the server answered at the 429
    assert pace.rate == pytest.approx(20 * AdaptivePace.NEAR)
    clock.now += 1.0
    pace.reserve()  # then gently
    assert pace.rate == pytest.approx(19 * (1 + AdaptivePace.GENTLE))
    clock.now += 60.0
    pace.reserve()
    assert pace.rate == 30.0


def test_a_fixed_window_is_waited_out() -> None:
    clock, wall = Clock(), Clock()
    wall.now = 120.25  # a quarter into a one-minute window
    pace = AdaptivePace(window=60.0, clock=clock, wall_clock=wall)
    pace.answered()
    pace.throttle()
    assert pace.reserve() == pytest.approx(59.75)  # the next window, on the wall clock
