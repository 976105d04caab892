"""fetch_live over HTTP against the in-process sandbox: the right contacts, few requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.engine.fetch import fetch_live
from reconciler.engine.ownership import signed
from reconciler.model import JSON, Declaration, DeclaredContact, Position
from reconciler.sandbox.store import Store
from reconciler.targets.base import marker_secret
from reconciler.targets.chatwoot import ChatwootClient, Token
from reconciler.targets.livedesk import Credentials, LiveDeskClient

pytestmark = pytest.mark.anyio


def declared(**fields: JSON) -> DeclaredContact:
    contact_id = fields.pop("id", None)
    assert contact_id is None or isinstance(contact_id, int)
    return DeclaredContact(Position("c.yaml", 1, 1), fields, id=contact_id, inbox_id=1)


def client_on(transport: httpx.AsyncBaseTransport, concurrency: int = 8) -> LiveDeskClient:
    return LiveDeskClient(
        "http://127.0.0.1",
        Credentials("sandbox", "sandbox"),
        transport=transport,
        concurrency=concurrency,
    )


def seed(app: Starlette, contacts: Sequence[Mapping[str, Any]], *, tied: bool = False) -> list[int]:
    """Stored contacts with distinct created_at, or (``tied``) one created_at for all."""
    store: Store = app.state.store
    return [
        int(store.insert({"created_at": 1_700_000_000 + (0 if tied else n), **contact})["id"])
        for n, contact in enumerate(contacts)
    ]


async def fetch(
    transport: httpx.AsyncBaseTransport, *contacts: DeclaredContact, concurrency: int = 8
) -> tuple[list[Any], int]:
    async with client_on(transport, concurrency) as client:
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
    found, requests = await fetch(asgi_transport, *wanted)
    assert found == ids
    assert requests == 3  # 40 contacts: three pages of 15, page 1 doubling as the probe


async def test_absence_is_confirmed_by_an_exact_lookup_not_by_the_listing(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    ids = seed(sandbox_app, [{"identifier": f"i-{n}"} for n in range(40)])
    nobody = declared(identifier="nobody")
    found, requests = await fetch(asgi_transport, *(declared(id=i) for i in ids), nobody)
    assert found == [*ids, None]
    assert requests == 3 + 1  # the listing, then one exact lookup for the one it lacks


@pytest.mark.parametrize("repeat", range(3))
async def test_no_existing_contact_is_called_absent_when_a_csv_import_tied_them_all(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport, repeat: int
) -> None:
    # One created_at for all 300: each listing page is a random few of them.
    ids = seed(
        sandbox_app,
        [{"identifier": f"csv-{n}", "email": f"csv{n}@example.com"} for n in range(300)],
        tied=True,
    )
    wanted = [declared(identifier=f"csv-{n}") for n in range(150)]
    wanted += [declared(email=f"CSV{n}@example.com") for n in range(150, 300)]
    found, requests = await fetch(asgi_transport, *wanted)
    assert found == ids
    assert 20 < requests < 300  # the listing, then lookups for the ones ties hid


async def test_a_contact_deleted_mid_listing_hides_no_other_contact(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    ids = seed(sandbox_app, [{"identifier": f"i-{n}"} for n in range(30)])
    store: Store = sandbox_app.state.store
    requests: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and len(requests) == 1:
            # After page 1, someone deletes i-0 in the UI: every later contact moves up
            # one place, and i-15 moves onto page 1, which was read already.
            store._db.execute("DELETE FROM contacts WHERE identifier = 'i-0'")
            store._listings.clear()
        if scope["type"] == "http":
            requests.append(scope["query_string"])
        await sandbox_app(scope, receive, send)

    found, _ = await fetch(
        httpx.ASGITransport(app=app), *(declared(identifier=f"i-{n}") for n in range(30))
    )
    assert found == ids  # i-15, missing from both pages, was found by its exact lookup
    assert any(b"q=i-15" in query for query in requests)


async def test_a_listed_contact_keeps_only_what_the_plan_reads(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    marker = '{"by":"reconciler","fields":[],"custom_attributes":["dropped"]}'
    big = {"notes": "x" * 5000, "tier": "gold", "dropped": 1}
    ids = seed(
        sandbox_app,
        [
            {
                "identifier": f"c-{n}",
                "name": f"Person {n}",
                "phone_number": f"+1415555{n:04d}",
                "custom_attributes": big,
                "additional_attributes": {"city": "Oslo", "company_name": "Big Co"},
            }
            for n in range(40)
        ],
    )
    store: Store = sandbox_app.state.store
    secret = marker_secret("livedesk", "sandbox:sandbox")  # as an apply signs it
    for contact_id in ids:
        record = store.get(contact_id)
        assert record is not None
        mark = {"managed_by_reconciler": signed(marker, contact_id, secret)}
        store.replace({**record, "custom_attributes": {**big, **mark}})
    declaration = Declaration(
        tuple(declared(identifier=f"c-{n}", custom_attributes={"tier": "gold"}) for n in range(40))
    )
    async with client_on(asgi_transport) as client:
        live = await fetch_live(client, declaration, marker_key="managed_by_reconciler")
    (first, *_) = live.contacts
    assert first is not None
    assert set(first) == {"id", "identifier", "email", "blocked", *ATTRIBUTES}
    # the declared key, the marker, and what the marker lists (a key the files may drop)
    assert set(first["custom_attributes"]) == {"tier", "managed_by_reconciler", "dropped"}
    assert first["additional_attributes"] == {}  # no file declares any of its keys


async def test_a_listed_value_equal_to_the_declared_one_is_the_declared_object(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    attributes = {"tier": "gold", "seats": 3, "vip": True, "ratio": 1.0}
    seed(
        sandbox_app,
        [
            {"identifier": f"c-{n}", "name": f"Person {n}", "custom_attributes": attributes}
            for n in range(40)
        ],
    )
    same = [
        declared(identifier=f"c-{n}", name=f"Person {n}", custom_attributes=dict(attributes))
        for n in range(20)
    ]
    # Equal in Python, not in JSON: 3.0 is not 3, 1 is not true, 1 is not 1.0.
    other = {"tier": "gold", "seats": 3.0, "vip": 1, "ratio": 1}
    unlike = [
        declared(identifier=f"c-{n}", name=f"Person {n}!", custom_attributes=other)
        for n in range(20, 40)
    ]
    async with client_on(asgi_transport) as client:
        live = await fetch_live(client, Declaration((*same, *unlike)))
    assert live.scanned  # the listing path, where values are shared
    for mine, theirs in zip((*same, *unlike), live.contacts, strict=True):
        assert theirs is not None
        assert theirs["identifier"] is mine.fields["identifier"]
    for mine, theirs in zip(same, live.contacts[:20], strict=True):
        assert theirs is not None
        assert theirs["custom_attributes"] is mine.fields["custom_attributes"]
        assert theirs["name"] is mine.fields["name"]
    for mine, theirs in zip(unlike, live.contacts[20:], strict=True):
        assert theirs is not None
        assert theirs["custom_attributes"] == attributes  # the live values, as they are
        kept = theirs["custom_attributes"]
        assert isinstance(kept, dict)
        assert [type(kept[k]) for k in ("seats", "vip", "ratio")] == [int, bool, float]
        assert theirs["custom_attributes"]["tier"] is mine.fields["custom_attributes"]["tier"]
        assert theirs["name"] == str(mine.fields["name"]).removesuffix("!")


ATTRIBUTES = ("custom_attributes", "additional_attributes")


async def test_a_nested_object_holding_every_declared_leaf_is_the_declared_object(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    profiles = {"social_profiles": {"github": "gh", "twitter": "tw"}, "city": "Oslo"}
    seed(
        sandbox_app,
        [{"identifier": f"c-{n}", "additional_attributes": profiles} for n in range(40)],
    )
    github = {"social_profiles": {"github": "gh"}}
    renamed = {"social_profiles": {"github": "gh-2"}}
    declaration = Declaration(
        tuple(
            declared(identifier=f"c-{n}", additional_attributes=github if n < 20 else renamed)
            for n in range(40)
        )
    )
    async with client_on(asgi_transport) as client:
        live = await fetch_live(client, declaration)
    assert live.scanned
    for mine, theirs in zip(declaration.contacts, live.contacts, strict=True):
        assert theirs is not None
        if mine.fields["additional_attributes"] is github:
            assert theirs["additional_attributes"] is github  # nothing of it will be sent
        else:  # a change sends the nested object whole: its undeclared keys are kept
            assert theirs["additional_attributes"] == {
                "social_profiles": profiles["social_profiles"]
            }


class SlowAnswers:
    """The sandbox with its searches (``q=``) and its pages answered ``search`` and ``page``
    seconds late; the first ``throttled`` searches answered 429 at once."""

    def __init__(self, app: Starlette, *, search: float, page: float, throttled: int = 0) -> None:
        self.app, self.search, self.page, self.throttled = app, search, page, throttled
        self.spans: list[tuple[bool, float, float]] = []
        """Each request answered: a search or not, when it came and when it was answered."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            searching = b"q=" in scope.get("query_string", b"")
            if searching and self.throttled > 0:
                self.throttled -= 1
                headers = [(b"content-type", b"text/plain"), (b"retry-after", b"0")]
                await send({"type": "http.response.start", "status": 429, "headers": headers})
                await send({"type": "http.response.body", "body": b"Retry later"})
                return
            came = time.monotonic()
            await asyncio.sleep(self.search if searching else self.page)
            self.spans.append((searching, came, time.monotonic()))
        await self.app(scope, receive, send)


def every_of_1500(app: Starlette, step: int) -> tuple[list[int], list[DeclaredContact]]:
    """An account of 100 pages, and every ``step``-th contact declared by identifier."""
    ids = seed(app, [{"identifier": f"i-{n}", "name": f"P {n}"} for n in range(1500)])
    return ids, [declared(identifier=f"i-{n}") for n in range(0, 1500, step)]


async def test_searches_far_dearer_than_pages_give_way_to_the_listing(
    sandbox_app: Starlette,
) -> None:
    ids, wanted = every_of_1500(sandbox_app, 25)
    answers = SlowAnswers(sandbox_app, search=0.3, page=0.005)
    found, requests = await fetch(httpx.ASGITransport(app=answers), *wanted)
    assert found == ids[::25]
    assert requests == 1 + 7 + 1 + 99  # page 1, 7 searches and page 1 timed, 99 pages
    searches = [(came, answered) for searching, came, answered in answers.spans if searching]
    timed = [(came, answered) for searching, came, answered in answers.spans if not searching][1]
    # Timed beside the searches, answered while they were: no lane waited for the timing.
    assert all(came < timed[1] and timed[0] < answered for came, answered in searches)


async def test_one_request_at_a_time_times_the_page_after_the_search(
    sandbox_app: Starlette,
) -> None:
    ids, wanted = every_of_1500(sandbox_app, 25)
    answers = SlowAnswers(sandbox_app, search=0.3, page=0.005)
    found, requests = await fetch(httpx.ASGITransport(app=answers), *wanted, concurrency=1)
    assert found == ids[::25]
    assert requests == 1 + 1 + 1 + 99  # page 1, one search, then page 1 timed, 99 pages
    _, search, timed = answers.spans[:3]  # (a search?, came, answered), as answered
    assert search[0] and not timed[0] and timed[1] >= search[2]  # alone, after the search


async def test_searches_as_dear_as_pages_stay_lookups(sandbox_app: Starlette) -> None:
    # 30 searches against 99 pages, both 100 ms away: the in-process sandbox's own work
    # (searching runs on the test's one thread) would need half a second a round to tip it.
    ids, wanted = every_of_1500(sandbox_app, 50)
    alike = httpx.ASGITransport(app=SlowAnswers(sandbox_app, search=0.1, page=0.1))
    found, requests = await fetch(alike, *wanted)
    assert found == ids[::50]
    assert requests == 1 + 30 + 1  # one search each (fewer than 99 pages), page 1 timed


async def test_a_search_answered_429_keeps_the_lookups(sandbox_app: Starlette) -> None:
    # A rate limit would meet the listing's many more requests too.
    ids, wanted = every_of_1500(sandbox_app, 25)
    limited = SlowAnswers(sandbox_app, search=0.3, page=0.005, throttled=1)
    found, requests = await fetch(httpx.ASGITransport(app=limited), *wanted)
    assert found == ids[::25]
    assert requests == 1 + 60 + 1 + 1  # a 429 retried, page 1 timed


MARKER = "managed_by_reconciler"
MARKED = '{"by":"reconciler","fields":["name"],"additional_attributes":[],"custom_attributes":[]}'


def chatwoot_on(transport: httpx.AsyncBaseTransport) -> ChatwootClient:
    return ChatwootClient("http://127.0.0.1", Token("sandbox-token"), 1, transport=transport)


def signed_seed(app: Starlette, contacts: Sequence[Mapping[str, Any]]) -> list[int]:
    """``seed``, each marker signed as an apply through the Chatwoot client signs it."""
    ids = seed(app, contacts)
    store: Store = app.state.store
    secret = marker_secret("chatwoot", "sandbox-token")
    for contact_id in ids:
        record = store.get(contact_id)
        assert record is not None
        attributes = record["custom_attributes"]
        if MARKER in attributes:
            mark = signed(attributes[MARKER], contact_id, secret)
            store.replace({**record, "custom_attributes": {**attributes, MARKER: mark}})
    return ids


def managed(identifier: str, *, labelled: bool) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "name": identifier,
        "custom_attributes": {MARKER: MARKED},
        "labels": [MARKER] if labelled else [],
    }


async def test_the_managed_contacts_no_file_declares_are_found_by_the_markers_label(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    seed(sandbox_app, [{"identifier": f"other-{n}"} for n in range(150)])  # 10 pages
    ada, gone, _hidden = signed_seed(
        sandbox_app,
        [
            managed("ada", labelled=True),
            managed("gone", labelled=True),
            managed("hidden", labelled=False),  # its label was taken off by hand
        ],
    )
    files = Declaration((declared(identifier="ada", name="ada"),))
    async with chatwoot_on(asgi_transport) as client:
        before = client.request_count
        live = await fetch_live(client, files, marker_key=MARKER, scan=True, label=MARKER)
        requests = client.request_count - before
    assert [None if c is None else c["id"] for c in live.contacts] == [ada]
    assert live.labeled == frozenset({ada, gone})
    assert [orphan["id"] for orphan in live.orphans] == [gone]  # not hidden: no label
    assert requests == 1 + 1  # one filter for ada, one page of the labelled; none of 153


async def test_a_declared_contact_without_the_label_makes_the_scan_read_everyone(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    seed(sandbox_app, [{"identifier": f"other-{n}"} for n in range(150)])
    _ada, gone, hidden = signed_seed(
        sandbox_app,
        [
            managed("ada", labelled=False),  # marked before the label existed
            managed("gone", labelled=True),
            managed("hidden", labelled=False),
        ],
    )
    files = Declaration((declared(identifier="ada", name="ada"),))
    async with chatwoot_on(asgi_transport) as client:
        live = await fetch_live(client, files, marker_key=MARKER, scan=True, label=MARKER)
    assert live.labeled == frozenset({gone})
    assert sorted(orphan["id"] for orphan in live.orphans) == [gone, hidden]
    assert live.scanned


async def test_without_a_label_the_scan_reads_everyone(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    seed(sandbox_app, [{"identifier": f"other-{n}"} for n in range(150)])
    _ada, gone = signed_seed(
        sandbox_app, [managed("ada", labelled=True), managed("gone", labelled=True)]
    )
    files = Declaration((declared(identifier="ada", name="ada"),))
    async with chatwoot_on(asgi_transport) as client:
        before = client.request_count
        live = await fetch_live(client, files, marker_key=MARKER, scan=True)
        requests = client.request_count - before
    assert live.labeled is None
    assert [orphan["id"] for orphan in live.orphans] == [gone]
    assert requests >= 11  # every page of 152 contacts


async def test_a_fully_tied_listing_finds_every_dropped_contact_in_two_walks(
    sandbox_app: Starlette, asgi_transport: httpx.ASGITransport
) -> None:
    # An import: 600 contacts with emails, one created_at for all (the default order's
    # worst case), 12 of them managed and dropped from the files.
    people = [{"identifier": f"p-{n}", "email": f"p{n}@example.com"} for n in range(588)]
    dropped = [
        {**managed(f"gone-{n}", labelled=False), "email": f"gone{n}@example.com"} for n in range(12)
    ]
    store: Store = sandbox_app.state.store
    for contact in [*people, *dropped]:
        store.insert({"created_at": 1_700_000_000, **contact})
    secret = marker_secret("livedesk", "sandbox:sandbox")
    for record in store.all():
        attributes = record["custom_attributes"]
        if MARKER in attributes:
            mark = signed(attributes[MARKER], int(record["id"]), secret)
            store.replace({**record, "custom_attributes": {**attributes, MARKER: mark}})
    files = Declaration((declared(identifier="p-0"),))
    async with client_on(asgi_transport) as client:
        live = await fetch_live(client, files, marker_key=MARKER, scan=True)
        pages = client.request_count
    assert sorted(o["identifier"] for o in live.orphans) == sorted(c["identifier"] for c in dropped)
    assert live.unseen == 0
    # The first walk misses what the ties hide; the next, by email (no ties), ends it.
    assert 600 // 15 < pages <= 2 * 600 // 15 + 2, pages  # two walks, no more
