"""The client against the sandbox, over HTTP: operations, paging, search, errors, retries."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.errors import (
    ApiError,
    AuthenticationError,
    HTTPStatusError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnprocessableError,
)
from reconciler.model import JSON
from reconciler.sandbox.server import RunningSandbox, SandboxOptions
from reconciler.targets.livedesk import Credentials, LiveDeskClient, RetryPolicy

BASE_URL = "http://127.0.0.1"
SANDBOX = Credentials("sandbox", "sandbox")
FAST = RetryPolicy(attempts=4, timeout=10.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)

pytestmark = pytest.mark.anyio


def client_for(app: ASGIApp, **options: Any) -> LiveDeskClient:
    options.setdefault("retry", FAST)
    credentials = options.pop("credentials", SANDBOX)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return LiveDeskClient(BASE_URL, credentials, transport=transport, **options)


def person(n: int, **fields: JSON) -> dict[str, JSON]:
    body: dict[str, JSON] = {
        "inbox_id": 1,
        "name": f"Person {n}",
        "identifier": f"person-{n:03d}",
        "email": f"person{n}@example.com",
    }
    return {**body, **fields}


class Scripted:
    """Answers the requests ``when`` picks from ``script`` (None: pass on), then passes on.

    Records each request's method, path and start time.
    """

    def __init__(
        self,
        app: ASGIApp,
        *script: Response | None,
        when: Callable[[Scope], bool] = lambda scope: True,
        delay: float = 0.0,
    ) -> None:
        self.app = app
        self.script = list(script)
        self.when = when
        self.delay = delay
        self.requests: list[tuple[str, str, float]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests.append((scope["method"], scope["path"], time.monotonic()))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.script and self.when(scope):
                answer = self.script.pop(0)
                if answer is not None:
                    await answer(scope, receive, send)
                    return
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def gaps(self) -> list[float]:
        starts = [started for _, _, started in self.requests]
        return [later - earlier for earlier, later in itertools.pairwise(starts)]


def rewriting(app: ASGIApp, rewrite: Callable[[Scope, Any], Any]) -> ASGIApp:
    """Passes requests on, and edits each JSON answer with ``rewrite(scope, document)``."""

    async def rewritten(scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = json.dumps(rewrite(scope, json.loads(b"".join(chunks)))).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, keep)

    return rewritten


def error_response(status: int, document: JSON) -> Response:
    return Response(json.dumps(document), status, media_type="application/json")


def is_post(scope: Scope) -> bool:
    return bool(scope["method"] == "POST")


async def raised(awaitable: Awaitable[object]) -> ApiError:
    """The ApiError that awaiting raises."""
    try:
        await awaitable
    except ApiError as error:
        return error
    raise AssertionError("no ApiError was raised")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# Operations


async def test_create_get_update_round_trip(sandbox_app: ASGIApp) -> None:
    async with client_for(sandbox_app) as client:
        created = await client.create_contact(person(1, phone_number="+14155552671"))
        assert created["identifier"] == "person-001"
        assert created["phone_number"] == "+14155552671"
        fetched = await client.get_contact(created["id"])
        assert (fetched["id"], fetched["email"]) == (created["id"], "person1@example.com")
        updated = await client.update_contact(
            created["id"], {"name": "Ann", "custom_attributes": {"tier": 2}}
        )
        assert updated["name"] == "Ann"
        assert updated["custom_attributes"] == {"tier": 2}
        assert (await client.get_contact(created["id"]))["name"] == "Ann"
        assert client.request_count == 4


# Paging


async def seed(client: LiveDeskClient, count: int, **fields: JSON) -> list[JSON]:
    """Contacts created through the API."""
    return await asyncio.gather(*(client.create_contact(person(n, **fields)) for n in range(count)))


def seed_tied(app: ASGIApp, count: int, **fields: JSON) -> list[int]:
    """An import: one created_at for all."""
    store = cast(Starlette, app).state.store
    return [
        int(store.insert({**person(n, **fields), "created_at": 1_700_000_000})["id"])
        for n in range(count)
    ]


def seed_in_order(app: ASGIApp, count: int) -> list[int]:
    """Contacts stored with distinct created_at: the listing's order has no ties."""
    store = cast(Starlette, app).state.store
    return [
        int(store.insert({**person(n), "created_at": 1_700_000_000 + n})["id"])
        for n in range(count)
    ]


async def test_paging_100_contacts_without_ties_returns_each_exactly_once(
    sandbox_app: ASGIApp,
) -> None:
    created = seed_in_order(sandbox_app, 100)
    async with client_for(sandbox_app) as client:
        listed = await client.list_contacts()
        assert client.request_count == 7  # ceil(100 / 15) pages, no more
        assert sorted(contact["id"] for contact in listed) == created
        last_page, count = await client.list_page(7)
        assert (len(last_page), count) == (10, 100)
        assert await client.list_page(8) == ([], 100)


async def test_a_walk_over_ties_lists_each_contact_at_most_once_and_more_walks_find_the_rest(
    sandbox_app: ASGIApp,
) -> None:
    # No email, no phone number: every order the desk offers ties them all.
    created = sorted(seed_tied(sandbox_app, 100, email=None))
    async with client_for(sandbox_app) as client:
        one_walk = [contact["id"] for contact in await client.list_contacts()]
        assert len(one_walk) == len(set(one_walk)) and set(one_walk) <= set(created)
        assert len(one_walk) < 100  # ties hid some: a listing can't prove absence
        before = client.request_count
        walked = await client.list_contacts(walks=25)
        assert sorted(contact["id"] for contact in walked) == created
        assert client.request_count - before < 25 * 7  # it stops once all are seen


async def test_a_tied_import_is_walked_first_in_the_order_that_ties_least(
    sandbox_app: ASGIApp,
) -> None:
    created = sorted(seed_tied(sandbox_app, 100))  # one created_at, distinct emails
    async with client_for(sandbox_app) as client:
        walked = await client.list_contacts(walks=5)
        assert sorted(contact["id"] for contact in walked) == created
        assert client.request_count == 1 + 7  # page 1 by created_at, then one walk by email


async def test_contacts_created_one_by_one_are_walked_in_their_own_order(
    sandbox_app: ASGIApp,
) -> None:
    async with client_for(sandbox_app) as client:
        created = sorted(contact["id"] for contact in await seed(client, 100, email=None))
        before = client.request_count
        walked = await client.list_contacts(walks=5)
        assert sorted(contact["id"] for contact in walked) == created
        assert client.request_count - before == 7  # created_at ties on no page: one walk


async def test_paging_reuses_a_first_page_the_caller_already_has(sandbox_app: ASGIApp) -> None:
    seed_in_order(sandbox_app, 40)
    async with client_for(sandbox_app) as client:
        first_page = await client.list_page(1)
        before = client.request_count
        assert len(await client.list_contacts(first_page=first_page)) == 40
        assert client.request_count - before == 2


@pytest.mark.parametrize("as_int", [True, False])
async def test_current_page_may_be_a_string_or_an_int(sandbox_app: ASGIApp, as_int: bool) -> None:
    def retype(scope: Scope, document: Any) -> Any:
        page = document["meta"]["current_page"]
        document["meta"]["current_page"] = int(page) if as_int else str(page)
        return document

    seed_in_order(sandbox_app, 31)
    async with client_for(rewriting(sandbox_app, retype)) as client:
        assert len({contact["id"] for contact in await client.list_contacts()}) == 31


async def test_a_server_that_ignores_page_is_caught(sandbox_app: ASGIApp) -> None:
    def always_page_one(scope: Scope, document: Any) -> Any:
        document["meta"]["current_page"] = 1
        return document

    async with client_for(sandbox_app) as seeder:
        await seed(seeder, 20)
    async with client_for(rewriting(sandbox_app, always_page_one)) as client:
        with pytest.raises(InvalidResponseError, match="asked for page 2"):
            await client.list_contacts()


async def test_a_count_that_never_fills_stops_at_the_first_empty_page(
    sandbox_app: ASGIApp, caplog: pytest.LogCaptureFixture
) -> None:
    def overcount(scope: Scope, document: Any) -> Any:
        document["meta"]["count"] += 3
        return document

    caplog.set_level(logging.INFO)
    seed_in_order(sandbox_app, 30)
    async with client_for(rewriting(sandbox_app, overcount)) as client:
        listed = await client.list_contacts()
        assert len(listed) == 30
        assert client.request_count == 3  # pages 1-3 as counted: page 3 is empty, the end
    assert "counted 33 contacts but listed 30" in caplog.text


# Search


async def test_find_contacts_keeps_exact_matches_only(sandbox_app: ASGIApp) -> None:
    bodies = [
        {"identifier": "abc", "email": "ann@example.com", "phone_number": "+14155552671"},
        {"identifier": "ABC", "email": "xann@example.com", "phone_number": "+141555526710"},
        {"identifier": "xabcx", "email": "ann@example.co"},
        {"identifier": "a_c", "email": "a%b@example.com"},
        {"identifier": "zzz", "email": "axb@example.com"},
        {"identifier": "sp ace&k=v#f/é?+", "email": "ann+tag@example.com"},
    ]
    async with client_for(sandbox_app) as client:
        for body in bodies:
            await client.create_contact({"inbox_id": 1, "name": "Zed", **body})

        async def identifiers(**criteria: str) -> list[str]:
            return sorted(c["identifier"] for c in await client.find_contacts(**criteria))

        # The raw search is a substring match with LIKE wildcards: the trap being filtered.
        raw = {c["identifier"] for c in await client.search_contacts("a_c")}
        assert {"abc", "xabcx", "a_c"} <= raw
        assert await identifiers(identifier="a_c") == ["a_c"]
        assert await identifiers(identifier="abc") == ["abc"]
        assert await identifiers(identifier="ABC") == ["ABC"]
        assert await identifiers(email="ANN@Example.COM") == ["abc"]
        assert await identifiers(email="ann@example.co") == ["xabcx"]
        assert await identifiers(email="a%b@example.com") == ["a_c"]
        assert await identifiers(phone_number="+14155552671") == ["abc"]
        # Characters that mean something in a query string arrive as themselves.
        assert await identifiers(identifier="sp ace&k=v#f/é?+") == ["sp ace&k=v#f/é?+"]
        assert await identifiers(email="ann+tag@example.com") == ["sp ace&k=v#f/é?+"]
        assert await identifiers(identifier="abc", email="xann@example.com") == []
        assert await identifiers(email="nobody@example.com") == []
        with pytest.raises(ValueError, match="needs an identifier"):
            await client.find_contacts()


@pytest.mark.parametrize("identifier", ["bs\\path\\x", "100%_sure", "a_b", "50%"])
async def test_an_exact_lookup_finds_values_holding_the_search_wildcards(
    sandbox_app: ASGIApp, identifier: str
) -> None:
    async with client_for(sandbox_app) as client:
        wanted = await client.create_contact(person(1, identifier=identifier))
        await client.create_contact(person(2, identifier=f"x{identifier}"))  # a substring
        found = await client.find_contacts(identifier=identifier)
        assert [contact["id"] for contact in found] == [wanted["id"]]


async def test_search_reads_every_page(sandbox_app: ASGIApp) -> None:
    seed_in_order(sandbox_app, 20)
    async with client_for(sandbox_app) as client:
        before = client.request_count
        found = await client.search_contacts("person-0")
        assert len({contact["id"] for contact in found}) == 20
        assert client.request_count - before == 2


# Errors


async def test_not_found_carries_the_server_message(sandbox_app: ASGIApp) -> None:
    async with client_for(sandbox_app) as client:
        with pytest.raises(NotFoundError, match="Resource could not be found") as caught:
            await client.get_contact(999_999)
        assert caught.value.status == 404
        with pytest.raises(NotFoundError):
            await client.create_contact(person(1, inbox_id=999))
        assert client.request_count == 2  # a 404 is not retried
        assert await client.list_contacts() == []  # an unknown inbox creates nothing


async def test_unprocessable_carries_message_and_attributes(sandbox_app: ASGIApp) -> None:
    async with client_for(sandbox_app) as client:
        await client.create_contact(person(1))
        with pytest.raises(UnprocessableError) as taken:
            await client.create_contact(person(2, email="PERSON1@example.com"))
        assert taken.value.message == "Email has already been taken"
        assert taken.value.attributes == ("email",)
        with pytest.raises(UnprocessableError) as invalid:
            await client.create_contact(person(3, phone_number="+1 415 555 2671"))
        assert invalid.value.attributes == ("phone_number",)
        assert client.request_count == 3  # a 422 is not retried


async def test_wrong_credentials_say_which_variables_to_check(sandbox_app: ASGIApp) -> None:
    wrong = Credentials("sandbox", "not-the-secret")
    async with client_for(sandbox_app, credentials=wrong) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_page(1)
        assert "Invalid Access Token" in str(caught.value)
        assert "check LIVEDESK_API_KEY and LIVEDESK_API_SECRET" in str(caught.value)
        assert client.request_count == 1


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (
            Response(
                "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html"
            ),
            ServerError,
            "LiveDesk answered 502: an HTML page, no error message",
        ),
        (Response(b"", 503), ServerError, "LiveDesk answered 503: an empty body"),
        (error_response(500, {"error": "Internal failure"}), ServerError, "500: Internal failure"),
        (
            Response("Retry later", 429, media_type="text/plain"),
            RateLimitedError,
            "429: Retry later",
        ),
    ],
)
async def test_retried_failures_end_in_a_typed_error(
    sandbox_app: ASGIApp, answer: Response, error: type[ApiError], message: str
) -> None:
    failing = Scripted(sandbox_app, *[answer] * 10)
    async with client_for(failing) as client:
        with pytest.raises(error) as caught:
            await client.get_contact(1)
    assert message in str(caught.value)
    assert "<" not in str(caught.value)
    assert client.request_count == len(failing.requests) == FAST.attempts


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (
            Response("not json", 200, media_type="application/json"),
            InvalidResponseError,
            "not JSON",
        ),
        (Response("<html></html>", 200, media_type="text/html"), InvalidResponseError, "HTML page"),
        (error_response(200, {"payload": []}), InvalidResponseError, "not a contact object"),
        (error_response(200, {"data": {}}), InvalidResponseError, "no payload"),
        (error_response(400, {"errors": ["Bad", "request"]}), HTTPStatusError, "400: Bad; request"),
    ],
)
async def test_unusable_answers_fail_at_once(
    sandbox_app: ASGIApp, answer: Response, error: type[ApiError], message: str
) -> None:
    async with client_for(Scripted(sandbox_app, answer)) as client:
        with pytest.raises(error, match=message):
            await client.get_contact(1)
        assert client.request_count == 1


async def test_connection_refused_becomes_a_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with LiveDeskClient(url, SANDBOX, retry=FAST) as client:
        with pytest.raises(TransportError, match="the connection was refused"):
            await client.create_contact(person(1))
        # Refused is not transient: neither retried nor looked up (nothing was written).
        assert client.request_count == 1


class TestSlowServer:
    @pytest.fixture
    def sandbox_options(self, sandbox_options: SandboxOptions) -> SandboxOptions:
        return dataclasses.replace(sandbox_options, latency_ms=400)

    async def test_a_timeout_becomes_a_transport_error(self, live_sandbox: RunningSandbox) -> None:
        retry = dataclasses.replace(FAST, attempts=2)
        async with LiveDeskClient(
            live_sandbox.base_url, SANDBOX, timeout=0.1, retry=retry
        ) as client:
            with pytest.raises(TransportError, match=r"no answer from .* within 0.1 s"):
                await client.get_contact(1)
            assert client.request_count == 2


# Retries


async def test_retry_after_in_seconds_is_honoured(sandbox_app: ASGIApp) -> None:
    limited = Response("Retry later", 429, headers={"Retry-After": "1"}, media_type="text/plain")
    server = Scripted(sandbox_app, limited)
    async with client_for(server) as client:
        with pytest.raises(NotFoundError):
            await client.get_contact(1)
        assert client.request_count == 2
    assert 0.95 <= server.gaps()[0] < 2


async def test_a_long_retry_after_is_capped(sandbox_app: ASGIApp) -> None:
    unavailable = Response(b"", 503, headers={"Retry-After": "3600"})
    server = Scripted(sandbox_app, unavailable)
    async with client_for(server, retry=dataclasses.replace(FAST, retry_after_cap=0.2)) as client:
        with pytest.raises(NotFoundError):
            await client.get_contact(1)
    assert 0.19 <= server.gaps()[0] < 1


async def test_without_retry_after_the_waits_grow(sandbox_app: ASGIApp) -> None:
    limited = Response("Retry later", 429, media_type="text/plain")
    server = Scripted(sandbox_app, limited, limited, limited)
    retry = RetryPolicy(attempts=5, wait_initial=0.1, wait_max=1.0, wait_jitter=0.0)
    async with client_for(server, retry=retry) as client:
        with pytest.raises(NotFoundError):
            await client.get_contact(1)
        assert client.request_count == 4
    first, second, third = server.gaps()
    assert first >= 0.1
    assert second >= 0.2
    assert third >= 0.4


async def test_retries_stop_within_the_total_time(sandbox_app: ASGIApp) -> None:
    server = Scripted(sandbox_app, *[Response(b"", 500)] * 1000)
    retry = RetryPolicy(attempts=1000, timeout=0.3, wait_initial=0.05, wait_max=0.05, wait_jitter=0)
    started = time.monotonic()
    async with client_for(server, retry=retry) as client:
        with pytest.raises(ServerError):
            await client.get_contact(1)
    assert time.monotonic() - started < 2
    assert 3 <= client.request_count < 20


async def test_concurrency_is_bounded(sandbox_app: ASGIApp) -> None:
    server = Scripted(sandbox_app, delay=0.02)
    async with client_for(server, concurrency=4) as client:
        await asyncio.gather(*(client.list_page(1) for _ in range(24)))
    assert server.most_in_flight == 4


class CountingProxy:
    """A TCP proxy in front of the live sandbox that counts the connections it accepts."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


async def test_connections_are_bounded_and_kept_alive(live_sandbox: RunningSandbox) -> None:
    proxy = CountingProxy(int(live_sandbox.base_url.rsplit(":", 1)[1]))
    base_url = await proxy.start()
    async with LiveDeskClient(base_url, SANDBOX, concurrency=4, retry=FAST) as client:
        for _ in range(10):
            await client.list_page(1)
        one_at_a_time = proxy.connections
        for _ in range(5):
            await asyncio.gather(*(client.list_page(1) for _ in range(12)))
    proxy.server.close()
    assert one_at_a_time == 1  # requests one after another reuse one connection
    assert 1 < proxy.connections <= 4  # 60 requests, at most 4 at a time: 4 connections at most


async def test_the_rate_limit_spaces_requests(sandbox_app: ASGIApp) -> None:
    server = Scripted(sandbox_app)
    began = time.monotonic()
    async with client_for(server, rate_limit=50) as client:
        await asyncio.gather(*(client.list_page(1) for _ in range(11)))
    starts = sorted(started for _, _, started in server.requests)
    # The n-th request may start no sooner than n / 50 s in; a late wake-up only adds.
    assert all(started - began >= n * 0.02 - 0.001 for n, started in enumerate(starts))


# Creates are never duplicated


async def test_a_post_that_got_no_answer_is_looked_up_before_posting_again(
    sandbox_app: ASGIApp,
) -> None:
    server = Scripted(sandbox_app, Response(b"", 502), when=is_post)  # nothing was written
    async with client_for(server) as client:
        created = await client.create_contact(person(1))
        assert created["identifier"] == "person-001"
    assert [method for method, _, _ in server.requests] == ["POST", "GET", "POST"]


async def test_a_rate_limited_post_is_simply_retried(sandbox_app: ASGIApp) -> None:
    server = Scripted(sandbox_app, Response("Retry later", 429), when=is_post)
    async with client_for(server) as client:
        await client.create_contact(person(1))
    assert [method for method, _, _ in server.requests] == ["POST", "POST"]


async def test_an_ambiguous_post_with_nothing_to_look_up_is_not_repeated(
    sandbox_app: ASGIApp,
) -> None:
    server = Scripted(sandbox_app, Response(b"", 502), when=is_post)
    async with client_for(server) as client:
        with pytest.raises(ServerError, match="may have been created") as caught:
            await client.create_contact({"inbox_id": 1, "name": "Nameless"})
        assert caught.value.status == 502
        assert client.request_count == 1


class TestFailAfterWrite:
    @pytest.fixture
    def sandbox_options(self, sandbox_options: SandboxOptions) -> SandboxOptions:
        return dataclasses.replace(sandbox_options, fail_after_write=1.0, fault_seed=7)

    async def test_creates_are_never_duplicated(self, sandbox_app: ASGIApp) -> None:
        bodies = [person(n) for n in range(8)]
        bodies.append({"inbox_id": 1, "name": "Email only", "email": "Only@Example.com"})
        bodies.append({"inbox_id": 1, "name": "Phone only", "phone_number": "+4930123456"})
        async with client_for(sandbox_app) as client:
            created = await asyncio.gather(*(client.create_contact(body) for body in bodies))
            listed = await client.list_contacts()
        assert len({contact["id"] for contact in created}) == len(bodies)
        assert sorted(c["id"] for c in listed) == sorted(c["id"] for c in created)
        assert created[8]["email"] == "only@example.com"
        assert created[9]["phone_number"] == "+4930123456"


# The secret


SECRET = "s3cr3t-Zq9-never-shown"


class TestTheSecretNeverShows:
    @pytest.fixture
    def sandbox_options(self, sandbox_options: SandboxOptions) -> SandboxOptions:
        return dataclasses.replace(sandbox_options, api_key="reconciler", api_secret=SECRET)

    async def test_not_in_logs_output_exceptions_or_reprs(
        self,
        sandbox_app: ASGIApp,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG)
        credentials = Credentials("reconciler", SECRET)
        wrong = Credentials("reconciler", SECRET + "-wrong")
        server = Scripted(
            sandbox_app, None, None, None, Response("<html>", 500), Response(b"", 500)
        )
        async with client_for(server, credentials=credentials) as client:
            created = await client.create_contact(person(1))
            await client.update_contact(created["id"], {"name": "Renamed"})
            await client.find_contacts(email="person1@example.com")
            errors = [
                await raised(client.get_contact(999_999)),  # two 500s retried, then a 404
                await raised(client.create_contact(person(2, email="person1@example.com"))),
            ]
            shown = [repr(client), str(client), repr(credentials), str(credentials)]
        async with client_for(sandbox_app, credentials=wrong) as refused:
            errors.append(await raised(refused.list_contacts()))
            shown.append(repr(refused))
        closed_port = f"http://127.0.0.1:{free_port()}"
        async with LiveDeskClient(closed_port, credentials, retry=FAST) as gone:
            errors.append(await raised(gone.get_contact(1)))
        assert [type(error) for error in errors] == [
            NotFoundError,
            UnprocessableError,
            AuthenticationError,
            TransportError,
        ]
        for error in errors:
            chained: BaseException | None = error
            while chained is not None:
                shown += [str(chained), repr(chained), repr(chained.args)]
                chained = chained.__cause__ or chained.__context__
        records = [f"{record.getMessage()} {record.__dict__}" for record in caplog.records]
        assert any("stamina" in record for record in records)  # the retries were logged
        captured = capsys.readouterr()
        everything = "\n".join([*shown, *records, caplog.text, captured.out, captured.err])
        for leaked in (
            SECRET,
            base64.b64encode(f"reconciler:{SECRET}".encode()).decode(),
            base64.b64encode(f"reconciler:{SECRET}-wrong".encode()).decode(),
            "Authorization",
            "authorization",
            "Basic ",
        ):
            assert leaked not in everything


# 1,000 requests through faults


class TestUnderFaults:
    @pytest.fixture
    def sandbox_options(self, sandbox_options: SandboxOptions) -> SandboxOptions:
        return dataclasses.replace(
            sandbox_options, fault_rate=0.2, fail_after_write=0.1, rate_limit=200, fault_seed=2025
        )

    async def test_1000_mixed_requests_end_in_the_intended_state(
        self, live_sandbox: RunningSandbox
    ) -> None:
        creates, updated, gets = 300, 200, 300  # 300 + 2 * 200 + 300 = 1,000 operations
        retry = RetryPolicy(
            attempts=12, timeout=60, wait_initial=0.05, wait_max=0.5, wait_jitter=0.05
        )
        started = time.monotonic()
        async with LiveDeskClient(
            live_sandbox.base_url, SANDBOX, concurrency=8, rate_limit=200, retry=retry
        ) as client:
            created = await asyncio.gather(
                *(client.create_contact(person(n)) for n in range(creates))
            )
            ids = [contact["id"] for contact in created]

            async def update_twice(contact_id: int, n: int) -> None:
                await client.update_contact(contact_id, {"name": f"Renamed {n}"})
                await client.update_contact(contact_id, {"custom_attributes": {"round": n}})

            async def get(contact_id: int) -> None:
                assert (await client.get_contact(contact_id))["id"] == contact_id

            work = [update_twice(ids[n], n) for n in range(updated)]
            work += [get(random.Random(n).choice(ids)) for n in range(gets)]
            random.Random(0).shuffle(work)
            await asyncio.gather(*work)
            operations_sent = client.request_count
        listed = live_sandbox.app.state.store.all()  # every contact, listed or not
        elapsed = time.monotonic() - started
        print(f"1,000 operations: {operations_sent} HTTP requests, {elapsed:.1f} s")

        assert len(listed) == creates  # no duplicate contact
        assert sorted(contact["identifier"] for contact in listed) == [
            f"person-{n:03d}" for n in range(creates)
        ]
        by_identifier = {contact["identifier"]: contact for contact in listed}
        for n in range(creates):
            contact = by_identifier[f"person-{n:03d}"]
            assert contact["id"] == ids[n]
            assert contact["email"] == f"person{n}@example.com"
            if n < updated:
                assert contact["name"] == f"Renamed {n}"
                assert contact["custom_attributes"] == {"round": n}
            else:
                assert contact["name"] == f"Person {n}"
                assert contact["custom_attributes"] == {}
        assert operations_sent > 1100  # the faults were there, and were retried


async def test_a_count_of_a_billion_is_walked_only_as_far_as_pages_hold_contacts(
    sandbox_app: ASGIApp,
) -> None:
    def billion(scope: Scope, document: Any) -> Any:
        document["meta"]["count"] = 10**9
        return document

    seed_in_order(sandbox_app, 40)
    async with client_for(rewriting(sandbox_app, billion)) as client:
        listed = await client.list_contacts()
        assert len(listed) == 40
        assert client.request_count <= 4 + 2 * client.concurrency  # not 66 million


async def test_pages_that_repeat_end_the_walk_with_a_clear_error(sandbox_app: ASGIApp) -> None:
    def always_page_one(scope: Scope, document: Any) -> Any:
        document["meta"]["count"] = 10**9
        document["meta"]["current_page"] = scope["_asked"].rsplit("page=", 1)[1]
        return document

    seed_in_order(sandbox_app, 15)
    app = rewriting(sandbox_app, always_page_one)

    async def same_first_page(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope["query_string"].decode()
            first = (query.rsplit("page=", 1)[0] + "page=1").encode()
            scope = {**scope, "query_string": first, "_asked": query}  # every page is page 1
        await app(scope, receive, send)

    async with client_for(same_first_page) as client:
        with pytest.raises(InvalidResponseError, match="repeats itself: 20 pages in a row"):
            await client.list_contacts()
        assert client.request_count < 40


async def test_walks_after_the_first_may_repeat_the_counted_pages(sandbox_app: ASGIApp) -> None:
    # Ties hid one contact from the first walk: the second reads all 40 pages again, and
    # nearly all of them hold only contacts seen already. That is no fault.
    hidden = {"left": 1}

    def hide_contact_5_once(scope: Scope, document: Any) -> Any:
        kept = [contact for contact in document["payload"] if contact["id"] != 5]
        if len(kept) < len(document["payload"]) and hidden["left"]:
            hidden["left"] -= 1
            document["payload"] = kept
        return document

    seed_in_order(sandbox_app, 600)
    async with client_for(rewriting(sandbox_app, hide_contact_5_once)) as client:
        listed = await client.list_contacts(walks=5)
    assert len(listed) == 600
