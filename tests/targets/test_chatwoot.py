"""The Chatwoot client against the sandbox's Chatwoot face, over HTTP: batched exact lookups,
one-POST creates, the version and the account read on opening, the search's own pace, and
plain http only when the settings opt in."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.errors import AuthenticationError, ConfigError, NotFoundError, RateLimitedError
from reconciler.input.settings import default_settings
from reconciler.model import ContactKey
from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import SandboxOptions
from reconciler.targets.chatwoot import (
    CAPABILITIES,
    Chatwoot,
    ChatwootClient,
    Token,
    capabilities_for,
)
from reconciler.targets.livedesk import CAPABILITIES as LIVEDESK_CAPABILITIES
from reconciler.targets.livedesk import RetryPolicy

BASE_URL = "http://127.0.0.1"
FAST = RetryPolicy(attempts=4, timeout=10.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
ONCE = RetryPolicy(attempts=1)
OPENING_REQUESTS = 2  # GET /api and GET /api/v1/profile

pytestmark = pytest.mark.anyio


def client_for(app: ASGIApp, *, account_id: int = 1, **options: Any) -> ChatwootClient:
    options.setdefault("retry", FAST)
    token = Token(options.pop("token", "sandbox-token"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return ChatwootClient(BASE_URL, token, account_id, transport=transport, **options)


@pytest.fixture
async def app(sandbox_options: SandboxOptions) -> AsyncIterator[Starlette]:
    application = create_app(sandbox_options)
    yield application
    application.state.store.close()


def seed(app: Starlette, *contacts: dict[str, Any]) -> list[int]:
    return [int(app.state.store.insert(contact)["id"]) for contact in contacts]


class Counting:
    """Passes every request on and counts them by method and path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


async def test_lookups_ask_for_fifteen_keys_a_request_and_match_exactly(app: Starlette) -> None:
    ids = seed(app, *({"identifier": f"k-{n}", "name": f"K{n}"} for n in range(30)))
    seed(app, {"email": "mail@example.com", "name": "By mail"})
    keys = [ContactKey("identifier", f"k-{n}") for n in range(30)]
    keys += [ContactKey("identifier", f"absent-{n}") for n in range(9)]
    keys += [ContactKey("email", "mail@example.com")]
    counting = Counting(app)
    async with client_for(counting) as client:
        found = await client.lookup(keys)
    filters = [request for request in counting.requests if request.endswith("/filter")]
    assert len(filters) == 3  # 40 keys, 15 a request
    assert [contact["id"] if contact else None for contact in found[:30]] == ids
    assert found[30:39] == [None] * 9
    assert found[39] is not None and found[39]["name"] == "By mail"


async def test_lookups_stay_exact_when_ties_spread_matches_over_pages(app: Starlette) -> None:
    # Each key matches two contacts (the filter ignores case): 30 matches, two pages whose
    # order changes with every request, as PostgreSQL's can.
    for n in range(15):
        seed(app, {"identifier": f"t-{n}"}, {"identifier": f"T-{n}"})
    keys = [ContactKey("identifier", f"T-{n}") for n in range(15)]
    async with client_for(app) as client:
        for _ in range(5):
            found = await client.lookup(keys)
            assert [contact and contact["identifier"] for contact in found] == [
                f"T-{n}" for n in range(15)
            ]


async def test_find_contacts_joins_its_criteria_with_and(app: Starlette) -> None:
    (both,) = seed(app, {"identifier": "ada", "email": "ada@example.com"})
    seed(app, {"identifier": "ada-2", "email": "other@example.com"})
    seed(app, {"identifier": "ADA", "email": "upper@example.com"})  # the filter ignores case
    async with client_for(app) as client:
        found = await client.find_contacts(identifier="ada", email="ADA@example.com")
        assert [contact["id"] for contact in found] == [both]
        assert [c["id"] for c in await client.find_contacts(identifier="ada")] == [both]
        assert await client.find_contacts(identifier="ada", email="other@example.com") == []


async def test_a_create_is_one_post_with_every_field_and_no_inbox(app: Starlette) -> None:
    counting = Counting(app)
    async with client_for(counting) as client:
        created = await client.create_contact(
            {
                "name": "Ada",
                "identifier": "ada",
                "blocked": True,
                "custom_attributes": {"tier": "gold"},
                "additional_attributes": {"city": "London"},
            }
        )
    assert counting.requests[OPENING_REQUESTS:] == ["POST /api/v1/accounts/1/contacts"]
    assert created["blocked"] is True
    assert created["custom_attributes"] == {"tier": "gold"}
    assert created["additional_attributes"] == {"city": "London"}
    assert client.capabilities.create_needs_inbox is False


async def test_opening_reads_the_version_and_an_old_one_names_what_it_lacks(
    sandbox_options: SandboxOptions,
) -> None:
    old = create_app(dataclasses.replace(sandbox_options, version="3.6.0"))
    try:
        async with client_for(old) as client:
            assert client.version == "3.6.0"
            why = client.capabilities.why_unsupported("blocked")
            assert why is not None
            assert "Chatwoot 3.6.0" in why and "3.7.0" in why
    finally:
        old.state.store.close()


@pytest.mark.parametrize(
    ("version", "why"),
    [
        ("3.6.0", "has no `blocked` on contacts (it came in 3.7.0)"),
        (
            "3.7.0",
            "stores `blocked` but never shows it on a contact (versions 3.7.0 to before 4.0.2)",
        ),
        ("4.0.1", "upgrade Chatwoot to 4.0.2 or later, or remove `blocked` from the files"),
        ("4.0.2", None),
        ("4.10.0", None),
    ],
)
def test_blocked_is_kept_only_where_a_plan_can_read_it(version: str, why: str | None) -> None:
    said = capabilities_for(version, "https://desk.example").why_unsupported("blocked")
    assert said == why if why is None else why in (said or "")


async def test_a_version_that_cant_be_read_is_taken_as_current(app: Starlette) -> None:
    async def hidden(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api":
            await Response("<html>not here</html>", 404, media_type="text/html")(
                scope, receive, send
            )
            return
        await app(scope, receive, send)

    async with client_for(hidden) as client:
        assert client.version is None
        assert client.capabilities.unsupported == ()


async def test_an_account_the_token_cant_reach_is_named_on_opening(app: Starlette) -> None:
    with pytest.raises(AuthenticationError, match="not a member of Chatwoot account 2") as error:
        async with client_for(app, account_id=2):
            pass
    assert "its accounts: 1" in str(error.value)
    assert "sandbox-token" not in str(error.value)


async def test_a_bot_token_is_refused_with_chatwoots_reason(app: Starlette) -> None:
    with pytest.raises(AuthenticationError, match="not authorized for bots") as error:
        async with client_for(app, token="sandbox-bot-token"):
            pass
    assert "CHATWOOT_API_TOKEN" in str(error.value)
    assert "sandbox-bot-token" not in str(error.value)


@pytest.mark.parametrize("paced", [True, False], ids=["paced", "unpaced"])
async def test_searches_keep_to_the_search_limit(
    sandbox_options: SandboxOptions, paced: bool
) -> None:
    # The server allows 4 searches a second, in fixed windows; the search needs 6 pages.
    tight = create_app(dataclasses.replace(sandbox_options, search_limit=4, rate_window=1.0))
    try:
        for n in range(90):
            tight.state.store.insert({"email": f"match{n}@example.com", "created_at": 10**9 + n})
        per_minute = 180 if paced else 100_000
        async with client_for(tight, retry=ONCE, search_per_minute=per_minute) as client:
            if paced:
                found = await client.search_contacts("example")
                assert len(found) == 90
            else:  # the test can fail: without the pace, the server refuses
                with pytest.raises(RateLimitedError):
                    await client.search_contacts("example")
    finally:
        tight.state.store.close()


def chatwoot_at(base_url: str, **settings: Any) -> Chatwoot:
    configured = dataclasses.replace(
        default_settings(), target="chatwoot", account_id=3, **settings
    )
    environ = {"CHATWOOT_API_TOKEN": "t", "CHATWOOT_BASE_URL": base_url}
    return Chatwoot.from_environment(configured, environ)


def test_plain_http_off_the_machine_needs_the_settings_to_opt_in() -> None:
    with pytest.raises(ConfigError, match="allow_plain_http: true"):
        chatwoot_at("http://10.0.0.5:3000")  # refused before anything names the address
    allowed = chatwoot_at("http://10.0.0.5:3000", allow_plain_http=True)
    assert allowed.client().base_url == "http://10.0.0.5:3000"
    assert allowed.cleartext
    assert not chatwoot_at("http://127.0.0.1:3000").cleartext
    assert not chatwoot_at("https://chat.example.com", allow_plain_http=True).cleartext


def test_the_plan_records_the_account_and_the_address() -> None:
    identity = chatwoot_at("https://chat.example.com/").identity
    assert (identity.kind, identity.endpoint, identity.account) == (
        "chatwoot",
        "https://chat.example.com",
        "3",
    )
    assert str(identity) == "chatwoot at https://chat.example.com (account 3)"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CHATWOOT_BASE_URL": "https://chat.example.com"}, "CHATWOOT_API_TOKEN is not set"),
        ({"CHATWOOT_API_TOKEN": "t"}, "needs the desk's address"),
    ],
)
def test_what_is_missing_is_named(environ: dict[str, str], message: str) -> None:
    configured = dataclasses.replace(default_settings(), target="chatwoot", account_id=3)
    with pytest.raises(ConfigError, match=message):
        Chatwoot.from_environment(configured, environ)


async def test_labels_attribute_keys_and_delete_through_the_client(app: Starlette) -> None:
    (contact_id,) = seed(app, {"email": "ada@example.com", "custom_attributes": {"a": 1, "b": 2}})
    async with client_for(app) as client:
        assert await client.get_labels(contact_id) == []
        assert await client.set_labels(contact_id, ["vip", "partner"]) == ["vip", "partner"]
        assert await client.get_labels(contact_id) == ["vip", "partner"]
        kept = await client.remove_attributes(contact_id, ["a"])
        assert kept["custom_attributes"] == {"b": 2}
        await client.delete_contact(contact_id)
        with pytest.raises(NotFoundError):
            await client.delete_contact(contact_id)
    assert app.state.store.get(contact_id) is None


async def test_the_livedesk_client_never_claims_what_it_cant_do() -> None:
    capabilities = LIVEDESK_CAPABILITIES
    assert not (capabilities.writes_labels or capabilities.removes_attributes)
    assert not capabilities.deletes
    assert capabilities.why_unsupported("labels") is not None
    assert CAPABILITIES.writes_labels and CAPABILITIES.deletes and CAPABILITIES.removes_attributes


class DefaultNginx:
    """A reverse proxy as nginx is by default: request headers with underscores dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if b"_" not in k]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


async def test_the_token_reaches_chatwoot_behind_a_default_nginx(app: Starlette) -> None:
    seed(app, {"identifier": "ada"})
    async with client_for(DefaultNginx(app)) as client:  # opening reads the profile: a 401
        found = await client.lookup([ContactKey("identifier", "ada")])
    assert found[0] is not None


async def test_the_sandbox_reads_the_token_under_either_spelling(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as raw:
        for header in ("api-access-token", "api_access_token"):
            answer = await raw.get("/api/v1/profile", headers={header: "sandbox-token"})
            assert answer.status_code == 200, header
        refused = await raw.get("/api/v1/profile", headers={"api-access-token": "wrong"})
        assert refused.status_code == 401
