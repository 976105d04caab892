"""fetch_live over HTTP against the in-process sandbox: the right contacts, few requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.engine.fetch import fetch_live
from reconciler.model import JSON, Declaration, DeclaredContact, Position
from reconciler.sandbox.store import Store
from reconciler.targets.livedesk import Credentials, LiveDeskClient

pytestmark = pytest.mark.anyio


def declared(**fields: JSON) -> DeclaredContact:
    contact_id = fields.pop("id", None)
    assert contact_id is None or isinstance(contact_id, int)
    return DeclaredContact(Position("c.yaml", 1, 1), fields, id=contact_id, inbox_id=1)


def client_on(transport: httpx.AsyncBaseTransport) -> LiveDeskClient:
    return LiveDeskClient(
        "http://127.0.0.1", Credentials("sandbox", "sandbox"), transport=transport
    )


def seed(app: Starlette, contacts: Sequence[Mapping[str, Any]]) -> list[int]:
    store: Store = app.state.store
    return [int(store.insert(contact)["id"]) for contact in contacts]


async def fetch(
    transport: httpx.AsyncBaseTransport, *contacts: DeclaredContact
) -> tuple[list[Any], int]:
    async with client_on(transport) as client:
        live = await fetch_live(client, Declaration(contacts))
    return [None if c is None else c["id"] for c in live.contacts], live.requests


async def test_a_few_contacts_in_a_large_account_are_read_one_by_one(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    ids = seed(sandbox_app, [{"email": f"c{n}@example.com"} for n in range(100)])
    found, requests = await fetch(
        asgi_transport, declared(id=ids[3]), declared(id=ids[50]), declared(id=999_999)
    )
    assert found == [ids[3], ids[50], None]
    assert requests == 1 + 3  # the page-1 probe, then one GET each


async def test_a_large_share_of_the_account_is_read_from_the_listing(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    ids = seed(
        sandbox_app,
        [{"email": f"c{n}@example.com", "identifier": f"i-{n}"} for n in range(40)],
    )
    wanted = (
        [declared(id=i) for i in ids[:20]]
        + [declared(identifier=f"i-{n}") for n in range(20, 30)]
        + [declared(email=f"C{n}@Example.com") for n in range(30, 40)]
    )
    found, requests = await fetch(asgi_transport, *wanted, declared(identifier="nobody"))
    assert found == [*ids, None]
    assert requests == 3  # 40 contacts: three pages of 15, page 1 doubling as the probe


async def test_a_declared_id_the_listing_cannot_return_is_read_by_id(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    ids = seed(sandbox_app, [{"email": f"c{n}@example.com"} for n in range(5)])
    (hidden,) = seed(sandbox_app, [{"name": "no email, phone or identifier"}])
    found, requests = await fetch(asgi_transport, *(declared(id=i) for i in [*ids, hidden]))
    assert found == [*ids, hidden]
    assert requests == 2  # one page, one GET for the contact the listing leaves out


async def test_search_results_are_filtered_for_exact_equality(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    seed(
        sandbox_app,
        [{"email": f"filler{n}@example.org"} for n in range(60)]
        + [
            {"identifier": "a_1", "email": "xa@b.com"},  # `_` is a wildcard: q=a_1 finds ab1 too
            {"identifier": "ab1", "email": "a@b.com"},
            {"identifier": "A_1"},
        ],
    )
    found, _ = await fetch(asgi_transport, declared(identifier="ab1"), declared(email="A@B.com"))
    store: Store = sandbox_app.state.store
    (ab1,) = [c["id"] for c in store.all() if c["identifier"] == "ab1"]
    assert found == [ab1, ab1]
    found, _ = await fetch(asgi_transport, declared(identifier="a_"), declared(email="b.com"))
    assert found == [None, None]
