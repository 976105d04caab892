"""Whether a saved plan still holds: each of its contacts read again before apply sends
anything, and each unique value it would set looked up (``find_stale``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reconciler.changes import REMOVALS, Action, Change, OperationKind, Plan
from reconciler.concurrency import gather_bounded
from reconciler.engine import labels, resolve
from reconciler.engine.apply import marker_moved
from reconciler.engine.diff import live_value, strict_equal, values_match
from reconciler.engine.lookups import read_contact
from reconciler.fields import ATTRIBUTE_OBJECTS
from reconciler.model import ABSENT, JSON, Contact, ContactKey
from reconciler.targets.base import ContactsApi


@dataclass(frozen=True, slots=True)
class Stale:
    """A contact of a saved plan whose live state moved after the plan was made."""

    change: Change
    reason: str
    # The contact the plan's id finds no longer holds the plan's key: it is named by its id
    # alone, as the desk knows it (a plan's label would name another person).
    elsewhere: bool = False

    def __str__(self) -> str:
        named = self.change.label
        if self.elsewhere:
            named = (
                f"id {self.change.id}, which the desk no longer knows by the plan's "
                f"{self.change.key.field}"
            )
        return f"{named} ({self.change.where}): {self.reason}"


def _stale(change: Change, reason: str, live: Contact) -> Stale:
    key = change.key
    return Stale(change, reason, key.field != "id" and not resolve.holds(live, key))


async def find_stale(client: ContactsApi, plan: Plan) -> list[Stale]:
    """Re-read every contact of ``plan``; each whose live values moved since, and how.

    A create is stale once any unique value it sets finds a contact, and an update once a
    unique value it sets belongs to another: the desk would refuse either write. Those
    values are looked up in one batched round.
    """
    wanted = list(
        dict.fromkeys(key for change in plan.changes for key in resolve.values_set(change))
    )
    holders = dict(zip(wanted, await client.lookup(wanted), strict=True)) if wanted else {}

    def taken(change: Change) -> Stale | None:
        for key in resolve.values_set(change):
            holder = holders.get(key)
            if holder is None or holder["id"] == change.id:
                continue
            if change.action is Action.CREATE:
                return Stale(change, f"now exists (id {holder['id']}, found by {key.field})")
            return Stale(change, f"its {key.field} now belongs to contact id {holder['id']}")
        return None

    async def check(change: Change) -> Stale | None:
        if change.action is Action.CREATE:
            return taken(change)
        live = await read_contact(client, ContactKey("id", change.id or 0))
        if live is None:
            return Stale(change, "no longer exists")
        if change.action in (Action.RELEASE, *REMOVALS) and plan.marker_key is not None:
            moved_marker = marker_moved(live, change, plan.marker_key)
            if moved_marker is not None:
                return _stale(change, moved_marker, live)
        if any(labels.is_label(field) for field in change.fields):
            live = {**live, labels.FIELD: await client.get_labels(int(live["id"]))}
        moved = _moved_paths(change, live)
        if moved:
            return _stale(change, f"changed since the plan was made: {', '.join(moved)}", live)
        found = taken(change)
        return None if found is None else _stale(found.change, found.reason, live)

    results = await gather_bounded(
        (check(change) for change in plan.changes), limit=client.concurrency * 2
    )
    return [result for result in results if result is not None]


def _moved_paths(change: Change, live: Contact) -> list[str]:
    """The planned paths whose live value is no longer the plan's ``before``."""
    live_labels = labels.live_labels(live.get(labels.FIELD))
    moved = [
        f"{field.path} {field.before if field.after is ABSENT else field.after!r}"
        if labels.is_label(field)
        else field.path
        for field in change.fields
        if (
            not labels.as_before(field, live_labels)
            if labels.is_label(field)
            else not values_match(field.path, live_value(live, field.key_path), field.before)
        )
    ]
    # A nested object is sent whole, so every key of it must still be as planned: else the
    # PATCH would put back old values, and drop keys added since.
    moved += [
        ".".join(keys)
        for keys, planned in _objects_sent_whole(change)
        if ".".join(keys) not in moved and not strict_equal(live_value(live, keys), planned)
    ]
    return moved


def _objects_sent_whole(change: Change) -> Iterator[tuple[tuple[str, ...], JSON]]:
    """Each nested object the change's update sends whole, as it was when planned."""
    befores = {field.key_path: field.before for field in change.fields}
    for operation in change.operations:
        if operation.kind is not OperationKind.UPDATE:
            continue
        for name in ATTRIBUTE_OBJECTS:
            for key, sent in (operation.body.get(name) or {}).items():
                keys = (name, key)
                if isinstance(sent, dict) and keys not in befores:
                    yield keys, _reverted(sent, keys, befores)


def _reverted(
    sent: Mapping[str, JSON], keys: tuple[str, ...], befores: Mapping[tuple[str, ...], JSON]
) -> JSON:
    """``sent`` with each changed leaf under ``keys`` put back to its value before."""
    result = copy.deepcopy(dict(sent))
    for leaf, before in befores.items():
        if leaf[: len(keys)] != keys or len(leaf) == len(keys):
            continue
        *parents, last = leaf[len(keys) :]
        parent = result
        for part in parents:
            parent = parent[part]
        if before is ABSENT:
            del parent[last]
        else:
            parent[last] = before
    return result
