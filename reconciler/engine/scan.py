"""What a plan reads besides the declared contacts: the managed contacts no file declares
(the orphans, found in the listing, in the label's listing, or as those git says the files
dropped), the ones marked by someone else, the stray labels of a failed release, and what
a delete would destroy with a contact."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from reconciler.concurrency import gather_bounded
from reconciler.engine import resolve
from reconciler.engine.lookups import fetch_exactly
from reconciler.engine.ownership import live_marker, marker_text, orphans_among
from reconciler.engine.projection import Projection
from reconciler.model import Contact, ContactKey, Declaration
from reconciler.targets.base import ContactsApi

log = logging.getLogger(__name__)


ORPHAN_WALKS = 5
"""Walks over the listing while ties hide contacts from it, each after the first in another
order (email, then phone number, each way): an orphan missed is only removed a plan later
(and the plan says it may have missed some), but the walks are what the scan costs."""


def outside_the_files(
    listed: list[Contact],
    contacts: list[Contact | None],
    labeled: frozenset[int] | None,
    marker_key: str,
    secret: bytes,
) -> tuple[tuple[Contact, ...], tuple[Contact, ...], tuple[Contact, ...]]:
    """Of the listed contacts no file declares: those reconciler manages (the orphans),
    those marked by someone else, and those with the marker's label alone."""
    orphans, foreign = orphans_among(listed, contacts, marker_key, secret)
    stray = () if labeled is None else stray_labels(listed, contacts, labeled, marker_key)
    return orphans, foreign, stray


async def dropped(client: ContactsApi, declaration: Declaration) -> list[Contact]:
    """The live contacts of those the files dropped since a commit (a partial plan's), but
    the ones a value of a contact the files still declare finds: looked up exactly, with
    their labels where the target keeps them apart (what a release takes off)."""
    found = await fetch_exactly(client, declaration.dropped, lambda _count: None)
    elsewhere = declaration.elsewhere
    contacts = [
        contact
        for contact in {int(c["id"]): c for c in found.values() if c is not None}.values()
        if ContactKey("id", int(contact["id"])) not in elsewhere
        and not any(key in elsewhere for key in resolve.live_keys(contact))
    ]
    if not client.capabilities.writes_labels:
        return contacts
    labels = await gather_bounded(
        (client.get_labels(int(contact["id"])) for contact in contacts),
        limit=client.concurrency * 2,
    )
    return [{**contact, "labels": found} for contact, found in zip(contacts, labels, strict=True)]


def stray_labels(
    listed: list[Contact],
    contacts: list[Contact | None],
    labeled: frozenset[int],
    marker_key: str,
) -> tuple[Contact, ...]:
    """The contacts no file declares that have the marker's label and no marker at all: a
    release whose label write failed left it (the next plan takes it off)."""
    declared = {int(contact["id"]) for contact in contacts if contact is not None}
    stray = {
        int(contact["id"]): contact
        for contact in listed
        if int(contact["id"]) in labeled
        and int(contact["id"]) not in declared
        and marker_text(contact, marker_key) is None
    }
    return tuple(stray.values())


def absent_contacts(declaration: Declaration, contacts: list[Contact | None]) -> list[Contact]:
    return [
        contact
        for declared, contact in zip(declaration.contacts, contacts, strict=True)
        if declared.absent and contact is not None
    ]


async def count_conversations(client: ContactsApi, contacts: list[Contact]) -> dict[int, int]:
    """Each contact's conversations: one request a contact (removals are few)."""
    ids = list(dict.fromkeys(int(contact["id"]) for contact in contacts))
    counts = await gather_bounded(
        (client.count_conversations(contact_id) for contact_id in ids),
        limit=client.concurrency * 2,
    )
    return dict(zip(ids, counts, strict=True))


async def labeled_scan(
    client: ContactsApi,
    keep: Projection,
    contacts: list[Contact | None],
    marker_key: str,
    label: str,
) -> tuple[list[Contact], frozenset[int], int, bool]:
    """The contacts with the marker's label (and their ids); the whole listing too while
    a declared contact has the marker and not the label; how many the listing counted and
    no walk showed; and whether the whole listing was read."""
    with_label, count = await client.list_counted(walks=ORPHAN_WALKS, keep=keep, label=label)
    unseen = max(count - len(with_label), 0)
    labeled = frozenset(int(contact["id"]) for contact in with_label)
    unlabeled = _unlabeled(contacts, labeled, marker_key)
    if not unlabeled:
        return with_label, labeled, unseen, False
    log.info(
        "%d managed contact(s) lack the label %r: reading the whole account for the ones no "
        "file declares (an apply labels them)",
        unlabeled,
        label,
    )
    listed, count = await client.list_counted(walks=ORPHAN_WALKS, keep=keep)
    return [*listed, *with_label], labeled, max(count - len(listed), 0), True


def _unlabeled(contacts: Iterable[Contact | None], labeled: frozenset[int], marker_key: str) -> int:
    """How many of ``contacts`` have the marker and not the label."""
    return sum(
        1
        for contact in contacts
        if contact is not None
        and int(contact["id"]) not in labeled
        and live_marker(contact, marker_key) is not None
    )
