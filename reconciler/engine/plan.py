"""Declaration + LiveState + Settings -> Plan: change only what differs.

What counts, following the API contract (shared/livedesk-api.md):

* only the fields a contact declares, and only the attribute keys it declares; the live
  contact's other fields and keys are never read, so never touched;
* emails compare lower-cased; ``""`` and null are alike for email, phone_number, identifier;
* everything else compares with its JSON type: ``1``, ``1.0``, ``true`` and ``"1"`` all differ.
  Python's ``True == 1 == 1.0``, so equality here is type-strict; it is also the fast path:
  only attribute values that are not strictly equal are looked into, and DeepDiff only runs
  (to find the leaf paths that changed) where they differ two or more levels deep;
* a declared nested attribute object (``social_profiles``) is merged into the live one,
  because LiveDesk replaces a nested object whole: the PATCH sends the merged object, so
  undeclared live keys survive.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from reconciler.errors import PlanError
from reconciler.input.settings import Settings
from reconciler.model import (
    ABSENT,
    CONTACTS_PATH,
    JSON,
    Action,
    Change,
    Contact,
    Declaration,
    DeclaredContact,
    FieldChange,
    LiveState,
    Plan,
    Request,
)

CONTACT_PATH = CONTACTS_PATH + "/{id}"
"""The PATCH path of one contact; apply fills ``{id}`` in for a contact it just created."""

SCALAR_FIELDS = ("name", "email", "phone_number", "identifier", "blocked")
ATTRIBUTE_OBJECTS = ("additional_attributes", "custom_attributes")
CREATE_FIELDS = ("name", "email", "phone_number", "identifier")  # what POST can set
BLANK_IS_NULL = frozenset({"email", "phone_number", "identifier"})
JSON_SCALARS = frozenset({str, int, float, bool, type(None)})  # same type: == is strict
JSON_TYPES = JSON_SCALARS | {dict, list}


def make_plan(
    declaration: Declaration,
    live: LiveState,
    settings: Settings,
    *,
    now: str | None = None,
) -> Plan:
    """The changes that make LiveDesk match ``declaration``, in declaration order.

    Raises PlanError listing every contact that can't be planned (one line each).
    """
    if len(live.contacts) != len(declaration.contacts):
        raise AssertionError("live state and declaration are not aligned")
    problems: list[str] = []
    changes: list[Change] = []
    unchanged = 0
    seen_ids: dict[int, DeclaredContact] = {}
    used_rules: set[int] = set()
    for declared, contact in zip(declaration.contacts, live.contacts, strict=True):
        if contact is None:
            where = declared.source.file_line
            if declared.id is not None:
                problems.append(
                    f"LiveDesk has no contact with id {declared.id} ({where}); "
                    "remove `id` to create it"
                )
            elif declared.inbox_id is None:
                problems.append(
                    f"{where}: the contact doesn't exist in LiveDesk and has no inbox to be "
                    "created in; set `inbox_id` on it or `defaults.inbox_id` in its file"
                )
            else:
                _ignored_paths(settings, declared, None, used_rules)  # creates ignore nothing
                changes.append(_create(declared))
            continue
        live_id = int(contact["id"])
        if live_id in seen_ids:
            problems.append(
                f"{seen_ids[live_id].source.file_line} and {declared.source.file_line} declare "
                f"the same LiveDesk contact (id {live_id}); declare it once"
            )
            continue
        seen_ids[live_id] = declared
        ignored = _ignored_paths(settings, declared, live_id, used_rules) if settings.ignore else ()
        change = _update(declared, contact, live_id, ignored)
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    if problems:
        raise PlanError("\n".join(problems))
    warnings = [
        f"settings: ignore[{index}] names a contact that no file declares"
        for index, rule in enumerate(settings.ignore)
        if rule.contact is not None and index not in used_rules
    ]
    plan = Plan(
        changes=tuple(changes),
        unchanged=unchanged,
        sources=declaration.sources,
        created_at=now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    over = change_limit_message(plan, settings)
    if over is not None:
        warnings.append(f"{over}: apply will refuse without --force")
    return replace(plan, warnings=tuple(warnings))


def change_limit_message(plan: Plan, settings: Settings) -> str | None:
    """Say how the plan exceeds ``max_changes``, or None when it doesn't."""
    limit = settings.change_limit(plan.managed)
    changed = len(plan.changes)
    if limit is None or changed <= limit:
        return None
    return (
        f"the plan changes {changed} of {plan.managed} contacts, more than max_changes "
        f"({settings.max_changes}) allows ({limit})"
    )


# Comparison -----------------------------------------------------------------------------


def strict_equal(left: JSON, right: JSON) -> bool:
    """``==`` with JSON types: ``1``, ``1.0``, ``True`` and ``"1"`` are all different."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(
            strict_equal(value, right[key]) for key, value in left.items()
        )
    if isinstance(left, list):
        return len(left) == len(right) and all(map(strict_equal, left, right))
    return bool(left == right)


def comparable(path: str, value: JSON) -> JSON:
    """The value as LiveDesk compares it: emails lower-cased, blank identifiers null."""
    if path in BLANK_IS_NULL and value == "":
        return None
    if path == "email" and isinstance(value, str):
        return value.lower()
    return value


def values_match(path: str, live: JSON, expected: JSON) -> bool:
    """Whether the live value at ``path`` already is ``expected`` (ABSENT only matches ABSENT)."""
    return strict_equal(comparable(path, live), comparable(path, expected))


def live_value(contact: Contact, keys: tuple[str, ...]) -> JSON:
    """The value the ``keys`` lead to in a contact, ABSENT where one is missing."""
    value: JSON = contact
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return ABSENT
        value = value[key]
    return value


def attribute_change(keys: Sequence[str], before: JSON, after: JSON) -> FieldChange:
    """A change at ``keys`` under an attribute object; ``keys`` kept when a key holds a dot."""
    exact = tuple(keys) if any("." in key for key in keys) else ()
    return FieldChange(".".join(keys), before, after, exact)


# Updates --------------------------------------------------------------------------------


def _matches_exactly(fields: Mapping[str, JSON], contact: Contact) -> bool:
    """True only where _update would find nothing to change: the usual contact's shortcut."""
    for name, value in fields.items():
        before = contact.get(name, ABSENT)
        if name in ATTRIBUTE_OBJECTS:
            if type(before) is not dict:
                return False
            for key, declared_value in value.items():
                if not _covers(before.get(key, ABSENT), declared_value):
                    return False
        elif not strict_equal(before, value):
            return False
    return True


def _covers(live: JSON, declared: JSON) -> bool:
    """``strict_equal(live, _merged(live, declared))``, without building the merged value."""
    kind = type(declared)
    if kind in JSON_SCALARS:
        return type(live) is kind and bool(live == declared)
    if not isinstance(declared, dict):
        return strict_equal(live, declared)
    if type(live) is not dict or not declared.keys() <= live.keys():
        return False
    for key, value in live.items():
        # An undeclared value is compared with itself: unequal only if it holds a NaN.
        if not (_covers(value, declared[key]) if key in declared else strict_equal(value, value)):
            return False
    return True


def _update(
    declared: DeclaredContact, contact: Contact, live_id: int, ignored: Collection[str]
) -> Change | None:
    fields = _without_paths(declared.fields, ignored)
    if _matches_exactly(fields, contact):
        return None
    changes: list[FieldChange] = []
    body: dict[str, JSON] = {}
    for name in SCALAR_FIELDS:
        if name not in fields:
            continue
        after = comparable(name, fields[name]) if name == "email" else fields[name]
        before = contact.get(name, ABSENT)
        # A contact object always carries its scalars; a missing one can only mean null.
        if values_match(name, None if before is ABSENT else before, after):
            continue
        changes.append(FieldChange(name, before, after))
        body[name] = after
    for name in ATTRIBUTE_OBJECTS:
        if name not in fields:
            continue
        live_object = contact.get(name)
        if not isinstance(live_object, Mapping):
            live_object = {}
        sent: dict[str, JSON] = {}
        for key, declared_value in fields[name].items():
            before = live_object.get(key, ABSENT)
            after = _merged(before, declared_value)
            if strict_equal(before, after):
                continue
            changes.extend(_leaf_changes((name, key), before, after))
            sent[key] = after  # a top-level key alone; a nested object whole
        if sent:
            body[name] = sent
    if not changes:
        return None
    return Change(
        action=Action.UPDATE,
        key=declared.key,
        source=declared.source,
        fields=tuple(changes),
        requests=(Request("PATCH", CONTACT_PATH.format(id=live_id), body),),
        id=live_id,
    )


def _merged(live: JSON, declared: JSON) -> JSON:
    """The declared value laid over the live one: declared keys win, live keys stay."""
    if not isinstance(declared, dict):
        return declared
    merged: dict[str, JSON] = dict(live) if isinstance(live, dict) else {}
    for key, value in declared.items():
        merged[key] = _merged(merged.get(key, ABSENT), value)
    return merged


def _leaf_changes(prefix: tuple[str, ...], before: JSON, after: JSON) -> list[FieldChange]:
    """One FieldChange per leaf that differs; a list or a changed type is one leaf."""
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [attribute_change(prefix, before, after)]
    changes = _one_level_changes(prefix, before, after)
    if changes is None:
        # Imported here: DeepDiff loads numpy, a cost only a change deeper down should pay.
        from reconciler.engine.diff import deep_leaf_changes

        changes = deep_leaf_changes(prefix, before, after)
    return changes


def _one_level_changes(
    prefix: tuple[str, ...], before: dict[str, JSON], after: dict[str, JSON]
) -> list[FieldChange] | None:
    """The leaf changes exactly as DeepDiff finds them, or None if one may lie deeper down.

    Answered when each key that differs is one leaf: added, retyped, or a scalar changed.
    Like DeepDiff's, the leaves are those of ``after``: a key only ``before`` has is none.
    """
    if type(before) is not dict or type(after) is not dict:
        return None  # a dict subclass: DeepDiff sees a type change at the root
    changes: list[FieldChange] = []
    for key, value in after.items():
        old = before.get(key, ABSENT)
        if old is not ABSENT:
            if strict_equal(old, value):
                continue
            kind = type(old)
            if old is value or kind not in JSON_TYPES or type(value) not in JSON_TYPES:
                return None  # DeepDiff ignores an identical value (one holding a NaN)
            if kind is type(value) and kind not in JSON_SCALARS:
                return None  # two lists or two objects: DeepDiff looks inside them
        if type(key) is not str:
            return None
        changes.append(attribute_change((*prefix, key), old, value))
    return changes or None


# Ignore rules ---------------------------------------------------------------------------


def _ignored_paths(
    settings: Settings, declared: DeclaredContact, live_id: int | None, used_rules: set[int]
) -> list[str]:
    paths: list[str] = []
    for index, rule in enumerate(settings.ignore):
        if rule.contact is None:
            paths.extend(rule.paths)
        elif _names_contact(rule.contact, declared, live_id):
            used_rules.add(index)
            paths.extend(rule.paths)
    return paths


def _names_contact(name: str, declared: DeclaredContact, live_id: int | None) -> bool:
    ids = {str(number) for number in (live_id, declared.id) if number is not None}
    if name in ids:
        return True
    if declared.fields.get("identifier") == name:
        return True
    email = declared.fields.get("email")
    return isinstance(email, str) and email.lower() == name.lower()


def _without_paths(fields: Mapping[str, JSON], paths: Collection[str]) -> Mapping[str, JSON]:
    """``fields`` without each dotted path (and all under it); the input is not modified."""
    for path in paths:
        fields = _without(fields, path.split("."))
    return fields


def _without(value: Mapping[str, JSON], parts: Sequence[str]) -> Mapping[str, JSON]:
    head, rest = parts[0], parts[1:]
    if head not in value:
        return value
    if not rest:
        return {key: child for key, child in value.items() if key != head}
    child = value[head]
    if not isinstance(child, Mapping):
        return value  # a path under a scalar: the scalar is compared whole
    return {**value, head: _without(child, rest)}


# Creates --------------------------------------------------------------------------------


def _create(declared: DeclaredContact) -> Change:
    fields = declared.fields
    post: dict[str, JSON] = {"inbox_id": declared.inbox_id}
    patch: dict[str, JSON] = {}
    changes: list[FieldChange] = []
    for name in SCALAR_FIELDS:
        if name not in fields:
            continue
        value = comparable(name, fields[name]) if name == "email" else fields[name]
        changes.append(FieldChange(name, ABSENT, value))
        if name not in CREATE_FIELDS:
            patch[name] = value
        elif value not in (None, "") or name not in BLANK_IS_NULL:
            # Never a blank identifier (it breaks a unique index); but a null name is sent,
            # or the contact would keep the "" LiveDesk gives a contact created without one.
            post[name] = value
    for name in ATTRIBUTE_OBJECTS:
        declared_object: Mapping[str, Any] = fields.get(name) or {}
        if declared_object:
            patch[name] = dict(declared_object)
        for key, value in declared_object.items():
            changes.extend(_created_leaves((name, key), value))
    requests = [Request("POST", CONTACTS_PATH, post)]
    if patch:
        requests.append(Request("PATCH", CONTACT_PATH, patch))
    return Change(
        action=Action.CREATE,
        key=declared.key,
        source=declared.source,
        fields=tuple(changes),
        requests=tuple(requests),
    )


def _created_leaves(keys: tuple[str, ...], value: JSON) -> Iterator[FieldChange]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _created_leaves((*keys, key), child)
    else:
        yield attribute_change(keys, ABSENT, value)
