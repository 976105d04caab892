"""Whether a saved plan still holds: each of its contacts read again before apply sends
anything, and each unique value it would set looked up (``find_stale``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reconciler.concurrency import gather_bounded
from reconciler.engine import labels, resolve
from reconciler.engine.apply import marker_moved
from reconciler.engine.diff import live_value, strict_equal, values_match
from reconciler.engine.fetch import read_contact
from reconciler.fields import ATTRIBUTE_OBJECTS
from reconciler.model import (
    ABSENT,
    JSON,
    REMOVALS,
    Action,
    Change,
    Contact,
    ContactKey,
    OperationKind,
    Plan,
)
from reconciler.targets.base import ContactsApi


@dataclass(frozen=True, slots=True)
class Stale:
    """A contact of a saved plan whose live state moved after the plan was made."""

    change: Change
    reason: str

    def __str__(self) -> str:
        return f"{self.change.label} ({self.change.where}): {self.reason}"


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
                return Stale(change, moved_marker)
        if any(labels.is_label(field) for field in change.fields):
            live = {**live, labels.FIELD: await client.get_labels(int(live["id"]))}
        moved = _moved_paths(change, live)
        if moved:
            return Stale(change, f"changed since the plan was made: {', '.join(moved)}")
        return taken(change)

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
