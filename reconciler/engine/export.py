"""Live contacts -> the contacts of contact files: what ``reconciler export`` writes, so a
team can adopt the contacts the desk already has, and ``plan`` on the result prints
``No changes.`` (``reconciler.outputs.contactfiles`` writes them as YAML.)

Each contact is written with its ``id`` and every managed field it has: ``name``,
``blocked: true`` (never ``false``), the attribute objects (keys sorted, values with their
JSON types), and ``email``, ``phone_number`` and ``identifier`` when set. A blank one (null
or ``""``, alike to the server) is left out rather than written as null, which would make
plan clear any value someone adds later. Server-managed fields are never written. A live
value that a contact file can't declare (the schema wants text and the server holds a
number) is left out with a note: unmanaged, it stays as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.concurrency import gather_bounded
from reconciler.errors import IncompleteError, InputError, NotFoundError
from reconciler.fields import ATTRIBUTE_OBJECTS, BLANK_IS_NULL, KEY_FIELDS, SCALARS, comparable
from reconciler.input.check import CONTACTS_SCHEMA
from reconciler.input.declaration import YAML_SUFFIXES, yaml_files_under
from reconciler.input.document import load_document, read_regular_file
from reconciler.input.schemas import validator_for
from reconciler.model import JSON, Contact
from reconciler.targets.base import ContactsApi

EXPORT_WALKS = 12
"""Walks over the listing, each in another order (the API's sort keys, each way): export has
no other way to find a contact ties hide from one, and writes nothing until it has seen
every contact the listing counts."""
FIELD_ORDER = (*KEY_FIELDS, *(f for f in SCALARS if f not in KEY_FIELDS))
"""The scalars, written in this order after ``id``, as the example files have them."""
UNLISTED_NOTE = (
    "the listing leaves out contacts with no email, phone_number or identifier "
    "(they are reachable by id only), so export can't find them; declare any whose id you "
    "know as `- id: N` in the exported files and export again to fill them in"
)


@dataclass(frozen=True, slots=True)
class Export:
    """What one export found: the contacts to write, sorted by id, and notes for stderr."""

    contacts: tuple[dict[str, JSON], ...]
    inbox_id: int | None  # the inbox most of them are in, for ``defaults``
    notes: tuple[str, ...]


# Reading --------------------------------------------------------------------------------


async def read_export(
    client: ContactsApi,
    *,
    query: str | None,
    known_ids: Collection[int] = (),
    marker_key: str | None = None,
) -> Export:
    """The listed contacts (or the search's, with ``query``), plus ``known_ids`` by id.

    ``known_ids`` are ids the files already declare: contacts the listing can't return are
    read one by one, so exporting again over the same files keeps them.
    """
    notes: list[str] = []
    if query is not None:
        found = await client.search_contacts(
            query, include_contact_inboxes=True, walks=EXPORT_WALKS
        )
        added = client.capabilities.search_adds
        live = [_without_search_keys(contact, added) for contact in found]
    else:
        live, count = await client.list_counted(include_contact_inboxes=True, walks=EXPORT_WALKS)
        if len(live) < count:
            raise IncompleteError(
                f"{client.capabilities.service} counts {count} listed contacts, but {EXPORT_WALKS} "
                f"walks of its listing in {EXPORT_WALKS} orders showed {len(live)}: "
                f"{count - len(live)} missing (ties in its order hid them, or contacts were "
                "added meanwhile); nothing was written. Export again, or export the ones you "
                "need with --query"
            )
        if not client.capabilities.lists_unkeyed:
            notes.append(UNLISTED_NOTE)
        listed = {int(contact["id"]) for contact in live}
        unlisted = sorted(set(known_ids) - listed)
        if unlisted:
            fetched = await gather_bounded(
                (_contact_or_none(client, contact_id) for contact_id in unlisted),
                limit=client.concurrency * 2,
            )
            gone = [cid for cid, contact in zip(unlisted, fetched, strict=True) if not contact]
            live.extend(contact for contact in fetched if contact is not None)
            if len(gone) < len(unlisted):
                notes.append(
                    f"read {len(unlisted) - len(gone)} contact(s) the listing can't return "
                    "by the ids the existing files declare"
                )
            if gone:
                notes.append(
                    f"the target has no contact with id {some(gone)} any more, though the "
                    "existing files declare it: left out"
                )
    live.sort(key=lambda contact: int(contact["id"]))
    contacts = [exported_contact(contact, marker_key) for contact in live]
    notes.extend(drop_undeclarable(contacts))
    return Export(tuple(contacts), default_inbox(live), tuple(notes))


async def _contact_or_none(client: ContactsApi, contact_id: int) -> Contact | None:
    try:
        return await client.get_contact(contact_id)
    except NotFoundError:
        return None


def _without_search_keys(contact: Contact, added: Collection[str]) -> Contact:
    """The contact without what search results add to ``additional_attributes`` (not stored)."""
    attributes = contact.get("additional_attributes")
    if not isinstance(attributes, Mapping) or not attributes.keys() & set(added):
        return contact
    kept = {key: value for key, value in attributes.items() if key not in added}
    return {**contact, "additional_attributes": kept}


def some(items: Sequence[object], limit: int = 20) -> str:
    """The first ``limit`` items, and how many more there are."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def known_ids(path: str | None) -> set[int]:
    """The ids that the contact files already at ``path`` declare (read leniently)."""
    if path is None or not Path(path).exists():
        return set()
    root = Path(path)
    if root.is_file():
        files = [root] if root.suffix in YAML_SUFFIXES else []
    else:
        files = [Path(file) for file in yaml_files_under(path)]
    return {value for (field, value) in declared_keys(files) if field == "id"}


def declared_keys(files: Iterable[Path]) -> dict[tuple[str, JSON], Path]:
    """What finds each contact the files declare, (field, value), and the file declaring it.

    Read leniently: a file with problems (which export is about to overwrite) still gives
    the keys it holds; only one that isn't YAML at all gives none.
    """
    keys: dict[tuple[str, JSON], Path] = {}
    for file in files:
        try:
            data = load_document(str(file), read_regular_file(str(file))).data
        except (InputError, OSError):
            continue
        contacts = data.get("contacts") if isinstance(data, dict) else None
        for contact in contacts if isinstance(contacts, list) else ():
            if isinstance(contact, dict):
                for key in contact_keys(contact):
                    keys.setdefault(key, file)
    return keys


def contact_keys(contact: Mapping[str, JSON]) -> list[tuple[str, JSON]]:
    """Every key that could find ``contact``: its id, and its key fields' values."""
    keys: list[tuple[str, JSON]] = []
    if type(contact.get("id")) is int:
        keys.append(("id", contact["id"]))
    for name in KEY_FIELDS:
        value = contact.get(name)
        if isinstance(value, str) and value:
            keys.append((name, comparable(name, value)))
    return keys


# Contacts -> declared contacts ----------------------------------------------------------


def exported_contact(contact: Contact, marker_key: str | None = None) -> dict[str, JSON]:
    """The contact as a file declares it: id, then the managed fields it has; never the
    ownership marker (under ``marker_key``)."""
    declared: dict[str, JSON] = {"id": int(contact["id"])}
    for field in FIELD_ORDER:
        value = contact.get(field)
        if field in BLANK_IS_NULL and value in (None, ""):
            continue
        if field == "blocked" and value is not True:
            # Not `blocked: false`: declared, every apply would unblock (and so unmute, on
            # Chatwoot) each contact an agent blocked or whose conversation they muted.
            continue
        declared[field] = value
    for name in ATTRIBUTE_OBJECTS:
        attributes = contact.get(name)
        if isinstance(attributes, Mapping) and name == "custom_attributes" and marker_key:
            attributes = {k: v for k, v in attributes.items() if k != marker_key}
        if isinstance(attributes, Mapping) and attributes:
            declared[name] = _sorted(attributes)
    return declared


def _sorted(value: JSON) -> JSON:
    """Mappings with their keys sorted, at every depth: the same data, the same text."""
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def drop_undeclarable(contacts: list[dict[str, JSON]]) -> list[str]:
    """Remove, in place, each value the contacts schema refuses; a note for each.

    A field goes whole; an attribute goes by its top-level key (a nested object such as
    ``social_profiles`` is managed whole, so half of one would plan a loss).
    """
    document = {"contacts": contacts}
    doomed: dict[tuple[int, str, str | None], str] = {}
    for error in validator_for(CONTACTS_SCHEMA).iter_errors(document):
        path = list(error.absolute_path)
        if len(path) < 3 or path[0] != "contacts":
            raise AssertionError(f"export made a file the schema refuses: {error.message}")
        index, field = int(path[1]), str(path[2])
        key = str(path[3]) if field in ATTRIBUTE_OBJECTS and len(path) > 3 else None
        at = ".".join(str(part) for part in path[2:])
        doomed.setdefault((index, field, key), f"{_describe(error.instance)} at {at}")
    notes = []
    for (index, field, key), what in sorted(doomed.items(), key=lambda item: item[0][0]):
        contact = contacts[index]
        if key is None:
            contact.pop(field, None)
        else:
            contact[field].pop(key, None)
            if not contact[field]:
                del contact[field]
        left_out = field if key is None else f"{field}.{key}"
        notes.append(
            f"contact {contact['id']}: {left_out} left out: LiveDesk holds {what}, which a "
            "contact file can't declare; it stays unmanaged"
        )
    return notes


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text the schema doesn't accept"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null"


def default_inbox(contacts: Iterable[Contact]) -> int | None:
    """The inbox most of the contacts are in (the lowest id on a tie), if any is known."""
    counts: Counter[int] = Counter()
    for contact in contacts:
        for contact_inbox in contact.get("contact_inboxes") or ():
            inbox = contact_inbox.get("inbox") if isinstance(contact_inbox, Mapping) else None
            inbox_id = inbox.get("id") if isinstance(inbox, Mapping) else None
            if type(inbox_id) is int and inbox_id >= 1:
                counts[inbox_id] += 1
    if not counts:
        return None
    return min(counts, key=lambda inbox_id: (-counts[inbox_id], inbox_id))
