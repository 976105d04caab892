"""The sandbox's auth, get, create and update, over HTTP (in-process)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sandbox_testing import BASE_URL, PATH, api_client, create, fetch, patch
from starlette.applications import Starlette

pytestmark = pytest.mark.anyio

CONTACT_KEYS = [
    "additional_attributes",
    "availability_status",
    "email",
    "id",
    "name",
    "phone_number",
    "blocked",
    "identifier",
    "thumbnail",
    "custom_attributes",
    "last_activity_at",
    "created_at",
    "contact_inboxes",
]

# The example request of the seed page (shared/seed/update-contact.ja.txt), comment removed.
SEED_PATCH: dict[str, Any] = {
    "additional_attributes": {
        "description": "",
        "company_name": "",
        "city": "",
        "telegram": "",
        "country": "",
        "country_code": "",
        "social_profiles": {
            "facebook": "",
            "github": "",
            "instagram": "",
            "linkedin": "",
            "twitter": "",
        },
    },
    "availability_status": "offline",
    "email": "support@jiguang.cn",
    "name": "support",
    "phone_number": None,
    "blocked": False,
    "identifier": "2222",
    "thumbnail": "",
    "last_activity_at": 1765441908,
    "custom_attributes": {"vip_level": "platinum"},
    "created_at": 1765441895,
    "first_name": "support",
    "last_name": "",
}


@pytest.fixture
async def client(asgi_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(asgi_transport) as client:
        yield client


# Auth


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


ROUTES = [("GET", PATH), ("POST", PATH), ("GET", f"{PATH}/1"), ("PATCH", f"{PATH}/1")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_no_credentials_is_401_with_errors_list(
    asgi_transport: httpx.ASGITransport, method: str, path: str
) -> None:
    async with httpx.AsyncClient(transport=asgi_transport, base_url=BASE_URL) as anonymous:
        response = await anonymous.request(method, path, json={"inbox_id": 1})
    assert response.status_code == 401
    assert response.json() == {"errors": ["You need to sign in or sign up before continuing."]}


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        _basic("sandbox:wrong"),
        _basic("wrong:sandbox"),
        _basic("sandbox"),
        "Basic not-base64!",
        "Bearer c2FuZGJveDpzYW5kYm94",
    ],
)
async def test_wrong_credentials_are_401_invalid_access_token(
    asgi_transport: httpx.ASGITransport,
    sandbox_app: Starlette,
    method: str,
    path: str,
    authorization: str,
) -> None:
    async with httpx.AsyncClient(transport=asgi_transport, base_url=BASE_URL) as stranger:
        response = await stranger.request(
            method,
            path,
            json={"inbox_id": 1, "email": "x@y.z"},
            headers={"Authorization": authorization},
        )
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Access Token"}
    assert sandbox_app.state.store.count() == 0


async def test_other_credentials_when_configured(tmp_path: Any) -> None:
    from reconciler.sandbox.app import create_app
    from reconciler.sandbox.server import SandboxOptions

    app = create_app(SandboxOptions(db=str(tmp_path / "s.sqlite"), api_key="k", api_secret="s3"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as other:
            assert (await other.get(PATH, auth=("k", "s3"))).status_code == 200
            assert (await other.get(PATH, auth=("sandbox", "sandbox"))).status_code == 401
    finally:
        app.state.store.close()


# Get one, 404


@pytest.mark.parametrize("contact_id", ["999", "0", "abc", "1.0", "-1", "9" * 30])
async def test_unknown_id_is_404(client: httpx.AsyncClient, contact_id: str) -> None:
    await create(client, email="someone@example.com")
    for response in (
        await client.get(f"{PATH}/{contact_id}"),
        await client.patch(f"{PATH}/{contact_id}", json={"name": "x"}),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "Resource could not be found"}


async def test_get_one_has_the_contract_key_order(
    client: httpx.AsyncClient, sandbox_app: Starlette
) -> None:
    seeded = sandbox_app.state.store.insert(
        {"email": "a@example.com", "last_activity_at": 1765441908, "created_at": 1765441895}
    )
    contact = await fetch(client, seeded["id"])
    assert list(contact) == CONTACT_KEYS
    assert contact["last_activity_at"] == 1765441908
    assert contact["created_at"] == 1765441895


async def test_last_activity_at_is_left_out_when_null(client: httpx.AsyncClient) -> None:
    created = await create(client, email="new@example.com")
    assert "last_activity_at" not in created
    assert list(created) == [key for key in CONTACT_KEYS if key != "last_activity_at"]
    assert "last_activity_at" not in await fetch(client, created["id"])


# Create


async def test_create_answers_contact_and_contact_inbox(
    client: httpx.AsyncClient, sandbox_app: Starlette
) -> None:
    response = await client.post(
        PATH,
        json={
            "inbox_id": 1,
            "name": "Ada",
            "email": "Ada@Example.COM",
            "phone_number": "+14155552671",
            "identifier": "ada-1",
        },
    )
    assert response.status_code == 200
    payload = response.json()["payload"]
    assert list(payload) == ["contact", "contact_inbox"]
    contact, contact_inbox = payload["contact"], payload["contact_inbox"]
    assert contact["email"] == "ada@example.com"
    assert (contact["name"], contact["phone_number"], contact["identifier"]) == (
        "Ada",
        "+14155552671",
        "ada-1",
    )
    assert contact["blocked"] is False
    assert contact["thumbnail"] == ""
    assert contact["additional_attributes"] == {} and contact["custom_attributes"] == {}
    assert contact["availability_status"] == "offline"
    assert isinstance(contact["id"], int) and isinstance(contact["created_at"], int)
    assert contact_inbox["inbox"]["id"] == 1
    assert contact_inbox["inbox"]["channel_type"] == "Channel::Api"
    assert contact_inbox["source_id"]
    assert contact["contact_inboxes"] == [
        {
            "source_id": contact_inbox["source_id"],
            "inbox": {
                "id": 1,
                "name": contact_inbox["inbox"]["name"],
                "channel_type": "Channel::Api",
            },
        }
    ]
    assert await fetch(client, contact["id"]) == contact
    assert sandbox_app.state.store.count() == 1


async def test_create_drops_keys_it_does_not_take(client: httpx.AsyncClient) -> None:
    contact = await create(
        client,
        email="drop@example.com",
        blocked=True,
        custom_attributes={"vip": True},
        additional_attributes={"city": "Oslo"},
        id=4242,
        emial="typo@example.com",
    )
    assert contact["blocked"] is False
    assert contact["custom_attributes"] == {} and contact["additional_attributes"] == {}
    assert contact["id"] != 4242


async def test_create_accepts_inbox_id_as_a_string(client: httpx.AsyncClient) -> None:
    response = await client.post(PATH, json={"inbox_id": "1", "email": "s@example.com"})
    assert response.status_code == 200


@pytest.mark.parametrize("body", [{}, {"inbox_id": None}, {"inbox_id": ""}])
async def test_create_without_inbox_id_is_422_and_creates_nothing(
    client: httpx.AsyncClient, sandbox_app: Starlette, body: dict[str, Any]
) -> None:
    response = await client.post(PATH, json={**body, "email": "x@example.com"})
    assert response.status_code == 422
    assert response.json() == {"message": "Inbox can't be blank", "attributes": ["inbox_id"]}
    assert sandbox_app.state.store.count() == 0


@pytest.mark.parametrize("inbox_id", [2, 0, "2", True])
async def test_create_in_an_unknown_inbox_is_404_and_creates_nothing(
    client: httpx.AsyncClient, sandbox_app: Starlette, inbox_id: Any
) -> None:
    response = await client.post(PATH, json={"inbox_id": inbox_id, "email": "x@example.com"})
    assert response.status_code == 404
    assert response.json() == {"error": "Resource could not be found"}
    assert sandbox_app.state.store.count() == 0


async def test_email_is_lower_cased_and_blank_becomes_null(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="MiXeD@Example.Com", phone_number="")
    assert contact["email"] == "mixed@example.com"
    assert contact["phone_number"] == ""
    response = await patch(client, contact["id"], {"email": ""})
    assert response.json()["payload"]["email"] is None
    assert (await fetch(client, contact["id"]))["email"] is None


async def test_avatar_url_sets_a_thumbnail_of_its_own(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="pic@example.com", avatar_url="https://img.example/a.png")
    assert contact["thumbnail"].startswith("https://")
    assert contact["thumbnail"] != "https://img.example/a.png"
    assert "avatar_url" not in contact


async def test_malformed_json_is_400_and_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await create(client, email="j@example.com", name="J")
    response = await client.patch(
        f"{PATH}/{created['id']}",
        content=b'{"name": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert (await fetch(client, created["id"]))["name"] == "J"


# Validation


def _unprocessable(message: str, *attributes: str) -> dict[str, Any]:
    return {"message": message, "attributes": list(attributes)}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "no-at-sign"}, _unprocessable("Email Invalid email", "email")),
        ({"email": "two@@example.com"}, _unprocessable("Email Invalid email", "email")),
        ({"email": " a@example.com"}, _unprocessable("Email Invalid email", "email")),
        (
            {"phone_number": "+1 415 555 2671"},
            _unprocessable("Phone number should be in e164 format", "phone_number"),
        ),
        (
            {"phone_number": "14155552671"},
            _unprocessable("Phone number should be in e164 format", "phone_number"),
        ),
        (
            {"phone_number": "+04155552671"},
            _unprocessable("Phone number should be in e164 format", "phone_number"),
        ),
        (
            {"phone_number": "+1234567890123456"},
            _unprocessable("Phone number should be in e164 format", "phone_number"),
        ),
        (
            {"phone_number": "+1"},
            _unprocessable("Phone number should be in e164 format", "phone_number"),
        ),
        (
            {"name": "n" * 256},
            _unprocessable("Name is too long (maximum is 255 characters)", "name"),
        ),
        (
            {"identifier": "i" * 256},
            _unprocessable("Identifier is too long (maximum is 255 characters)", "identifier"),
        ),
        (
            {"email": "e" * 250 + "@x.com"},
            _unprocessable("Email is too long (maximum is 255 characters)", "email"),
        ),
        (
            {"email": "bad", "phone_number": "bad"},
            _unprocessable(
                "Email Invalid email, Phone number should be in e164 format",
                "email",
                "phone_number",
            ),
        ),
    ],
)
async def test_invalid_values_are_422_on_create_and_update(
    client: httpx.AsyncClient, sandbox_app: Starlette, fields: dict[str, Any], expected: Any
) -> None:
    response = await client.post(PATH, json={"inbox_id": 1, **fields})
    assert response.status_code == 422
    assert response.json() == expected
    assert sandbox_app.state.store.count() == 0

    contact = await create(client, email="valid@example.com", name="Valid")
    response = await patch(client, contact["id"], fields)
    assert response.status_code == 422
    assert response.json() == expected
    assert await fetch(client, contact["id"]) == contact


async def test_limits_and_formats_accept_the_edge_values(client: httpx.AsyncClient) -> None:
    contact = await create(
        client,
        name="n" * 255,
        email="e" * 249 + "@x.com",
        phone_number="+123456789012345",
        identifier="i" * 255,
    )
    assert len(contact["name"]) == 255
    assert (await create(client, phone_number="+12"))["phone_number"] == "+12"


async def test_email_is_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    await create(client, email="taken@example.com")
    response = await client.post(PATH, json={"inbox_id": 1, "email": "TAKEN@example.com"})
    assert response.status_code == 422
    assert response.json() == {"message": "Email has already been taken", "attributes": ["email"]}
    other = await create(client, email="other@example.com")
    response = await patch(client, other["id"], {"email": "Taken@Example.com"})
    assert response.status_code == 422
    assert response.json() == {"message": "Email has already been taken", "attributes": ["email"]}


async def test_identifier_is_unique_case_sensitively(client: httpx.AsyncClient) -> None:
    await create(client, identifier="ABC")
    await create(client, identifier="abc")
    response = await client.post(PATH, json={"inbox_id": 1, "identifier": "ABC"})
    assert response.status_code == 422
    assert response.json() == _unprocessable("Identifier has already been taken", "identifier")


async def test_phone_number_is_unique_exactly_but_blank_ones_may_repeat(
    client: httpx.AsyncClient,
) -> None:
    await create(client, phone_number="+14155552671", email="a@example.com")
    await create(client, phone_number="", email="b@example.com")
    await create(client, phone_number="", email="c@example.com")
    response = await client.post(PATH, json={"inbox_id": 1, "phone_number": "+14155552671"})
    assert response.status_code == 422
    assert response.json() == _unprocessable("Phone number has already been taken", "phone_number")


async def test_a_contact_keeps_its_own_unique_values(client: httpx.AsyncClient) -> None:
    contact = await create(
        client, email="me@example.com", identifier="me", phone_number="+4712345678"
    )
    response = await patch(
        client,
        contact["id"],
        {"email": "ME@example.com", "identifier": "me", "phone_number": "+4712345678"},
    )
    assert response.status_code == 200


async def test_a_second_blank_identifier_is_a_500_not_a_422(
    client: httpx.AsyncClient, sandbox_app: Starlette
) -> None:
    await create(client, identifier="", email="first@example.com")
    response = await client.post(
        PATH, json={"inbox_id": 1, "identifier": "", "email": "second@example.com"}
    )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert sandbox_app.state.store.count() == 1


# Update


async def test_update_changes_every_writable_field(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="w@example.com", name="W")
    body = {
        "name": "Wanda",
        "identifier": "wanda",
        "email": "Wanda@Example.com",
        "phone_number": "+4798765432",
        "blocked": True,
        "additional_attributes": {"company_name": "Acme"},
        "custom_attributes": {"seats": 4},
    }
    response = await patch(client, contact["id"], body)
    assert response.status_code == 200
    updated = response.json()["payload"]
    assert list(updated) == list(contact)
    assert updated == {
        **contact,
        **body,
        "email": "wanda@example.com",
    }
    assert await fetch(client, contact["id"]) == updated


async def test_update_drops_read_only_and_unknown_keys_silently(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="r@example.com", name="R")
    response = await patch(
        client,
        contact["id"],
        {
            "id": 999,
            "created_at": 1,
            "last_activity_at": 2,
            "availability_status": "online",
            "thumbnail": "https://x.example/t.png",
            "contact_inboxes": [],
            "first_name": "First",
            "last_name": ["Last"],
            "emial": "typo@example.com",
            "labels": ["vip"],
        },
    )
    assert response.status_code == 200
    assert response.json()["payload"] == contact
    assert await fetch(client, contact["id"]) == contact


async def test_empty_body_changes_nothing(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="e@example.com")
    for content in (b"", b"{}", b"[]"):
        response = await client.patch(
            f"{PATH}/{contact['id']}", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 200
        assert response.json()["payload"] == contact


async def test_attributes_merge_one_level_deep(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="m@example.com")
    await patch(
        client,
        contact["id"],
        {
            "custom_attributes": {"vip_level": "gold", "seats": 40},
            "additional_attributes": {"city": "Oslo", "company_name": "Acme"},
        },
    )
    response = await patch(
        client,
        contact["id"],
        {
            "custom_attributes": {"seats": 41, "plan": None},
            "additional_attributes": {"city": "Bergen"},
        },
    )
    updated = response.json()["payload"]
    assert updated["custom_attributes"] == {"vip_level": "gold", "seats": 41, "plan": None}
    assert updated["additional_attributes"] == {"city": "Bergen", "company_name": "Acme"}


async def test_social_profiles_with_only_github_loses_the_other_profiles(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(client, email="social@example.com")
    profiles = {
        "facebook": "fb",
        "github": "gh",
        "instagram": "ig",
        "linkedin": "li",
        "twitter": "tw",
    }
    await patch(
        client,
        contact["id"],
        {"additional_attributes": {"city": "Oslo", "social_profiles": profiles}},
    )
    response = await patch(
        client, contact["id"], {"additional_attributes": {"social_profiles": {"github": "new"}}}
    )
    assert response.status_code == 200
    expected = {"city": "Oslo", "social_profiles": {"github": "new"}}
    assert response.json()["payload"]["additional_attributes"] == expected
    assert (await fetch(client, contact["id"]))["additional_attributes"] == expected


@pytest.mark.parametrize("value", [None, "a string", ["an", "array"], 3])
async def test_a_non_object_in_place_of_an_attribute_object_is_ignored(
    client: httpx.AsyncClient, value: Any
) -> None:
    contact = await create(client, email="o@example.com")
    await patch(
        client, contact["id"], {"custom_attributes": {"a": 1}, "additional_attributes": {"b": 2}}
    )
    response = await patch(
        client, contact["id"], {"custom_attributes": value, "additional_attributes": value}
    )
    assert response.status_code == 200
    assert response.json()["payload"]["custom_attributes"] == {"a": 1}
    assert response.json()["payload"]["additional_attributes"] == {"b": 2}


async def test_custom_attribute_values_keep_their_json_types(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="t@example.com")
    values = {
        "int": 1,
        "string": "1",
        "bool": True,
        "float": 1.0,
        "list": [1, "1"],
        "obj": {"n": 1},
    }
    await patch(client, contact["id"], {"custom_attributes": values})
    response = await client.get(f"{PATH}/{contact['id']}")
    assert '"int":1,' in response.text and '"float":1.0,' in response.text
    stored = response.json()["payload"]["custom_attributes"]
    assert stored == values
    assert [type(stored[key]) for key in values] == [int, str, bool, float, list, dict]


async def test_scalars_replace_and_null_stores_null_while_omitted_keys_stay(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(
        client, email="s@example.com", name="S", phone_number="+4711111111", identifier="s"
    )
    response = await patch(client, contact["id"], {"phone_number": None, "name": None})
    updated = response.json()["payload"]
    assert updated["phone_number"] is None and updated["name"] is None
    assert updated["identifier"] == "s" and updated["email"] == "s@example.com"


async def test_blocked_null_is_a_500_and_changes_nothing(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="b@example.com")
    response = await patch(client, contact["id"], {"blocked": None, "name": "changed"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert await fetch(client, contact["id"]) == contact
    response = await patch(client, contact["id"], {"blocked": True})
    assert response.json()["payload"]["blocked"] is True


async def test_put_updates_like_patch(client: httpx.AsyncClient) -> None:
    contact = await create(client, email="put@example.com")
    response = await client.put(f"{PATH}/{contact['id']}", json={"name": "Put"})
    assert response.status_code == 200
    assert (await fetch(client, contact["id"]))["name"] == "Put"


async def test_the_seed_pages_example_patch_changes_only_writable_fields(
    client: httpx.AsyncClient, sandbox_app: Starlette
) -> None:
    seeded = sandbox_app.state.store.insert(
        {
            "name": "Old",
            "email": "old@example.com",
            "phone_number": "+6591234567",
            "identifier": "old",
            "availability_status": "online",
            "thumbnail": "https://avatars.example/old.png",
            "last_activity_at": 1700000100,
            "created_at": 1700000000,
            "additional_attributes": {
                "city": "Singapore",
                "social_profiles": {"twitter": "old", "github": "old"},
            },
            "custom_attributes": {"seats": 3},
            "contact_inboxes": [
                {
                    "source_id": "src_001",
                    "inbox": {"id": 1, "name": "x", "channel_type": "Channel::Api"},
                }
            ],
        }
    )
    before = await fetch(client, seeded["id"])
    response = await patch(client, seeded["id"], SEED_PATCH)
    assert response.status_code == 200
    after = response.json()["payload"]
    assert after == {
        **before,
        "additional_attributes": SEED_PATCH["additional_attributes"],
        "email": "support@jiguang.cn",
        "name": "support",
        "phone_number": None,
        "blocked": False,
        "identifier": "2222",
        "custom_attributes": {"seats": 3, "vip_level": "platinum"},
    }
    # Read-only fields kept their values, whatever the request said.
    assert after["availability_status"] == "online"
    assert after["thumbnail"] == "https://avatars.example/old.png"
    assert after["last_activity_at"] == 1700000100
    assert after["created_at"] == 1700000000
    assert "first_name" not in after and "last_name" not in after
    assert await fetch(client, seeded["id"]) == after


async def test_every_unique_value_is_checked_on_update_as_on_create(
    client: httpx.AsyncClient,
) -> None:
    await create(client, email="a@example.com", identifier="a", phone_number="+4711111111")
    other = await create(client, email="b@example.com", identifier="b", phone_number="+4722222222")
    for field, value, message in (
        ("identifier", "a", "Identifier has already been taken"),
        ("phone_number", "+4711111111", "Phone number has already been taken"),
        ("email", "A@EXAMPLE.COM", "Email has already been taken"),
    ):
        response = await patch(client, other["id"], {field: value})
        assert response.status_code == 422
        assert response.json() == _unprocessable(message, field)
    assert (await fetch(client, other["id"]))["identifier"] == "b"


async def test_email_folds_case_as_ruby_does_not_as_python(client: httpx.AsyncClient) -> None:
    # Ruby's downcase folds a word-final capital sigma to U+03C3; Python's lower() to U+03C2.
    contact = await create(
        client, email="\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3@example.gr"
    )
    assert contact["email"] == "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3@example.gr"
    response = await client.post(
        PATH,
        json={
            "inbox_id": 1,
            "email": "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3@example.gr",
        },
    )
    assert response.json() == _unprocessable("Email has already been taken", "email")
    # The final form is another letter to the desk: another email.
    await create(client, email="\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2@example.gr")
