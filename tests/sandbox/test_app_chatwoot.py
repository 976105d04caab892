"""The sandbox's Chatwoot face, request by request, as ../shared/chatwoot-api.md says Chatwoot
answers: its auth and refusals, /api and /profile, the filter, the search and its throttle,
creates with every field and no inbox, the six-key inbox, and what an old version lacks."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import SandboxOptions

BASE_URL = "http://127.0.0.1"
PATH = "/api/v1/accounts/1/contacts"
TOKEN = {"api_access_token": "sandbox-token"}

pytestmark = pytest.mark.anyio


async def client_of(options: SandboxOptions) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(options)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=TOKEN
        ) as client:
            yield client
    finally:
        app.state.store.close()


@pytest.fixture
async def chatwoot(sandbox_options: SandboxOptions) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_of(sandbox_options):
        yield client


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(PATH, json=fields)
    assert response.status_code == 200, response.text
    contact: dict[str, Any] = response.json()["payload"]["contact"]
    return contact


def equal(key: str, value: Any, joined_by: str | None = None) -> dict[str, Any]:
    return {
        "attribute_key": key,
        "filter_operator": "equal_to",
        "values": [value],
        "query_operator": joined_by,
    }


@pytest.mark.parametrize(
    ("headers", "path", "message"),
    [
        ({}, PATH, None),
        ({"api_access_token": "wrong"}, PATH, "Invalid Access Token"),
        (
            {"api_access_token": "sandbox-bot-token"},
            PATH,
            "Access to this endpoint is not authorized for bots",
        ),
        (TOKEN, "/api/v1/accounts/2/contacts", "You are not authorized to access this account"),
        ({"authorization": "Basic c2FuZGJveDpzYW5kYm94"}, PATH, None),  # LiveDesk's, not here
    ],
)
async def test_refusals_are_chatwoots_401s(
    chatwoot: httpx.AsyncClient, headers: dict[str, str], path: str, message: str | None
) -> None:
    response = await chatwoot.get(path, headers={"api_access_token": "", **headers})
    assert response.status_code == 401
    if message is None:
        assert response.json() == {"errors": ["You need to sign in or sign up before continuing."]}
    else:
        assert response.json() == {"error": message}


async def test_api_tells_the_version_without_auth(sandbox_options: SandboxOptions) -> None:
    old = dataclasses.replace(sandbox_options, version="3.6.0")
    async for client in client_of(old):
        response = await client.get("/api", headers={"api_access_token": ""})
        assert response.status_code == 200
        assert response.json()["version"] == "3.6.0"


async def test_the_profile_lists_the_account_and_echoes_the_token(
    chatwoot: httpx.AsyncClient,
) -> None:
    profile = (await chatwoot.get("/api/v1/profile")).json()
    assert profile["access_token"] == "sandbox-token"  # a trap: a client must never show it
    assert [(a["id"], a["role"]) for a in profile["accounts"]] == [(1, "administrator")]
    bot = await chatwoot.get("/api/v1/profile", headers={"api_access_token": "sandbox-bot-token"})
    assert bot.status_code == 401


async def test_a_create_sets_every_field_in_one_post_with_no_inbox(
    chatwoot: httpx.AsyncClient,
) -> None:
    response = await chatwoot.post(
        PATH,
        json={
            "name": "Ada",
            "email": "Ada@Example.com",
            "identifier": "ada",
            "blocked": True,
            "custom_attributes": {"tier": "gold"},
            "additional_attributes": {"city": "London"},
        },
    )
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert payload["contact_inbox"] == {"inbox": None, "source_id": None}
    contact = payload["contact"]
    assert contact["email"] == "ada@example.com"
    assert contact["blocked"] is True
    assert contact["custom_attributes"] == {"tier": "gold"}
    assert contact["additional_attributes"] == {"city": "London"}
    assert contact["contact_inboxes"] == []


async def test_contact_inboxes_carry_six_keys(chatwoot: httpx.AsyncClient) -> None:
    created = await create(chatwoot, name="In inbox", email="in@example.com", inbox_id=1)
    (contact_inbox,) = created["contact_inboxes"]
    assert set(contact_inbox["inbox"]) == {
        "id",
        "avatar_url",
        "channel_id",
        "name",
        "channel_type",
        "provider",
    }


async def test_the_list_ignores_q_and_search_has_its_own_path(
    chatwoot: httpx.AsyncClient,
) -> None:
    await create(chatwoot, name="Ada", email="ada@example.com")
    await create(chatwoot, name="Bob", email="bob@example.com")
    listed = (await chatwoot.get(PATH, params={"q": "ada"})).json()
    assert listed["meta"]["count"] == 2
    found = (await chatwoot.get(PATH + "/search", params={"q": "ada"})).json()
    assert [contact["name"] for contact in found["payload"]] == ["Ada"]
    blank = await chatwoot.get(PATH + "/search", params={"q": " "})
    assert blank.status_code == 200
    assert blank.json()["meta"]["count"] is None


async def test_search_is_throttled_per_window(sandbox_options: SandboxOptions) -> None:
    tight = dataclasses.replace(sandbox_options, search_limit=3, rate_window=60.0)
    async for client in client_of(tight):
        statuses = [
            (await client.get(PATH + "/search", params={"q": "x"})).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await client.get(PATH + "/search", params={"q": "x"})
        assert (refused.text, refused.headers["content-type"].split(";")[0]) == (
            "Retry later",
            "text/plain",
        )
        assert "retry-after" not in refused.headers
        assert (await client.get(PATH)).status_code == 200  # the listing is not throttled


async def test_the_filter_compares_as_chatwoot_does(chatwoot: httpx.AsyncClient) -> None:
    upper = await create(chatwoot, identifier="ABC", email="upper@example.com")
    lower = await create(chatwoot, identifier="abc", email="lower@example.com")
    phone = await create(chatwoot, phone_number="+14155550101", name="Phone")

    async def ids(*conditions: dict[str, Any]) -> list[int]:
        response = await chatwoot.post(PATH + "/filter", json={"payload": list(conditions)})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"]["count"] == len(body["payload"])
        return sorted(contact["id"] for contact in body["payload"])

    # identifier and email case-insensitively; phone with its + put back
    assert await ids(equal("identifier", "abc")) == sorted([upper["id"], lower["id"]])
    assert await ids(equal("email", "UPPER@example.com")) == [upper["id"]]
    assert await ids(equal("phone_number", "14155550101")) == [phone["id"]]
    # several keys a request, joined by or
    assert await ids(
        equal("email", "lower@example.com", "or"), equal("phone_number", "+14155550101")
    ) == sorted([lower["id"], phone["id"]])
    # only the first of the values counts
    values = {**equal("email", "upper@example.com"), "values": ["upper@example.com", "x@y.z"]}
    assert await ids(values) == [upper["id"]]
    # and binds tighter than or
    assert await ids(
        equal("identifier", "abc", "and"),
        equal("email", "upper@example.com", "or"),
        equal("phone_number", "+14155550101"),
    ) == sorted([upper["id"], phone["id"]])


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ([equal("colour", "red")], 422, "Invalid attribute key - [colour]"),
        (
            [{**equal("identifier", "a"), "filter_operator": "contains"}],
            422,
            "Invalid operator",
        ),
        ([{**equal("email", "a@b.c"), "values": []}], 422, "Invalid value"),
        ([equal("email", "a@b.c", "xor")], 422, "Invalid query operator"),
        ([equal("email", "a@b.c", "or")], 500, "Internal Server Error"),  # a dangling OR
        ([equal("email", "a@b.c"), equal("email", "d@e.f")], 500, "Internal Server Error"),
    ],
)
async def test_a_filter_chatwoot_cant_read_is_refused_in_its_shape(
    chatwoot: httpx.AsyncClient, payload: list[dict[str, Any]], status: int, error: str
) -> None:
    response = await chatwoot.post(PATH + "/filter", json={"payload": payload})
    assert response.status_code == status
    assert error in response.json()["error"]


async def test_an_old_version_has_no_blocked(sandbox_options: SandboxOptions) -> None:
    old = dataclasses.replace(sandbox_options, version="3.6.0")
    async for client in client_of(old):
        contact = await create(client, name="Old", email="old@example.com", blocked=True)
        assert "blocked" not in contact
        response = await client.patch(f"{PATH}/{contact['id']}", json={"blocked": True})
        assert "blocked" not in response.json()["payload"]
        livedesk = await client.get(
            f"/api/v2/accounts/contacts/{contact['id']}", auth=("sandbox", "sandbox")
        )
        assert livedesk.json()["payload"]["blocked"] is False  # dropped, never stored


@pytest.mark.parametrize(
    ("version", "shown"), [("3.7.0", False), ("4.0.1", False), ("4.0.2", True)]
)
async def test_blocked_is_written_from_3_7_0_and_shown_from_4_0_2(
    sandbox_options: SandboxOptions, version: str, shown: bool
) -> None:
    async for client in client_of(dataclasses.replace(sandbox_options, version=version)):
        contact = await create(client, name="Mid", email="mid@example.com", blocked=True)
        response = await client.patch(f"{PATH}/{contact['id']}", json={"name": "Mid II"})
        listed = (await client.get(PATH)).json()["payload"]
        for seen in (contact, response.json()["payload"], *listed):
            assert ("blocked" in seen) is shown
        livedesk = await client.get(
            f"/api/v2/accounts/contacts/{contact['id']}", auth=("sandbox", "sandbox")
        )
        assert livedesk.json()["payload"]["blocked"] is True  # stored all the same


async def test_both_faces_share_one_store(chatwoot: httpx.AsyncClient, tmp_path: Path) -> None:
    created = await create(chatwoot, name="Shared", email="shared@example.com")
    response = await chatwoot.get(
        f"/api/v2/accounts/contacts/{created['id']}", auth=("sandbox", "sandbox")
    )
    assert response.json()["payload"]["email"] == "shared@example.com"


async def test_labels_are_read_and_replaced_whole(chatwoot: httpx.AsyncClient) -> None:
    contact = await create(chatwoot, name="Ada", email="ada@example.com")
    path = f"{PATH}/{contact['id']}/labels"
    assert (await chatwoot.get(path)).json() == {"payload": []}
    replaced = await chatwoot.post(path, json={"labels": ["vip", " partner ", "VIP", ""]})
    assert replaced.json() == {"payload": ["vip", "partner"]}  # stripped, once each
    assert (await chatwoot.post(path, json={"labels": ["trial"]})).json() == {"payload": ["trial"]}
    assert "labels" not in (await chatwoot.get(f"{PATH}/{contact['id']}")).json()["payload"]
    assert (await chatwoot.get(f"{PATH}/999/labels")).status_code == 404


async def test_destroy_custom_attributes_deletes_keys(chatwoot: httpx.AsyncClient) -> None:
    contact = await create(
        chatwoot, email="ada@example.com", custom_attributes={"a": 1, "b": 2, "c": 3}
    )
    response = await chatwoot.post(
        f"{PATH}/{contact['id']}/destroy_custom_attributes", json={"custom_attributes": ["a", "c"]}
    )
    assert response.json()["payload"]["custom_attributes"] == {"b": 2}
    # A PATCH can't do it: null stays a value.
    patched = await chatwoot.patch(
        f"{PATH}/{contact['id']}", json={"custom_attributes": {"b": None}}
    )
    assert patched.json()["payload"]["custom_attributes"] == {"b": None}


async def test_delete_refuses_an_online_contact_and_then_is_404(
    sandbox_options: SandboxOptions,
) -> None:
    app = create_app(sandbox_options)
    online = app.state.store.insert(
        {"name": "ada", "email": "on@example.com", "availability_status": "online"}
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=TOKEN) as client:
        refused = await client.delete(f"{PATH}/{online['id']}")
        assert (refused.status_code, refused.json()) == (
            422,
            {"message": "Ada is Online, please try again later"},
        )
    app.state.store.close()
    async for chatwoot in client_of(dataclasses.replace(sandbox_options, db=":memory:")):
        await delete_twice(chatwoot)


async def delete_twice(chatwoot: httpx.AsyncClient) -> None:
    offline = await create(chatwoot, name="Off", email="off@example.com")
    assert (await chatwoot.delete(f"{PATH}/{offline['id']}")).status_code == 200
    assert (await chatwoot.delete(f"{PATH}/{offline['id']}")).status_code == 404
    assert (await chatwoot.get(f"{PATH}/{offline['id']}")).status_code == 404


async def test_uniqueness_is_checked_on_update_with_rails_body(chatwoot: httpx.AsyncClient) -> None:
    await create(chatwoot, email="a@example.com", identifier="a", phone_number="+4711111111")
    other = await create(chatwoot, email="b@example.com")
    response = await chatwoot.patch(
        f"{PATH}/{other['id']}", json={"identifier": "a", "phone_number": "+4711111111"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "message": "Identifier has already been taken, Phone number has already been taken",
        "attributes": ["identifier", "phone_number"],
    }


async def test_the_filter_finds_an_email_by_the_desks_fold(chatwoot: httpx.AsyncClient) -> None:
    made = await create(chatwoot, email="\u03a3\u039f\u03a6\u0399\u0391\u03a3@example.gr")
    response = await chatwoot.post(
        f"{PATH}/filter",
        json={"payload": [equal("email", "\u03c3\u03bf\u03c6\u03b9\u03b1\u03c3@EXAMPLE.gr")]},
    )
    assert [contact["id"] for contact in response.json()["payload"]] == [made["id"]]


async def test_a_contacts_conversations_are_the_latest_twenty(
    chatwoot: httpx.AsyncClient, sandbox_options: SandboxOptions
) -> None:
    made = await create(chatwoot, email="talks@example.com")
    app = create_app(sandbox_options)  # the same database: seed its conversations there
    store = app.state.store
    record = store.get(made["id"])
    conversations = [{"id": n, "last_activity_at": 1_700_000_000 + n} for n in range(25)]
    store.replace({**record, "conversations": conversations})
    store.close()

    response = await chatwoot.get(f"{PATH}/{made['id']}/conversations")

    assert response.status_code == 200
    listed = response.json()["payload"]
    assert [item["id"] for item in listed] == list(range(24, 4, -1))
    assert {item["contact_id"] for item in listed} == {made["id"]}
    assert (await chatwoot.get(f"{PATH}/999999/conversations")).status_code == 404


async def test_a_write_that_changes_nothing_is_a_200(chatwoot: httpx.AsyncClient) -> None:
    made = await create(chatwoot, email="same@example.com", custom_attributes={"a": 1})
    labels = f"{PATH}/{made['id']}/labels"
    assert (await chatwoot.post(labels, json={"labels": ["vip"]})).status_code == 200
    again = await chatwoot.post(labels, json={"labels": ["vip"]})
    assert (again.status_code, again.json()) == (200, {"payload": ["vip"]})
    destroyed = await chatwoot.post(
        f"{PATH}/{made['id']}/destroy_custom_attributes", json={"custom_attributes": ["absent"]}
    )
    assert destroyed.status_code == 200
    assert destroyed.json()["payload"]["custom_attributes"] == {"a": 1}
