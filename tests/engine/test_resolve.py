"""Resolution over HTTP against the in-process sandbox, both clients: which contact each
declared one is, who holds its other unique values, and what finding out costs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.engine.apply import apply_plan
from reconciler.engine.fetch import fetch_live
from reconciler.engine.plan import make_plan
from reconciler.engine.resolve import live_keys
from reconciler.input.settings import settings_from_mapping
from reconciler.model import JSON, ContactKey, Declaration, DeclaredContact, LiveState, Position
from reconciler.sandbox.store import Store
from reconciler.targets.base import ContactsApi
from reconciler.targets.chatwoot import ChatwootClient, Token
from reconciler.targets.livedesk import Credentials, LiveDeskClient

pytestmark = pytest.mark.anyio
TIED = 1_700_000_000


def declared(**fields: JSON) -> DeclaredContact:
    return DeclaredContact(Position("c.yaml", 1, 3), fields, inbox_id=1)


@pytest.fixture(params=["livedesk", "chatwoot"])
def face(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def client_for(face: str, transport: httpx.AsyncBaseTransport) -> ContactsApi:
    if face == "livedesk":
        return LiveDeskClient(
            "http://127.0.0.1", Credentials("sandbox", "sandbox"), transport=transport
        )
    return ChatwootClient("http://127.0.0.1", Token("sandbox-token"), 1, transport=transport)


def seed(app: Starlette, contacts: Sequence[Mapping[str, Any]]) -> list[int]:
    """Stored contacts with one created_at, as an import gives them: the listing's ties."""
    store: Store = app.state.store
    return [int(store.insert({"created_at": TIED, **contact})["id"]) for contact in contacts]


async def fetched(
    face: str, transport: httpx.AsyncBaseTransport, *contacts: DeclaredContact, scan: bool = False
) -> LiveState:
    async with client_for(face, transport) as client:
        return await fetch_live(
            client,
            Declaration(contacts),
            marker_key="managed_by_reconciler" if scan else None,
            scan=scan,
        )


def ids_of(live: LiveState) -> list[int | None]:
    return [None if contact is None else int(contact["id"]) for contact in live.contacts]


async def test_values_the_found_contact_holds_cost_no_request_more(
    face: str, sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    people = [
        {"identifier": f"u-{n}", "email": f"u{n}@example.com", "phone_number": f"+1415555{n:04d}"}
        for n in range(100)
    ]
    ids = seed(sandbox_app, people)
    wanted = [declared(**person) for person in people[:3]]
    live = await fetched(face, asgi_transport, *wanted)
    assert ids_of(live) == ids[:3]
    assert live.found_by == (None, None, None)
    assert live.holders == {}
    # LiveDesk: the page-1 probe and one search each; Chatwoot: one filter of three
    assert live.requests == (4 if face == "livedesk" else 1)


async def test_people_found_by_another_value_cost_one_batched_round(
    face: str, sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    seed(sandbox_app, [{"email": f"filler{n}@example.com"} for n in range(100)])
    by_email, by_phone = seed(
        sandbox_app, [{"email": "ada@example.com"}, {"phone_number": "+14155550100"}]
    )
    wanted = [
        declared(identifier="u-1", email="ADA@example.com"),
        declared(identifier="u-2", phone_number="+14155550100"),
        declared(identifier="u-3", email="new@example.com"),
    ]
    live = await fetched(face, asgi_transport, *wanted)
    assert ids_of(live) == [by_email, by_phone, None]
    assert live.found_by == ("email", "phone_number", None)
    # LiveDesk: the probe and three searches, then three more; Chatwoot: two filters
    assert live.requests == (7 if face == "livedesk" else 2)


async def test_the_whole_listing_read_answers_for_every_declared_value(
    face: str, sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    # No ties here: every counted contact is seen, so a value nobody holds needs no lookup.
    store: Store = sandbox_app.state.store
    for n in range(40):
        store.insert({"created_at": TIED + n, "email": f"c{n}@example.com"})
    wanted = [declared(identifier=f"new-{n}", email=f"c{n}@example.com") for n in range(40)]
    wanted.append(declared(identifier="nobody", phone_number="+14155550199"))
    live = await fetched(face, asgi_transport, *wanted, scan=True)
    assert ids_of(live)[:40] == list(range(1, 41))
    assert set(live.found_by[:40]) == {"email"} and live.found_by[40] is None
    # The listing's three pages, and the lookups of the 41 identifiers it doesn't show, as
    # before (what a walk missed may exist); their emails and the phone cost nothing more.
    assert live.requests == 3 + (41 if face == "livedesk" else 3)


@pytest.mark.parametrize("repeat", range(3))
async def test_ties_hide_no_holder_from_the_plan(
    face: str, sandbox_app: Starlette, asgi_transport: httpx.ASGITransport, repeat: int
) -> None:
    # A tied import: each walk repeats and misses contacts, so what the listing didn't
    # show is looked up exactly, and every widget contact is still found.
    ids = seed(sandbox_app, [{"email": f"csv{n}@example.com"} for n in range(150)])
    wanted = [declared(identifier=f"u-{n}", email=f"csv{n}@example.com") for n in range(150)]
    live = await fetched(face, asgi_transport, *wanted, scan=True)
    assert ids_of(live) == ids
    assert set(live.found_by) == {"email"}


async def test_a_value_taken_in_a_race_names_its_holder_at_apply(
    face: str, sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    (mine,) = seed(sandbox_app, [{"identifier": "a", "email": "a@example.com"}])
    contacts = (
        declared(identifier="a", email="new@example.com"),
        declared(identifier="b", phone_number="+14155550123"),
    )
    declaration = Declaration(contacts)
    settings = settings_from_mapping({"ownership": False})
    async with client_for(face, asgi_transport) as client:
        live = await fetch_live(client, declaration)
        plan = make_plan(declaration, live, settings, client.capabilities)
        # Between the plan and the writes, the widget creates contacts with those values.
        taker, other = seed(
            sandbox_app, [{"email": "NEW@example.com"}, {"phone_number": "+14155550123"}]
        )
        outcomes = await apply_plan(client, plan)
    reasons = sorted(outcome.reason for outcome in outcomes)
    assert [outcome.status for outcome in outcomes] == ["failed", "failed"]
    assert reasons[0].endswith(
        f"Email has already been taken (its email belongs to contact id {taker}: run plan again)"
    )
    assert reasons[1].endswith(
        f"Phone number has already been taken (its phone_number belongs to contact id {other}: "
        "run plan again)"
    )
    store: Store = sandbox_app.state.store
    record = store.get(mine)
    assert record is not None and record["email"] == "a@example.com"


def test_a_live_contact_is_found_by_each_unique_value_it_holds() -> None:
    contact = {"id": 7, "identifier": "", "email": "Ada@Example.com", "phone_number": "+1415"}
    assert live_keys(contact) == [
        ContactKey("email", "ada@example.com"),
        ContactKey("phone_number", "+1415"),
    ]
