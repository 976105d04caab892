"""The sandbox's list and search, over HTTP (in-process)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sandbox_testing import PATH, api_client, create
from starlette.applications import Starlette

from reconciler.sandbox.store import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(asgi_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(asgi_transport) as client:
        yield client


@pytest.fixture
def store(sandbox_app: Starlette) -> Store:
    store: Store = sandbox_app.state.store
    return store


async def _list(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _seed_many(store: Store, count: int) -> list[int]:
    """Contacts of one import: one created_at (to the second) for all, the worst case."""
    return [
        store.insert(
            {
                "name": f"Contact {n % 7}",
                "email": f"c{n:03d}@example.com",
                "created_at": 1_700_000_000,
            }
        )["id"]
        for n in range(count)
    ]


# Paging


async def _walk(client: httpx.AsyncClient, sort: str, pages: int) -> list[list[int]]:
    walk = []
    for page in range(1, pages + 1):
        body = await _list(client, page=page, sort=sort)
        assert body["meta"] == {"count": 100, "current_page": str(page)}
        walk.append([contact["id"] for contact in body["payload"]])
    return walk


@pytest.mark.parametrize("sort", ["email", "-email"])
async def test_paging_a_key_with_no_ties_returns_each_exactly_once(
    client: httpx.AsyncClient, store: Store, sort: str
) -> None:
    ids = _seed_many(store, 100)
    walk = await _walk(client, sort, 7)
    assert [len(page) for page in walk] == [15] * 6 + [10]
    assert sorted(itertools.chain(*walk)) == ids
    assert (await _list(client, page=8, sort=sort)) == {
        "meta": {"count": 100, "current_page": "8"},
        "payload": [],
    }


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-city"])
async def test_ties_are_ordered_anew_for_each_page_request(
    client: httpx.AsyncClient, store: Store, sort: str
) -> None:
    # 7 names among 100 contacts; created_at is one second for all; no city at all.
    ids = _seed_many(store, 100)
    walks = [await _walk(client, sort, 7) for _ in range(25)]
    for walk in walks:
        assert [len(page) for page in walk] == [15] * 6 + [10]
        assert all(len(set(page)) == len(page) for page in walk)  # a page never repeats
        assert set(itertools.chain(*walk)) <= set(ids)
    # A walk over ties repeats some contacts and misses others, as PostgreSQL's does.
    assert any(sorted(itertools.chain(*walk)) != ids for walk in walks)
    assert {i for walk in walks for page in walk for i in page} == set(
        ids
    )  # every contact can be listed


async def test_contacts_created_one_by_one_never_tie_in_created_at(
    client: httpx.AsyncClient, store: Store
) -> None:
    # PostgreSQL keeps created_at to the microsecond: creates a second apart or not, each
    # has its own time, and the default order lists each once.
    ids = [store.insert({"email": f"one{n:03d}@example.com"})["id"] for n in range(100)]
    for _ in range(5):
        walk = await _walk(client, "created_at", 7)
        assert sorted(itertools.chain(*walk)) == ids


async def test_contacts_created_through_the_api_never_tie_in_created_at(
    client: httpx.AsyncClient,
) -> None:
    # The endpoint makes the record and the store keeps it: its microseconds with it.
    ids = sorted([(await create(client, identifier=f"api-{n}"))["id"] for n in range(100)])
    walk = await _walk(client, "created_at", 7)
    assert sorted(itertools.chain(*walk)) == ids


async def test_a_walk_over_ties_in_created_at_misses_contacts_of_one_import(
    client: httpx.AsyncClient, store: Store
) -> None:
    ids = [
        store.insert({"identifier": f"csv-{n}", "created_at": 1_700_000_000})["id"]
        for n in range(300)
    ]
    seen: set[int] = set()
    for page in range(1, 21):
        seen.update(contact["id"] for contact in (await _list(client, page=page))["payload"])
    assert seen < set(ids)


async def test_page_size_is_fixed_at_15(client: httpx.AsyncClient, store: Store) -> None:
    _seed_many(store, 40)
    for params in ({}, {"page_size": 40}, {"per_page": 40}, {"page_size": 5}):
        assert len((await _list(client, **params))["payload"]) == 15


async def test_current_page_echoes_the_raw_page_parameter(
    client: httpx.AsyncClient, store: Store
) -> None:
    _seed_many(store, 20)
    assert (await _list(client))["meta"] == {"count": 20, "current_page": 1}
    assert (await _list(client, page="1"))["meta"]["current_page"] == "1"
    second = await _list(client, page="2abc", sort="email")
    assert second["meta"]["current_page"] == "2abc"
    assert [contact["email"] for contact in second["payload"]] == [
        f"c{n:03d}@example.com" for n in range(15, 20)
    ]
    huge = await _list(client, page="9" * 30)
    assert huge == {"meta": {"count": 20, "current_page": "9" * 30}, "payload": []}
    first = await _list(client, page="abc", sort="email")
    assert first["meta"]["current_page"] == "abc"
    assert len(first["payload"]) == 15


# Sorting


async def test_sort_keys_ascending_descending_and_direction(
    client: httpx.AsyncClient, store: Store
) -> None:
    rows = [
        ("b@example.com", "bob", "+4720000002", 30, "Beta", "Bergen", "Norway"),
        ("a@example.com", "Alice", "+4720000003", 10, "alpha", "Aarhus", "Denmark"),
        ("c@example.com", "carol", "+4720000001", 20, "Gamma", "Cork", "Ireland"),
    ]
    for email, name, phone, activity, company, city, country in rows:
        store.insert(
            {
                "email": email,
                "name": name,
                "phone_number": phone,
                "last_activity_at": activity,
                "created_at": 1000 - activity,
                "additional_attributes": {
                    "company_name": company,
                    "city": city,
                    "country": country,
                },
            }
        )

    async def emails(**params: Any) -> list[str]:
        return [contact["email"] for contact in (await _list(client, **params))["payload"]]

    expected = {
        "email": ["a@example.com", "b@example.com", "c@example.com"],
        "name": ["a@example.com", "b@example.com", "c@example.com"],  # case-insensitive
        "phone_number": ["c@example.com", "b@example.com", "a@example.com"],
        "last_activity_at": ["a@example.com", "c@example.com", "b@example.com"],
        "created_at": ["b@example.com", "c@example.com", "a@example.com"],
        "company": ["a@example.com", "b@example.com", "c@example.com"],
        "city": ["a@example.com", "b@example.com", "c@example.com"],
        "country": ["a@example.com", "c@example.com", "b@example.com"],
    }
    for key, ascending in expected.items():
        assert await emails(sort=key) == ascending, key
        assert await emails(sort=f"-{key}") == ascending[::-1], key
        assert await emails(sort=key, direction="desc") == ascending[::-1], key
        assert await emails(sort=f"-{key}", direction="asc") == ascending, key


async def test_missing_values_sort_last_except_descending_email_phone_and_name(
    client: httpx.AsyncClient, store: Store
) -> None:
    ids = [
        store.insert(
            {
                "identifier": f"t{n}",
                "last_activity_at": None if n % 2 else 5 + n,
                "email": None if n % 2 else f"t{n}@example.com",
            }
        )["id"]
        for n in range(6)
    ]
    with_value, without = {ids[0], ids[2], ids[4]}, {ids[1], ids[3], ids[5]}

    async def order(sort: str) -> list[int]:
        return [contact["id"] for contact in (await _list(client, sort=sort))["payload"]]

    assert (await order("last_activity_at"))[:3] == [ids[0], ids[2], ids[4]]
    assert set((await order("last_activity_at"))[3:]) == without
    assert (await order("-last_activity_at"))[:3] == [ids[4], ids[2], ids[0]]
    assert set((await order("-last_activity_at"))[3:]) == without
    assert (await order("email"))[:3] == [ids[0], ids[2], ids[4]]
    assert set((await order("-email"))[:3]) == without  # nulls first, as the server's
    assert (await order("-email"))[3:] == [ids[4], ids[2], ids[0]]
    assert with_value | without == set(ids)


async def test_an_unknown_sort_key_is_ignored(client: httpx.AsyncClient, store: Store) -> None:
    ids = _seed_many(store, 3)
    body = await _list(client, sort="thumbnail")
    assert sorted(contact["id"] for contact in body["payload"]) == ids


# What is listed


async def test_contacts_without_email_phone_or_identifier_are_not_listed(
    client: httpx.AsyncClient, store: Store
) -> None:
    hidden = await create(client, name="Nobody")
    blank = store.insert({"name": "Blank", "phone_number": "", "identifier": None})
    await create(client, name="Mail", email="mail@example.com")
    await create(client, name="Phone", phone_number="+4712345678")
    await create(client, name="Ident", identifier="ident")
    body = await _list(client, sort="name")
    assert body["meta"]["count"] == 3
    assert [contact["name"] for contact in body["payload"]] == ["Ident", "Mail", "Phone"]
    assert (await _list(client, q="Nobody"))["meta"]["count"] == 0
    assert (await _list(client, q="Blank"))["meta"]["count"] == 0
    for contact_id in (hidden["id"], blank["id"]):
        assert (await client.get(f"{PATH}/{contact_id}")).status_code == 200


async def test_include_contact_inboxes_false_drops_them(client: httpx.AsyncClient) -> None:
    await create(client, email="inbox@example.com")
    assert "contact_inboxes" in (await _list(client))["payload"][0]
    assert "contact_inboxes" in (await _list(client, include_contact_inboxes="true"))["payload"][0]
    for value in ("false", "0"):
        listed = (await _list(client, include_contact_inboxes=value))["payload"][0]
        assert "contact_inboxes" not in listed
        found = (await _list(client, q="inbox", include_contact_inboxes=value))["payload"][0]
        assert "contact_inboxes" not in found


async def test_labels_filter_by_any_label_and_are_not_returned(
    client: httpx.AsyncClient, store: Store
) -> None:
    store.insert({"email": "vip@example.com", "labels": ["vip", "north"]})
    store.insert({"email": "south@example.com", "labels": ["south"]})
    store.insert({"email": "none@example.com"})

    async def emails(query: str) -> list[str]:
        response = await client.get(f"{PATH}?sort=email&{query}")
        return [contact["email"] for contact in response.json()["payload"]]

    assert await emails("labels=vip") == ["vip@example.com"]
    assert await emails("labels=VIP") == ["vip@example.com"]
    assert await emails("labels[]=vip&labels[]=south") == ["south@example.com", "vip@example.com"]
    assert await emails("labels=north,south") == ["south@example.com", "vip@example.com"]
    assert await emails("labels=nobody") == []
    assert (await _list(client, labels="vip"))["meta"]["count"] == 1
    assert all("labels" not in contact for contact in (await _list(client))["payload"])


# Search


async def test_search_is_a_case_insensitive_substring_match(
    client: httpx.AsyncClient, store: Store
) -> None:
    store.insert({"name": "Ada Lovelace", "email": "ada@analytical.example"})
    store.insert({"name": "Grace", "email": "grace@navy.example", "phone_number": "+15550100"})
    store.insert(
        {
            "name": "Linus",
            "identifier": "L-1",
            "additional_attributes": {"company_name": "Kernel Ltd"},
        }
    )

    async def names(q: str) -> list[str]:
        body = await _list(client, q=q, sort="name")
        assert body["meta"]["count"] == len(body["payload"])
        return [contact["name"] for contact in body["payload"]]

    assert await names("LOVELACE") == ["Ada Lovelace"]
    assert await names("NAVY.example") == ["Grace"]
    assert await names("5550") == ["Grace"]
    assert await names("kernel") == ["Linus"]
    assert await names("  kernel  ") == ["Linus"]
    assert await names("L-1") == ["Linus"]
    assert await names("l-1") == []  # identifier is case-sensitive
    assert await names("example") == ["Ada Lovelace", "Grace"]
    assert await names("nothing") == []


async def test_search_treats_percent_and_underscore_as_wildcards(
    client: httpx.AsyncClient, store: Store
) -> None:
    store.insert({"email": "a@b.com"})
    store.insert({"email": "xa@b.com"})
    store.insert({"email": "a@bxcom.example"})
    store.insert({"email": "q@z.org"})

    async def emails(q: str) -> list[str]:
        return [contact["email"] for contact in (await _list(client, q=q, sort="email"))["payload"]]

    assert await emails("a@b.com") == ["a@b.com", "xa@b.com"]
    assert await emails("a@b_com") == ["a@b.com", "a@bxcom.example", "xa@b.com"]
    assert await emails("a%com") == ["a@b.com", "a@bxcom.example", "xa@b.com"]
    assert await emails("a@b\\_com") == []  # a backslash escapes, as in PostgreSQL


async def test_search_pages_like_the_list(client: httpx.AsyncClient, store: Store) -> None:
    _seed_many(store, 20)
    store.insert({"email": "other@elsewhere.test"})
    first = await _list(client, q="example.com", sort="email")
    second = await _list(client, q="example.com", sort="email", page=2)
    assert first["meta"] == {"count": 20, "current_page": 1}
    assert second["meta"] == {"count": 20, "current_page": "2"}
    found = [contact["email"] for contact in first["payload"] + second["payload"]]
    assert found == [f"c{n:03d}@example.com" for n in range(20)]


async def test_a_listing_sees_writes_made_after_it(client: httpx.AsyncClient) -> None:
    await create(client, email="one@example.com")
    assert (await _list(client, sort="email"))["meta"]["count"] == 1
    contact = await create(client, email="two@example.com")
    assert (await _list(client, sort="email"))["meta"]["count"] == 2
    await client.patch(f"{PATH}/{contact['id']}", json={"email": "a-first@example.com"})
    listed = (await _list(client, sort="email"))["payload"]
    assert [item["email"] for item in listed] == ["a-first@example.com", "one@example.com"]
