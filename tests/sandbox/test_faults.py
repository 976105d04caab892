"""Fault injection: latency, rate limit, failures, failures after a write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sandbox_testing import AUTH, BASE_URL, PATH, api_client, create
from starlette.applications import Starlette

from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import SandboxOptions, start_in_thread

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Starlette]]]


@pytest.fixture
def faulty(sandbox_options: SandboxOptions) -> Iterator[ClientFactory]:
    """``async with faulty(latency_ms=...) as (client, app)``: an in-process faulty sandbox."""
    apps: list[Starlette] = []

    @asynccontextmanager
    async def open_client(**faults: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
        db = sandbox_options.db.replace(".sqlite", f"-{len(apps)}.sqlite")
        app = create_app(replace(sandbox_options, db=db, **faults))
        apps.append(app)
        async with api_client(httpx.ASGITransport(app=app, raise_app_exceptions=False)) as client:
            yield client, app

    yield open_client
    for app in apps:
        app.state.store.close()


def _outcome(response: httpx.Response) -> str:
    if response.status_code != 500:
        return str(response.status_code)
    if response.content.startswith(b"<!DOCTYPE html>"):
        return "html"
    assert response.content == b""
    return "empty"


async def test_nothing_is_injected_by_default(faulty: ClientFactory) -> None:
    async with faulty() as (client, app):
        assert app.user_middleware == []
        statuses = {(await client.get(PATH)).status_code for _ in range(50)}
        assert statuses == {200}


async def test_latency_delays_each_response(faulty: ClientFactory) -> None:
    async with faulty(latency_ms=40) as (client, _):
        started = time.perf_counter()
        response = await client.get(PATH)
        assert response.status_code == 200
        assert time.perf_counter() - started >= 0.04


async def test_16_clients_at_50_ms_latency_are_served_together(
    sandbox_options: SandboxOptions,
) -> None:
    with start_in_thread(replace(sandbox_options, latency_ms=50)) as running:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=running.base_url, auth=AUTH, limits=limits) as client:

            async def timed() -> float:
                started = time.perf_counter()
                response = await client.get(PATH)
                assert response.status_code == 200
                return time.perf_counter() - started

            started = time.perf_counter()
            each = await asyncio.gather(*(timed() for _ in range(16)))
            total = time.perf_counter() - started
    assert min(each) >= 0.05
    assert total < 0.6  # one after another would take 16 x 50 ms = 800 ms


async def test_rate_limit_answers_429_retry_later_without_retry_after(
    faulty: ClientFactory,
) -> None:
    async with faulty(rate_limit=5) as (client, _):
        statuses = [(await client.get(PATH)).status_code for _ in range(5)]
        assert statuses == [200] * 5
        limited = await client.get(PATH)
        assert limited.status_code == 429
        assert limited.text == "Retry later"
        assert limited.headers["content-type"].startswith("text/plain")
        assert "retry-after" not in limited.headers
        assert (await client.get("/elsewhere")).status_code == 404  # only API routes
        await asyncio.sleep(0.25)  # 5 a second: a token every 0.2 s
        assert (await client.get(PATH)).status_code == 200
        assert (await client.get(PATH)).status_code == 429


async def test_fault_rate_one_fails_every_request_before_it_is_handled(
    faulty: ClientFactory,
) -> None:
    async with faulty(fault_rate=1.0, fault_seed=1) as (client, app):
        outcomes = [
            _outcome(await client.post(PATH, json={"inbox_id": 1, "email": f"f{n}@example.com"}))
            for n in range(30)
        ]
        # In-process a dropped connection is a 500 with an empty body.
        assert set(outcomes) == {"html", "empty"}
        assert app.state.store.count() == 0
        assert (await client.get("/elsewhere")).status_code == 404


async def test_fault_seed_makes_the_failures_repeatable(faulty: ClientFactory) -> None:
    async def outcomes(seed: int) -> list[str]:
        async with faulty(fault_rate=0.5, fault_seed=seed) as (client, _):
            return [_outcome(await client.get(PATH)) for _ in range(40)]

    first, again, other = await outcomes(42), await outcomes(42), await outcomes(43)
    assert first == again
    assert first != other
    assert 8 <= first.count("200") <= 32


async def test_fail_after_write_stores_the_write_then_fails_the_response(
    faulty: ClientFactory,
) -> None:
    async with faulty(fail_after_write=1.0, fault_seed=3) as (client, app):
        created = await client.post(PATH, json={"inbox_id": 1, "email": "w@example.com"})
        assert created.status_code == 500
        (stored,) = app.state.store.all()
        assert stored["email"] == "w@example.com"

        updated = await client.patch(f"{PATH}/{stored['id']}", json={"name": "Stored"})
        assert updated.status_code == 500
        assert app.state.store.get(stored["id"])["name"] == "Stored"

        read = await client.get(f"{PATH}/{stored['id']}")
        assert read.status_code == 200  # reads are not writes

        duplicate = await client.post(PATH, json={"inbox_id": 1, "email": "w@example.com"})
        assert duplicate.status_code == 422  # nothing was written: the answer stands
        assert app.state.store.count() == 1


async def test_a_dropped_connection_is_a_protocol_error_on_a_real_socket(
    sandbox_options: SandboxOptions, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes = []
    options = replace(sandbox_options, fault_rate=0.6, fault_seed=7)
    with caplog.at_level(logging.WARNING), start_in_thread(options) as running:
        async with httpx.AsyncClient(base_url=running.base_url, auth=AUTH) as client:
            for _ in range(30):
                try:
                    outcomes.append(_outcome(await client.get(PATH)))
                except httpx.RemoteProtocolError:
                    outcomes.append("dropped")
    assert set(outcomes) == {"200", "html", "empty", "dropped"}
    assert "200" in outcomes[outcomes.index("dropped") :]  # the client recovers
    assert not [record for record in caplog.records if record.exc_info]


async def test_refused_requests_count_against_the_rate_limit(faulty: ClientFactory) -> None:
    async with faulty(rate_limit=2) as (client, app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
            assert [(await anonymous.get(PATH)).status_code for _ in range(3)] == [401, 401, 429]
        await asyncio.sleep(0.55)
        assert (await create(client, email="ok@example.com"))["email"] == "ok@example.com"


CHATWOOT_PATH = "/api/v1/accounts/1/contacts"
CHATWOOT_TOKEN = {"api_access_token": "sandbox-token"}


async def test_chatwoot_counts_its_rate_limit_in_fixed_windows(faulty: ClientFactory) -> None:
    # 5 a second over windows of 0.4 s: 2 a window, all at once, then nothing until the next.
    async with faulty(rate_limit=5, rate_window=0.4) as (client, _):
        window = 0.4
        await asyncio.sleep(window - time.time() % window + 0.01)  # the start of a window
        statuses = [
            (await client.get(CHATWOOT_PATH, headers=CHATWOOT_TOKEN)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 429, 429]
        await asyncio.sleep(window - time.time() % window + 0.01)
        assert (await client.get(CHATWOOT_PATH, headers=CHATWOOT_TOKEN)).status_code == 200


async def test_chatwoot_500s_are_json(faulty: ClientFactory) -> None:
    async with faulty(fault_rate=1.0, fault_seed=1) as (client, _):
        bodies = {
            (await client.get(CHATWOOT_PATH, headers=CHATWOOT_TOKEN)).content for _ in range(30)
        }
    # In-process a dropped connection is a 500 with an empty body; the others are JSON.
    assert bodies == {b'{"status":500,"error":"Internal Server Error"}', b""}
