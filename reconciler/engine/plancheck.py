"""Whether a saved plan may be applied here, checked before anything is sent.

A plan is applied only to the target and account it was made for, only when it holds no
masked value, and only when each operation's body is what its recorded field changes say
it must be: an edited ``id`` is caught by the stale check, an edited body here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from reconciler.engine.diff import strict_equal
from reconciler.engine.plan import create_change
from reconciler.engine.redact import REDACTED
from reconciler.errors import PlanError
from reconciler.fields import ATTRIBUTE_OBJECTS, SCALARS
from reconciler.model import (
    ABSENT,
    JSON,
    Action,
    Change,
    DeclaredContact,
    OperationKind,
    Plan,
    TargetIdentity,
)
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
    for change in plan.changes:
        where = f"{path}: the change to {change.label} ({change.source.file_line})"
        if _holds_redacted(change):
            raise PlanError(
                f"{where} holds a redacted value: nothing was applied; make the plan again "
                "without --redact"
            )
        problem = _unfollowed(change, capabilities)
        if problem is not None:
            raise PlanError(
                f"{where} {problem}, which its field changes don't call for: nothing was "
                "applied; make the plan again"
            )


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


def _unfollowed(change: Change, capabilities: Capabilities) -> str | None:
    """How the change's operations stray from its field changes, or None if they don't."""
    kinds = [operation.kind for operation in change.operations]
    if change.action is Action.UPDATE:
        if kinds != [OperationKind.UPDATE] or change.id is None:
            return "has operations other than one update"
        return _body_problem(change, change.operations[0].body)
    return _create_problem(change, capabilities)


def _create_problem(change: Change, capabilities: Capabilities) -> str | None:
    """A create's operations must be exactly those plan makes from its field changes."""
    if change.id is not None or any(field.before is not ABSENT for field in change.fields):
        return "creates a contact that existed"
    fields: dict[str, JSON] = {}
    for field in change.fields:
        keys = field.key_path
        if len(keys) == 1 and keys[0] in SCALARS:
            fields[keys[0]] = field.after
        elif len(keys) == 2 and keys[0] in ATTRIBUTE_OBJECTS:
            fields.setdefault(keys[0], {})[keys[1]] = field.after
        else:
            return f"changes {field.path}"
    inbox_id = change.operations[0].body.get("inbox_id") if change.operations else None
    if (inbox_id is None and capabilities.create_needs_inbox) or not (
        inbox_id is None or (type(inbox_id) is int and inbox_id >= 1)
    ):
        return "names no valid inbox_id"
    expected = create_change(
        DeclaredContact(change.source, fields, inbox_id=inbox_id), capabilities
    ).operations
    if len(expected) != len(change.operations) or not all(
        planned.kind is sent.kind and strict_equal(dict(planned.body), dict(sent.body))
        for planned, sent in zip(expected, change.operations, strict=True)
    ):
        return "has operations other than the create (and update) they call for"
    return None


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
