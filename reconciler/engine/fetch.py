"""Read the live state of the declared contacts in as few round trips as the API allows.

Three ways to find a contact, chosen by request count (and, where a lookup may cost far
more than a page, by time):

* one GET per contact declared with an ``id``;
* exact lookups of the contacts known only by identifier or email, as many a request as
  the target allows (``Capabilities.keys_per_lookup``: LiveDesk one search each, Chatwoot
  a filter of several);
* the whole paged listing (the target's page size), when that takes fewer requests than
  the two above, or when a first round of lookups shows it to take less time (a search
  may cost the server a scan of the account). A listing proves that a contact exists,
  never that it doesn't: it leaves out contacts with no email, phone or identifier, and
  the server orders ties in the sort key differently for each page, so a walk repeats
  some contacts and misses others. A declared contact the listing doesn't return is
  looked up exactly (GET by id, or the exact search) before plan may call it absent.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Mapping

from reconciler.concurrency import gather_all, gather_bounded
from reconciler.engine import resolve
from reconciler.engine.lookups import ProgressCallback, fetch_exactly, lookup_requests
from reconciler.engine.ownership import (
    marker_text,
    trusted,
    verified,
)
from reconciler.engine.projection import Projection, projection
from reconciler.engine.scan import (
    ORPHAN_WALKS,
    absent_contacts,
    count_conversations,
    labeled_scan,
    outside_the_files,
)
from reconciler.engine.scan import dropped as read_dropped
from reconciler.model import Contact, ContactKey, Declaration, LiveState
from reconciler.targets.base import ContactsApi

log = logging.getLogger(__name__)


async def fetch_live(
    client: ContactsApi,
    declaration: Declaration,
    *,
    on_progress: ProgressCallback | None = None,
    marker_key: str | None = None,
    scan: bool = False,
    label: str | None = None,
    conversations: bool = False,
) -> LiveState:
    """The live contact of each declared one; with ``marker_key``, also the listed
    contacts that carry the ownership marker and that none of them is (the orphans).

    ``scan`` reads the listing for them even where lookups would take fewer requests;
    without it they come for free when the listing is the cheaper way anyway. With
    ``label`` (the marker's label, on a target that writes labels) the scan reads the
    contacts with that label alone (``labeled``: their ids), and the whole listing only
    while some declared contact has the marker but not the label (until an apply has
    labelled them all). Where the whole listing is the cheaper way anyway, it is the scan,
    and which contacts have the label stays unknown (None): none is labelled then.
    With ``conversations`` (a delete is the policy), the conversations of each contact a
    plan may delete (the orphans, and the declared ``absent: true``) are counted.
    """
    keys = [contact.key for contact in declaration.contacts]
    advance = on_progress or (lambda _count: None)
    requests_before = client.request_count
    scan_all = scan and label is None

    found: dict[ContactKey, Contact | None]
    listed: list[Contact] = []
    read_all = all_seen = False
    unseen = 0  # contacts the listing counted and no walk of it showed
    keep: Projection | None = None
    lookups = lookup_requests(keys, client.capabilities.keys_per_lookup)
    # The listing costs at least one request: with one lookup or none it never wins, unless
    # the orphans are sought, which only the whole listing shows.
    if lookups > 1 or scan_all:
        first_page, total = await client.list_page(1)
        pages = math.ceil(total / client.capabilities.page_size)
        found = {}
        listing = scan_all or pages <= lookups
        if not listing:
            found, listing = await _lookups_unless_slower(client, keys, advance, pages)
        if listing:
            walks = ORPHAN_WALKS if scan else 1
            keep = projection(declaration, marker_key)
            listed = await client.list_contacts(
                first_page=(first_page, total), walks=walks, keep=keep
            )
            read_all = True
            all_seen = len(listed) >= total
            unseen = max(total - len(listed), 0)
            rest = [key for key in keys if key not in found]
            found.update(await _fetch_by_listing(client, rest, keep.matched, advance))
    else:
        found = await fetch_exactly(client, keys, advance)
    contacts, found_by, holders = await _resolve(
        client,
        declaration,
        found,
        keep.matched if keep is not None else None,
        all_seen=all_seen,
        marker_key=marker_key,
    )
    if marker_key is not None:
        contacts = [trusted(contact, marker_key, client.marker_secret) for contact in contacts]
    await _read_labels(client, declaration, contacts)
    labeled: frozenset[int] | None = None
    if declaration.selection is not None:
        # A partial plan's orphans are the contacts dropped since its commit alone: a
        # listing also shows contacts that files it doesn't cover still declare.
        dropped = marker_key is not None and declaration.dropped
        listed = await read_dropped(client, declaration) if dropped else []
    if scan and label is not None and marker_key is not None and not read_all:
        keep = projection(declaration, marker_key)
        listed, labeled, unseen, read_all = await labeled_scan(
            client, keep, contacts, marker_key, label
        )
    orphans, foreign, stray = (
        ((), (), ())
        if marker_key is None
        else outside_the_files(listed, contacts, labeled, marker_key, client.marker_secret)
    )
    counted: dict[int, int] = {}
    if conversations and client.capabilities.conversations_shown:
        doomed = [*orphans, *absent_contacts(declaration, contacts)]
        counted = await count_conversations(client, doomed)
    requests = client.request_count - requests_before
    log.debug("fetched %d declared contacts in %d requests", len(keys), requests)
    return LiveState(
        contacts=tuple(contacts),
        requests=requests,
        orphans=orphans,
        scanned=read_all or labeled is not None,
        marker_key=marker_key,
        labeled=labeled,
        found_by=tuple(found_by),
        holders=holders,
        conversations=counted,
        unseen=unseen if scan else 0,
        foreign=foreign,
        stray=stray,
    )


async def _resolve(
    client: ContactsApi,
    declaration: Declaration,
    found: dict[ContactKey, Contact | None],
    listed: Mapping[ContactKey, Contact] | None,
    *,
    all_seen: bool,
    marker_key: str | None,
) -> tuple[list[Contact | None], list[str | None], dict[ContactKey, Contact]]:
    """Each declared contact's live contact, adopted ones included; the field that found
    each adopted one; and who holds the other unique values the contacts declare
    (engine.resolve). ``listed``: the listing's contacts by the declared values they hold,
    when it was read. What neither tells is looked up, in one batched round. A contact
    with the ownership marker (``marker_key``) that another of a declared contact's values
    finds is followed, its key changed, where no declared key finds it."""
    if listed is None:  # the contacts found so far may hold another's declared values
        listed = {
            key: contact
            for contact in found.values()
            if contact is not None
            for key in resolve.live_keys(contact)
        }
    holders, wanted = resolve.unresolved(declaration.contacts, found, listed, all_seen=all_seen)
    if wanted:
        log.debug("looking up %d more declared unique values", len(wanted))
        looked = await fetch_exactly(client, wanted, lambda _count: None)
        holders.update((key, contact) for key, contact in looked.items() if contact is not None)

    def managed(contact: Contact) -> bool:
        return marker_key is not None and verified(
            marker_text(contact, marker_key), int(contact["id"]), client.marker_secret
        )

    contacts, found_by = resolve.adopt(declaration.contacts, found, holders, managed)
    return contacts, found_by, holders


async def _read_labels(
    client: ContactsApi, declaration: Declaration, contacts: list[Contact | None]
) -> None:
    """Put each declared contact's labels on its live contact, where the target keeps
    them apart from the contact object (one request each, for those that declare labels)."""
    if not client.capabilities.writes_labels:
        return
    wanted = [
        index
        for index, declared in enumerate(declaration.contacts)
        if "labels" in declared.fields and contacts[index] is not None
    ]

    async def read(index: int) -> None:
        contact = contacts[index]
        if contact is not None:
            contacts[index] = {**contact, "labels": await client.get_labels(int(contact["id"]))}

    await gather_bounded((read(index) for index in wanted), limit=client.concurrency * 2)


SLOWER = 1.25
"""How much longer the lookups left must be expected to take than the listing for the
listing to replace them: its estimate (one page's round trip) is the optimistic one."""


async def _lookups_unless_slower(
    client: ContactsApi,
    keys: list[ContactKey],
    advance: ProgressCallback,
    pages: int,
) -> tuple[dict[ContactKey, Contact | None], bool]:
    """Each key's contact by exact lookups; or, when a first round of them shows that the
    listing reads them sooner, what that round found and True (the listing reads the rest).

    Lookups take fewer requests, but a lookup may cost the server far more than a page: a
    search scans the whole account, and may have a rate limit of its own. The round is
    the searches (ids are read as cheaply as pages), one request fewer than go at once; a
    page is timed beside it, in the lane it leaves, so that no lane waits for the timing
    (page 1 again: the session's first request also paid for setting it up).
    """
    unique = list(dict.fromkeys(keys))
    size = max(client.capabilities.keys_per_lookup, 1)
    others = [key for key in unique if key.field != "id"]
    first = others[: max(client.concurrency - 1, 1) * size]
    if not first or len(first) == len(others):
        return await fetch_exactly(client, unique, advance), False
    requests_before = client.request_count
    found: dict[ContactKey, Contact | None] = {}

    async def timed(work: Awaitable[object]) -> float:
        started = time.perf_counter()
        await work
        return time.perf_counter() - started

    async def first_round() -> None:
        found.update(await fetch_exactly(client, first, advance))

    if client.concurrency > 1:
        took, page_took = await gather_all([timed(first_round()), timed(client.list_page(1))])
    else:  # one request at a time: the page would wait for the round
        took = await timed(first_round())
        page_took = await timed(client.list_page(1))
    sent = client.request_count - requests_before
    round_requests = math.ceil(len(first) / size)
    page_rate = client.concurrency / max(page_took, 1e-6)
    page_rate = min(page_rate, client.rate or page_rate)
    rest = [key for key in unique if key not in found]
    ids = sum(1 for key in rest if key.field == "id")
    requests_left = lookup_requests(rest, size)
    lookups_left = (requests_left - ids) * took / round_requests + ids / page_rate
    listing = (pages - 1) / page_rate
    # A retry in the round means a rate limit: the listing's many requests would meet it too.
    faster = sent == round_requests + 1 and listing * SLOWER < lookups_left
    log.debug(
        "%d more lookups would take about %.1f s, the listing's %d pages about %.1f s: %s",
        requests_left,
        lookups_left,
        pages - 1,
        listing,
        "the listing" if faster else "the lookups",
    )
    if faster:
        return found, True
    found.update(await fetch_exactly(client, rest, advance))
    return found, False


async def _fetch_by_listing(
    client: ContactsApi,
    keys: list[ContactKey],
    index: Mapping[ContactKey, Contact],
    advance: ProgressCallback,
) -> dict[ContactKey, Contact | None]:
    found: dict[ContactKey, Contact | None] = {}
    missing: list[ContactKey] = []
    for key in dict.fromkeys(keys):
        if key in index:
            found[key] = index[key]
        else:
            missing.append(key)  # a listing can't prove absence: look it up exactly
    advance(len(keys) - len(missing))
    found.update(await fetch_exactly(client, missing, advance))
    return found
