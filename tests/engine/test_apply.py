"""apply_plan and find_stale over HTTP against the in-process sandbox."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.changes import OperationKind, Plan
from reconciler.engine.apply import Outcome, apply_plan
from reconciler.engine.fetch import fetch_live
from reconciler.engine.plan import make_plan
from reconciler.engine.stale import find_stale
from reconciler.input.settings import default_settings
from reconciler.model import JSON, Declaration, DeclaredContact, Position
from reconciler.sandbox.store import Store
from reconciler.targets.livedesk import CAPABILITIES, Credentials, LiveDeskClient

pytestmark = pytest.mark.anyio


def dropping_patch_key(app: ASGIApp, key: str) -> ASGIApp:
    """The sandbox, but a PATCH loses ``key`` on the way in: a silent drop, as LiveDesk does."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "PATCH":
            await app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        document = json.loads(body)
        document.pop(key, None)
        replayed: list[Message] = [{"type": "http.request", "body": json.dumps(document).encode()}]

        async def replay() -> Message:
            return replayed.pop() if replayed else await receive()

        await app(scope, replay, send)

    return wrapped


def declared(**fields: JSON) -> DeclaredContact:
    contact_id = fields.pop("id", None)
    assert contact_id is None or isinstance(contact_id, int)
    return DeclaredContact(Position("c.yaml", 7, 5), fields, id=contact_id, inbox_id=1)


def client_on(app: ASGIApp) -> LiveDeskClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return LiveDeskClient(
        "http://127.0.0.1", Credentials("sandbox", "sandbox"), transport=transport
    )


async def planned(app: ASGIApp, *contacts: DeclaredContact) -> Plan:
    async with client_on(app) as client:
        declaration = Declaration(contacts)
        live = await fetch_live(client, declaration, marker_key=default_settings().marker_key)
    return make_plan(declaration, live, default_settings(), CAPABILITIES)


async def applied(app: ASGIApp, plan: Plan) -> tuple[Outcome, ...]:
    async with client_on(app) as client:
        return await apply_plan(client, plan)


def store(app: Starlette) -> Store:
    result: Store = app.state.store
    return result


def insert(app: Starlette, contact: Mapping[str, Any]) -> int:
    return int(store(app).insert(contact)["id"])


async def test_a_silently_dropped_field_is_reported_as_failed(sandbox_app: Starlette) -> None:
    contact_id = insert(sandbox_app, {"email": "a@example.com", "name": "Old"})
    lossy = dropping_patch_key(sandbox_app, "name")
    plan = await planned(lossy, declared(id=contact_id, name="New", blocked=True))

    (outcome,) = await applied(lossy, plan)

    assert outcome.status == "failed"
    assert str(outcome) == f"id {contact_id} (c.yaml:7): failed: the target did not keep name"
    assert store(sandbox_app).get(contact_id) is not None


async def test_a_create_posts_then_patches_and_a_rerun_finishes_a_half_create(
    sandbox_app: Starlette,
) -> None:
    contact = declared(identifier="p-1", name="P", custom_attributes={"tier": "gold"})
    lossy = dropping_patch_key(sandbox_app, "custom_attributes")
    plan = await planned(lossy, contact)
    assert [op.kind for op in plan.changes[0].operations] == [
        OperationKind.CREATE,
        OperationKind.UPDATE,
    ]

    (outcome,) = await applied(lossy, plan)
    assert outcome.status == "failed"
    assert "did not keep custom_attributes.tier" in outcome.reason
    assert f"created with id {outcome.contact_id}" in outcome.reason

    # Run again against a server that keeps everything: it finds the contact and updates it.
    plan = await planned(sandbox_app, contact)
    assert [(change.action, change.id) for change in plan.changes] == [
        ("update", outcome.contact_id)
    ]
    (outcome,) = await applied(sandbox_app, plan)
    assert outcome.status == "updated"
    assert not (await planned(sandbox_app, contact)).changes
    assert len(store(sandbox_app).all()) == 1


async def test_find_stale_names_moved_values_and_contacts_created_since(
    sandbox_app: Starlette,
) -> None:
    kept = insert(sandbox_app, {"email": "kept@example.com", "name": "K"})
    moved = insert(sandbox_app, {"email": "moved@example.com", "custom_attributes": {"n": 1}})
    plan = await planned(
        sandbox_app,
        declared(id=kept, name="K2"),
        declared(id=moved, custom_attributes={"n": 2}),
        declared(identifier="later", name="L"),
    )
    async with client_on(sandbox_app) as client:
        assert await find_stale(client, plan) == []

    record = store(sandbox_app).get(moved)
    assert record is not None
    store(sandbox_app).replace({**record, "custom_attributes": {"n": 1.0}})
    insert(sandbox_app, {"identifier": "later"})

    async with client_on(sandbox_app) as client:
        stale = await find_stale(client, plan)
    assert len(stale) == 2
    assert str(stale[0]) == (
        f"id {moved} (c.yaml:7): changed since the plan was made: custom_attributes.n"
    )
    assert str(stale[1]).startswith("identifier later (c.yaml:7): now exists (id ")


async def test_a_nested_object_that_gained_a_key_since_the_plan_is_stale(
    sandbox_app: Starlette,
) -> None:
    profiles = {"github": "old", "twitter": "t"}
    contact_id = insert(
        sandbox_app,
        {"email": "a@example.com", "additional_attributes": {"social_profiles": profiles}},
    )
    plan = await planned(
        sandbox_app,
        declared(id=contact_id, additional_attributes={"social_profiles": {"github": "new"}}),
    )
    (request,) = plan.changes[0].operations
    assert request.body["additional_attributes"] == {
        "social_profiles": {**profiles, "github": "new"}
    }
    record = store(sandbox_app).get(contact_id)
    assert record is not None
    grown = {**profiles, "linkedin": "added-since"}
    store(sandbox_app).replace({**record, "additional_attributes": {"social_profiles": grown}})

    async with client_on(sandbox_app) as client:
        stale = await find_stale(client, plan)

    # Applying the plan would drop linkedin: the plan is stale though github is still "old".
    assert [str(line) for line in stale] == [
        f"id {contact_id} (c.yaml:7): changed since the plan was made: "
        "additional_attributes.social_profiles"
    ]
