"""The change that creates a contact the desk doesn't have: what one create can set (the
target's capabilities), then an update of the rest, then its labels; the ownership marker
goes with the attributes. ``plancheck`` rebuilds a saved plan's creates with it."""

from __future__ import annotations

from reconciler.changes import Action, Change, FieldChange, Operation, OperationKind
from reconciler.engine import labels
from reconciler.engine.diff import leaf_changes
from reconciler.fields import ATTRIBUTE_OBJECTS, BLANK_IS_NULL, BY_NAME, SCALARS, comparable
from reconciler.model import ABSENT, JSON, DeclaredContact
from reconciler.targets.base import Capabilities


def sent_value(name: str, value: JSON) -> JSON:
    """A scalar as planned and sent: as the server stores it where it folds case."""
    return comparable(name, value) if BY_NAME[name].folds_case else value


def create_change(
    declared: DeclaredContact,
    capabilities: Capabilities,
    *,
    marker: str | None = None,
    marker_key: str | None = None,
    additive: bool = False,
    label: str | None = None,
) -> Change:
    """The change that creates ``declared``: what one create can set, then an update of the
    rest, then its labels; ``marker`` (under ``marker_key``) goes with the attributes, and
    ``label`` (the marker's label) with the labels."""
    fields = declared.fields
    create: dict[str, JSON] = {}
    if declared.inbox_id is not None:
        create["inbox_id"] = declared.inbox_id
    update: dict[str, JSON] = {}
    changes: list[FieldChange] = []
    for name in SCALARS:
        if name not in fields:
            continue
        value = sent_value(name, fields[name])
        changes.append(FieldChange(name, ABSENT, value))
        if name not in capabilities.create_fields:
            update[name] = value
        elif value not in (None, "") or name not in BLANK_IS_NULL:
            # Never a blank identifier (it breaks a unique index); but a null name is sent,
            # or the contact would keep the "" the server gives a contact created without one.
            create[name] = value
    for name in ATTRIBUTE_OBJECTS:
        declared_object: dict[str, JSON] = dict(fields.get(name) or {})
        for key, value in declared_object.items():
            changes.extend(leaf_changes((name, key), ABSENT, value))
        if name == "custom_attributes" and marker is not None and marker_key is not None:
            declared_object[marker_key] = marker
        if not declared_object:
            continue
        (create if name in capabilities.create_fields else update)[name] = declared_object
    operations = [Operation(OperationKind.CREATE, create)]
    if update:
        operations.append(Operation(OperationKind.UPDATE, update))
    if labels.FIELD in fields and capabilities.writes_labels:
        found, labelling = labels.label_changes(
            fields[labels.FIELD], [], additive=additive, marker=label
        )
        changes.extend(found)
        if labelling is not None:
            operations.append(labelling)
    elif label is not None and capabilities.writes_labels:
        operations.append(labels.marker_labelling(label))
    return Change(
        action=Action.CREATE,
        key=declared.key,
        source=declared.source,
        fields=tuple(changes),
        operations=tuple(operations),
        marker=marker,
    )
