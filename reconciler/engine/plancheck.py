"""Whether a saved plan may be applied here, checked before anything is sent.

A plan is applied only to the target and account it was made for, only when it holds no
masked value, and only when each operation's body is what its recorded field changes say
it must be: an edited ``id`` is caught by the stale check, an edited body here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from reconciler.changes import (
    REMOVALS,
    Action,
    Change,
    FieldChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.engine import labels
from reconciler.engine.creates import create_change
from reconciler.engine.diff import strict_equal
from reconciler.engine.kinds import unfollowed_kind
from reconciler.engine.ownership import parse_marker
from reconciler.engine.redact import REDACTED
from reconciler.errors import PlanError
from reconciler.fields import ATTRIBUTE_OBJECTS, SCALARS
from reconciler.model import ABSENT, JSON, ContactKey, DeclaredContact, Position, Selection
from reconciler.targets.base import Capabilities


def check_applicable(
    plan: Plan, path: str, target: TargetIdentity, capabilities: Capabilities
) -> None:
    """PlanError, in one line, unless ``plan`` may be applied to ``target`` as it is."""
    if plan.target != target:
        raise PlanError(
            f"{path} was made for {plan.target}, not for {target}: nothing was applied; "
            "make the plan against this target"
        )
    for kind_change in plan.kinds:
        problem = unfollowed_kind(kind_change)
        if problem is not None:
            raise PlanError(
                f"{path}: the change to the {kind_change.kind.replace('_', ' ')} "
                f"{kind_change.key} ({kind_change.where}) {problem}: nothing was applied; "
                "make the plan again"
            )
    selected = None if plan.selection is None else frozenset(plan.selection.keys)
    for change in plan.changes:
        where = f"{path}: the change to {change.label} ({change.where})"
        if plan.selection is not None and selected is not None:
            outside = _outside(change, plan.selection, selected)
            if outside is not None:
                raise PlanError(
                    f"{where} {outside}: the plan was widened by editing; nothing was "
                    "applied; make the plan again"
                )
        if _holds_redacted(change):
            raise PlanError(
                f"{where} holds a redacted value: nothing was applied; make the plan again "
                "without --redact"
            )
        problem = _unfollowed(change, capabilities, plan.marker_key)
        if problem is not None:
            raise PlanError(
                f"{where} {problem}, which its field changes don't call for: nothing was "
                "applied; make the plan again"
            )


def _outside(change: Change, selection: Selection, selected: frozenset[ContactKey]) -> str | None:
    """How a change strays from its partial plan's selection, or None if it doesn't."""
    if change.action in (Action.RELEASE, *REMOVALS) and not selection.removes:
        return f"would {change.action.value} it, which a plan with {selection} never does"
    if change.source is None:
        marker = parse_marker(change.marker)
        if marker is None or marker.file not in selection.files:
            return f"names no file changed since {selection.changed_since}"
        return None
    if change.key not in selected:
        return f"is to a contact its selection ({selection}) doesn't hold"
    return None


def _holds_redacted(change: Change) -> bool:
    values: list[JSON] = [change.key.value]
    for field in change.fields:
        values += [field.before, field.after]
    values += [operation.body for operation in change.operations]
    return any(value == REDACTED for value in _leaves(values))


def _leaves(value: JSON) -> Iterator[JSON]:
    if isinstance(value, Mapping):
        for child in value.values():
            yield from _leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child)
    else:
        yield value


def _unfollowed(change: Change, capabilities: Capabilities, marker_key: str | None) -> str | None:
    """How the change's operations stray from its field changes, or None if they don't."""
    if change.action is not Action.CREATE and change.id is None:
        return "names no contact id"
    if change.action is Action.RELEASE and change.marker is None:
        # The label a failed release left behind: taking it off is all it may do.
        unlabelling = [(OperationKind.REMOVE_LABELS, {labels.FIELD: [marker_key]})]
        done = [(operation.kind, dict(operation.body)) for operation in change.operations]
        return None if marker_key is not None and done == unlabelling else "releases unmarked"
    operations = []
    for operation in change.operations:
        if operation.kind in labels.LABEL_WRITES and not capabilities.writes_labels:
            return f"writes labels, where {capabilities.service} has no labels"
        body = _without_marker(operation.body, change, marker_key)
        if isinstance(body, str):
            return body
        if operation.kind in labels.LABEL_WRITES:
            stripped = _without_marker_label(body, change, marker_key)
            if isinstance(stripped, str):
                return stripped
            removes = OperationKind.REMOVE_LABELS if change.action is Action.RELEASE else None
            if (
                stripped != body
                and stripped == {labels.FIELD: []}
                and operation.kind in (OperationKind.ADD_LABELS, removes)
            ):
                continue  # it adds (or a release takes off) the marker's label, nothing else
            body = stripped
        operations.append(Operation(operation.kind, body))
    if change.action is Action.CREATE:
        return _create_problem(change, operations, capabilities)
    if change.action is Action.UPDATE:
        if not operations and change.operations and not change.fields:
            return None  # it adds the marker's label alone (checked above)
        return _update_problem(change, operations)
    return _removal_problem(change, operations, marker_key)


def _without_marker(
    body: Mapping[str, JSON], change: Change, marker_key: str | None
) -> dict[str, JSON] | str:
    """``body`` without the ownership marker, once it is checked to be the change's own."""
    attributes = body.get("custom_attributes")
    if marker_key is None or not isinstance(attributes, Mapping) or marker_key not in attributes:
        return dict(body)
    written = attributes[marker_key]
    released = written is None and change.action is Action.RELEASE
    if not (released or _ours(written, change)):
        return f"sends custom_attributes.{marker_key}"
    rest = {key: value for key, value in attributes.items() if key != marker_key}
    stripped = {key: value for key, value in body.items() if key != "custom_attributes"}
    if rest:
        stripped["custom_attributes"] = rest
    return stripped


def _ours(written: JSON, change: Change) -> bool:
    """Whether a marker a change writes is the change's own: the marker it records, or for
    a block, that marker saying reconciler blocked the contact."""
    marker, planned = parse_marker(written), parse_marker(change.marker)
    if marker is None or planned is None:
        return False
    if change.action is Action.BLOCK:
        return bool(marker == replace(planned, blocked=True))
    return bool(written == change.marker)


def _without_marker_label(
    body: dict[str, JSON], change: Change, marker_key: str | None
) -> dict[str, JSON] | str:
    """A labels write's ``body`` without the marker's label, once it is checked that the
    change marks the contact (or releases it)."""
    sent = body.get(labels.FIELD)
    if marker_key is None or not isinstance(sent, list):
        return body
    marker = marker_key.casefold()
    rest = [label for label in sent if not (isinstance(label, str) and label.casefold() == marker)]
    if len(rest) == len(sent):
        return body
    if parse_marker(change.marker) is None:
        return f"writes the label {marker_key!r} of a contact it doesn't mark"
    return {**body, labels.FIELD: rest}


_UPDATE_ORDER = (
    OperationKind.UPDATE,
    OperationKind.REMOVE_ATTRIBUTES,
    OperationKind.SET_LABELS,
    OperationKind.ADD_LABELS,
)


def _update_problem(change: Change, operations: list[Operation]) -> str | None:
    kinds = [operation.kind for operation in operations]
    if (
        not kinds
        or not set(kinds) <= set(_UPDATE_ORDER)
        or kinds != sorted(set(kinds), key=_UPDATE_ORDER.index)
        or (OperationKind.SET_LABELS in kinds and OperationKind.ADD_LABELS in kinds)
    ):
        return "has operations other than an update, a key removal and labels"
    if kinds == [OperationKind.UPDATE] and not change.fields:
        return None if change.marker is not None and not operations[0].body else "sends nothing"
    label_fields = [field for field in change.fields if labels.is_label(field)]
    removed = [
        field for field in change.fields if field.after is ABSENT and field not in label_fields
    ]
    updated = [
        field for field in change.fields if field not in label_fields and field not in removed
    ]
    for operation in operations:
        if operation.kind is OperationKind.UPDATE:
            problem = _body_problem(replace(change, fields=tuple(updated)), operation.body)
        elif operation.kind is OperationKind.REMOVE_ATTRIBUTES:
            problem = _removed_keys_problem(removed, operation.body)
        else:
            problem = _labels_problem(label_fields, operation)
        if problem is not None:
            return problem
    if updated and kinds[0] is not OperationKind.UPDATE:
        return "doesn't send its field changes"
    if removed and OperationKind.REMOVE_ATTRIBUTES not in kinds:
        return "doesn't remove the keys it drops"
    if label_fields and not {OperationKind.SET_LABELS, OperationKind.ADD_LABELS} & set(kinds):
        return "doesn't write its labels"
    return None


def _removed_keys_problem(removed: list[FieldChange], body: Mapping[str, JSON]) -> str | None:
    expected = sorted(field.key_path[1] for field in removed if len(field.key_path) == 2)
    if len(expected) != len(removed) or any(
        field.key_path[0] != "custom_attributes" for field in removed
    ):
        return "removes a value other than a custom_attributes key"
    if set(body) != {"custom_attributes"} or sorted(body["custom_attributes"]) != expected:
        return "removes other keys"
    return None


def _labels_problem(fields: list[FieldChange], operation: Operation) -> str | None:
    sent = operation.body.get(labels.FIELD)
    if set(operation.body) != {labels.FIELD} or not isinstance(sent, list):
        return "sends something other than labels"
    have = labels.folded(str(label) for label in sent)
    for field in fields:
        if field.after is not ABSENT and str(field.after).casefold() not in have:
            return f"doesn't send the label {field.after!r}"
        if field.after is ABSENT and (
            operation.kind is OperationKind.ADD_LABELS or str(field.before).casefold() in have
        ):
            return f"keeps the label {field.before!r}"
    return None


def _removal_problem(
    change: Change, operations: list[Operation], marker_key: str | None
) -> str | None:
    if marker_key is None or parse_marker(change.marker) is None:
        return f"{change.action.value}s a contact reconciler doesn't manage"
    expected: dict[Action, tuple[OperationKind, JSON]] = {
        Action.DELETE: (OperationKind.DELETE, {}),
        Action.BLOCK: (OperationKind.UPDATE, {"blocked": True}),
        Action.RELEASE: (OperationKind.REMOVE_ATTRIBUTES, {"custom_attributes": [marker_key]}),
    }
    kind, body = expected[change.action]
    released_by_null = change.action is Action.RELEASE and [
        (operation.kind, operation.body) for operation in operations
    ] == [(OperationKind.UPDATE, {})]  # the marker set to null, stripped above
    if not released_by_null and [(o.kind, o.body) for o in operations] != [(kind, body)]:
        return f"has operations other than the {change.action.value}"
    if change.action is Action.BLOCK:
        if [(f.path, f.after) for f in change.fields] != [("blocked", True)]:
            return "changes more than blocked"
    elif change.fields:
        return f"changes {change.fields[0].path}"
    return None


def _create_problem(
    change: Change, operations: list[Operation], capabilities: Capabilities
) -> str | None:
    """A create's operations must be exactly those plan makes from its field changes."""
    # An update that carried the marker alone (where a create can't set attributes).
    operations = [o for o in operations if o.kind is not OperationKind.UPDATE or o.body]
    if change.id is not None or any(field.before is not ABSENT for field in change.fields):
        return "creates a contact that existed"
    fields: dict[str, JSON] = {}
    for field in change.fields:
        keys = field.key_path
        if len(keys) == 1 and keys[0] in SCALARS:
            fields[keys[0]] = field.after
        elif len(keys) == 2 and keys[0] in ATTRIBUTE_OBJECTS:
            fields.setdefault(keys[0], {})[keys[1]] = field.after
        elif labels.is_label(field):
            fields.setdefault(labels.FIELD, []).append(field.after)
        else:
            return f"changes {field.path}"
    inbox_id = operations[0].body.get("inbox_id") if operations else None
    if (inbox_id is None and capabilities.create_needs_inbox) or not (
        inbox_id is None or (type(inbox_id) is int and inbox_id >= 1)
    ):
        return "names no valid inbox_id"
    additive = bool(operations) and operations[-1].kind is OperationKind.ADD_LABELS
    if change.marker is not None and parse_marker(change.marker) is None:
        return "writes a marker that isn't reconciler's"
    expected = create_change(
        DeclaredContact(change.source or _NOWHERE, fields, inbox_id=inbox_id),
        capabilities,
        additive=additive,
    ).operations
    if len(expected) != len(operations) or not all(
        planned.kind is sent.kind and strict_equal(dict(planned.body), dict(sent.body))
        for planned, sent in zip(expected, operations, strict=True)
    ):
        return "has operations other than the create (and update) they call for"
    return None


_NOWHERE = Position("", 1, 1)


def _body_problem(change: Change, body: Mapping[str, JSON]) -> str | None:
    """How an update's body strays from its field changes, or None."""
    accounted: set[tuple[str, ...]] = set()
    for field in change.fields:
        keys = field.key_path
        if len(keys) == 1:
            if keys[0] not in SCALARS:
                return f"changes {field.path}"
            if keys[0] not in body:
                return f"doesn't send {field.path}"
        elif keys[0] not in ATTRIBUTE_OBJECTS:
            return f"changes {field.path}"
        sent = _value_at(body, keys)
        if sent is ABSENT or not strict_equal(sent, field.after):
            return f"sends another value for {field.path}"
        accounted.add(keys[:2])
    for name, value in body.items():
        if name in SCALARS:
            if (name,) not in accounted:
                return f"sends {name}"
        elif name in ATTRIBUTE_OBJECTS and isinstance(value, Mapping):
            # Keys of a nested object sent whole beside a changed one are checked live
            # (the stale check); a top-level key sent must hold a change.
            for key in value:
                if (name, key) not in accounted:
                    return f"sends {name}.{key}"
        else:
            return f"sends {name}"
    return None


def _value_at(body: Mapping[str, JSON], keys: tuple[str, ...]) -> JSON:
    value: JSON = body
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return ABSENT
        value = value[key]
    return value
