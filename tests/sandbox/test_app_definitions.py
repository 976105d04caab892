"""The sandbox's Chatwoot custom attribute definitions, as the controller and the model
answer: a bare array filtered by model, a wrapped (or bare) payload, Rails' 422s, 204 on
destroy, the contacts' values kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import SandboxOptions

PATH = "/api/v1/accounts/1/custom_attribute_definitions"
TIER = {
    "attribute_key": "tier",
    "attribute_display_name": "Tier",
    "attribute_display_type": "list",
    "attribute_values": ["gold", "silver"],
    "attribute_model": "contact_attribute",
}

pytestmark = pytest.mark.anyio


@pytest.fixture
async def chatwoot(sandbox_options: SandboxOptions) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(sandbox_options)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            headers={"api-access-token": "sandbox-token"},
        ) as client:
            yield client
    finally:
        app.state.store.close()


async def define(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(PATH, json={"custom_attribute_definition": fields})
    assert response.status_code == 200, response.text
    definition: dict[str, Any] = response.json()
    return definition


async def test_a_definition_is_created_shown_listed_by_model_and_destroyed(
    chatwoot: httpx.AsyncClient,
) -> None:
    tier = await define(chatwoot, **TIER)
    assert {key: tier[key] for key in TIER} == TIER
    assert isinstance(tier["id"], int)
    assert tier["regex_pattern"] is None and tier["default_value"] is None
    # A bare body is wrapped as Rails wraps it; the model defaults to conversations'.
    bare = await chatwoot.post(PATH, json={"attribute_key": "topic", "attribute_display_name": "T"})
    assert bare.json()["attribute_model"] == "conversation_attribute"

    everything = (await chatwoot.get(PATH)).json()
    assert [d["attribute_key"] for d in everything] == ["tier", "topic"]  # a bare array
    contact = await chatwoot.get(PATH, params={"attribute_model": "contact_attribute"})
    assert [d["attribute_key"] for d in contact.json()] == ["tier"]
    assert (await chatwoot.get(f"{PATH}/{tier['id']}")).json()["attribute_key"] == "tier"

    updated = await chatwoot.patch(
        f"{PATH}/{tier['id']}",
        json={"custom_attribute_definition": {"attribute_values": ["gold", "bronze"]}},
    )
    assert updated.json()["attribute_values"] == ["gold", "bronze"]

    contact_id = (
        await chatwoot.post(
            "/api/v1/accounts/1/contacts",
            json={"name": "Ada", "custom_attributes": {"tier": "gold"}},
        )
    ).json()["payload"]["contact"]["id"]
    deleted = await chatwoot.delete(f"{PATH}/{tier['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await chatwoot.get(f"{PATH}/{tier['id']}")).status_code == 404
    kept = await chatwoot.get(f"/api/v1/accounts/1/contacts/{contact_id}")
    assert kept.json()["payload"]["custom_attributes"] == {"tier": "gold"}


@pytest.mark.parametrize(
    ("payload", "message", "attributes"),
    [
        ({**TIER, "attribute_display_name": ""}, "Attribute display name can't be blank", None),
        ({**TIER, "attribute_key": ""}, "Attribute key can't be blank", ["attribute_key"]),
        (
            {**TIER, "attribute_key": "email"},
            "Attribute key The provided key is not allowed as it might conflict with default "
            "attributes.",
            ["attribute_key"],
        ),
        (TIER, "Attribute key has already been taken", ["attribute_key"]),
    ],
)
async def test_an_invalid_definition_is_a_rails_422(
    chatwoot: httpx.AsyncClient,
    payload: dict[str, Any],
    message: str,
    attributes: list[str] | None,
) -> None:
    await define(chatwoot, **{**TIER, "attribute_key": "tier"})
    response = await chatwoot.post(PATH, json={"custom_attribute_definition": payload})
    assert response.status_code == 422
    assert message in response.json()["message"]
    if attributes is not None:
        assert response.json()["attributes"] == attributes


async def test_no_payload_is_a_missing_parameter_and_a_bad_type_a_500(
    chatwoot: httpx.AsyncClient,
) -> None:
    response = await chatwoot.post(PATH, json={"nothing": 1})
    assert response.status_code == 422
    assert response.json() == {
        "error": "param is missing or the value is empty: custom_attribute_definition"
    }
    wrong = await chatwoot.post(
        PATH, json={"custom_attribute_definition": {**TIER, "attribute_display_type": "colour"}}
    )
    assert wrong.status_code == 500  # Rails' enum raises ArgumentError


async def test_definitions_need_the_token(chatwoot: httpx.AsyncClient) -> None:
    response = await chatwoot.get(PATH, headers={"api-access-token": "wrong"})
    assert response.status_code == 401
