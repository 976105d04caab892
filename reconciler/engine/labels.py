"""A contact's labels: a set of names, compared case-insensitively, planned as set changes.

``labels: [vip, partner]`` is the exact set by default: apply replaces the contact's labels
with it (Chatwoot's ``POST /contacts/{id}/labels`` replaces the whole set). Additive, the
list is a minimum: apply reads the labels right before the write and sends them with the
missing ones added, so a label someone adds meanwhile survives. Plan shows
``+ labels: "partner"`` and ``- labels: "trial"``, one line a label.

The ownership marker's label (``marker``: see ownership.py and the ``marker_label``
setting) is part of every set written to a managed contact, never a line of its own: an
exact set keeps it, and a contact without it gets it added (read, then written back).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import replace

from reconciler.changes import Action, Change, FieldChange, Operation, OperationKind
from reconciler.model import ABSENT, JSON, Contact, DeclaredContact

FIELD = "labels"
MODES = ("exact", "additive")
LABEL_WRITES = frozenset(
    {OperationKind.SET_LABELS, OperationKind.ADD_LABELS, OperationKind.REMOVE_LABELS}
)


def folded(labels: Iterable[str]) -> set[str]:
    return {label.casefold() for label in labels}


def label_changes(
    declared: Sequence[str], live: Sequence[str], *, additive: bool, marker: str | None = None
) -> tuple[tuple[FieldChange, ...], Operation | None]:
    """The label lines and the one write that make ``live`` hold ``declared`` (and the
    ``marker`` label, which is never a line)."""
    have, want = folded(live), folded(declared)
    added = [
        FieldChange(FIELD, ABSENT, label) for label in declared if label.casefold() not in have
    ]
    kept = want if marker is None else want | {marker.casefold()}
    removed = (
        []
        if additive
        else [FieldChange(FIELD, label, ABSENT) for label in live if label.casefold() not in kept]
    )
    marking = marker is not None and marker.casefold() not in have
    if not added and not removed and not marking:
        return (), None
    body = list(declared)
    if marker is not None and marker.casefold() not in want:
        body.append(marker)
    kind = OperationKind.ADD_LABELS if additive else OperationKind.SET_LABELS
    return (*added, *removed), Operation(kind, {FIELD: body})


@functools.cache
def marker_labelling(marker: str) -> Operation:
    """The write that adds the marker's label and keeps the others."""
    return Operation(OperationKind.ADD_LABELS, {FIELD: [marker]})


@functools.cache
def marker_unlabelling(marker: str) -> Operation:
    """The write that takes the marker's label off and keeps the others."""
    return Operation(OperationKind.REMOVE_LABELS, {FIELD: [marker]})


def sends_marker(change: Change, marker: str) -> bool:
    """Whether a labels write of ``change`` carries the marker's label."""
    return any(
        operation.kind in LABEL_WRITES
        and marker.casefold() in folded(str(label) for label in operation.body.get(FIELD) or [])
        for operation in change.operations
    )


def live_labels(value: JSON) -> list[str]:
    """The labels a contact carries (a list of strings), or none."""
    if not isinstance(value, list):
        return []
    return [label for label in value if isinstance(label, str)]


def is_label(field: FieldChange) -> bool:
    return field.key_path[0] == FIELD


def kept(field: FieldChange, stored: Iterable[str]) -> bool:
    """Whether ``stored`` labels are as a label line says they must be after apply."""
    have = folded(stored)
    if field.after is not ABSENT:
        return str(field.after).casefold() in have
    return str(field.before).casefold() not in have


def as_before(field: FieldChange, live: Iterable[str]) -> bool:
    """Whether ``live`` labels are still as a label line found them when planned."""
    have = folded(live)
    if field.before is ABSENT:
        return str(field.after).casefold() not in have
    return str(field.before).casefold() in have


def with_labels(
    change: Change | None,
    declared: DeclaredContact,
    contact: Contact,
    live_id: int,
    *,
    additive: bool,
    marker: str | None = None,
) -> Change | None:
    found, operation = label_changes(
        declared.fields[FIELD], live_labels(contact.get(FIELD)), additive=additive, marker=marker
    )
    if operation is None:
        return change
    if change is None:
        change = Change(Action.UPDATE, declared.key, declared.source, (), (), id=live_id)
    return replace(
        change, fields=(*change.fields, *found), operations=(*change.operations, operation)
    )


def with_marker_label(
    change: Change | None, declared: DeclaredContact, live_id: int, marker: str
) -> Change:
    """``change`` with the marker's label added (a contact that declares no labels)."""
    if change is None:
        change = Change(Action.UPDATE, declared.key, declared.source, (), (), id=live_id)
    return replace(change, operations=(*change.operations, marker_labelling(marker)))
