"""The second kind of resource: contact attribute definitions, planned and applied whole.

Declared definitions -> the changes that make the account's match them: a create for a
key the account lacks, an update of whatever differs (display name, type, description,
choices, pattern and cue), a delete only for one declared ``absent: true`` under
``removed: delete`` (the contacts keep their values). A definition no file declares is left
alone: the desk's dashboard makes them too, and nothing marks which are reconciler's.
Apply sends them before any contact, so the values that use them are seen as they land.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.definitions import AttributeDefinition, DeclaredDefinition
from reconciler.errors import ApiError, NotFoundError
from reconciler.model import ABSENT, JSON, Action, FieldChange, KindChange
from reconciler.targets.base import ContactsApi

KIND = "attribute_definition"
NOUN = "attribute definition"
FIELDS = ("display_name", "type", "description", "values", "regex_pattern", "regex_cue")
"""What a definition compares and sends besides its key (as its file names them), in the
order plans list them."""


@dataclass(frozen=True, slots=True)
class Planned:
    changes: list[KindChange]
    notes: list[str]
    problems: list[str]


def plan_definitions(
    declared: Sequence[DeclaredDefinition],
    live: Sequence[AttributeDefinition],
    *,
    removed: str,
    marker_key: str | None,
) -> Planned:
    """The changes to the account's definitions the files call for."""
    by_key = {definition.key: definition for definition in live}
    planned = Planned([], [], [])
    for item in declared:
        definition, where = item.definition, item.source.file_line
        current = by_key.get(definition.key)
        if definition.key == marker_key:
            planned.problems.append(
                f"{where}: declares a definition of custom_attributes.{marker_key}, "
                "reconciler's ownership marker, which agents must not see: remove it"
            )
        elif item.absent:
            _absent(item, current, removed, planned)
        elif current is None:
            fields = tuple(
                FieldChange(name, ABSENT, value)
                for name, value in _values(definition).items()
                if value not in (None, [])
            )
            planned.changes.append(
                KindChange(KIND, Action.CREATE, definition.key, item.source, fields, _body(item))
            )
        else:
            before, after = _values(current), _values(definition)
            fields = tuple(
                FieldChange(name, before[name], after[name])
                for name in FIELDS
                if before[name] != after[name]
            )
            if fields:
                planned.changes.append(
                    KindChange(
                        KIND,
                        Action.UPDATE,
                        definition.key,
                        item.source,
                        fields,
                        _body(item),
                        id=current.id,
                    )
                )
    return planned


def _absent(
    item: DeclaredDefinition,
    current: AttributeDefinition | None,
    removed: str,
    planned: Planned,
) -> None:
    if current is None:
        return
    if removed != "delete":
        planned.notes.append(
            f"{item.source.file_line}: the {NOUN} {item.definition.key} is declared absent: "
            f"true, but `removed: {removed}` in reconciler.yaml keeps it: set `removed: "
            "delete` to delete it (the contacts keep their values)"
        )
        return
    fields = tuple(FieldChange(name, value, ABSENT) for name, value in _values(current).items())
    planned.changes.append(
        KindChange(KIND, Action.DELETE, current.key, item.source, fields, {}, id=current.id)
    )


def _values(definition: AttributeDefinition) -> dict[str, JSON]:
    return {
        "display_name": definition.display_name,
        "type": definition.display_type,
        "description": definition.description,
        "values": list(definition.values),
        "regex_pattern": definition.regex_pattern,
        "regex_cue": definition.regex_cue,
    }


def _body(item: DeclaredDefinition) -> dict[str, JSON]:
    return item.definition.to_api()


def definition_of(change: KindChange) -> AttributeDefinition:
    """The definition a create or update sends, from its body."""
    return AttributeDefinition.from_api({**change.body, "id": change.id})


def effective(
    live: Sequence[AttributeDefinition], changes: Sequence[KindChange]
) -> list[AttributeDefinition]:
    """The account's definitions once ``changes`` are applied: what declared values are
    checked against."""
    by_key: dict[str, AttributeDefinition] = {definition.key: definition for definition in live}
    for change in changes:
        if change.action is Action.DELETE:
            by_key.pop(change.key, None)
        else:
            by_key[change.key] = definition_of(change)
    return list(by_key.values())


# Apply -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindOutcome:
    change: KindChange
    status: str  # created, updated, deleted, failed
    detail: str = ""

    def __str__(self) -> str:
        what = f"{NOUN} {self.change.key} ({self.change.where})"
        if self.status == "failed":
            return f"{what}: failed: {self.detail}"
        return f"{what}: {self.status}{f' ({self.detail})' if self.detail else ''}"


async def apply_definition(client: ContactsApi, change: KindChange) -> KindOutcome:
    """Carry out one change, and read back what the desk kept; a failure is an outcome."""
    try:
        if change.action is Action.DELETE:
            if change.id is None:
                raise AssertionError("a delete of a definition without an id")
            with contextlib.suppress(NotFoundError):  # gone already: what the plan wanted
                await client.delete_definition(change.id)
            return KindOutcome(change, "deleted")
        sent = definition_of(change)
        if change.action is Action.CREATE:
            kept = await client.create_definition(sent)
            status = "created"
        else:
            if change.id is None:
                raise AssertionError("an update of a definition without an id")
            kept = await client.update_definition(change.id, sent)
            status = "updated"
    except ApiError as error:
        return KindOutcome(change, "failed", str(error))
    if replace(kept, id=None) != replace(sent, id=None):
        lost = [name for name in FIELDS if _values(kept)[name] != _values(sent)[name]]
        return KindOutcome(change, "failed", f"the desk did not keep {', '.join(lost)}")
    return KindOutcome(change, status, f"id {kept.id}")


async def apply_definitions(
    client: ContactsApi, changes: Sequence[KindChange], *, stop: asyncio.Event
) -> list[KindOutcome]:
    """The changes one at a time (few, and a later one may need an earlier one's key),
    until ``stop``; each one's outcome."""
    outcomes = []
    for change in changes:
        if stop.is_set():
            break
        outcomes.append(await apply_definition(client, change))
    return outcomes


def stale_definitions(
    changes: Sequence[KindChange], live: Sequence[AttributeDefinition]
) -> list[str]:
    """What changed at the desk since a saved plan, for its definition changes."""
    by_key: Mapping[str, AttributeDefinition] = {d.key: d for d in live}
    stale = []
    for change in changes:
        current = by_key.get(change.key)
        if change.action is Action.CREATE:
            if current is not None:
                stale.append(f"{NOUN} {change.key}: it exists now (id {current.id})")
            continue
        if current is None or current.id != change.id:
            stale.append(f"{NOUN} {change.key}: it is gone, or another took its key")
            continue
        values = _values(current)
        moved = [
            f.path for f in change.fields if f.before is not ABSENT and values[f.path] != f.before
        ]
        if moved:
            stale.append(f"{NOUN} {change.key}: changed since the plan: {', '.join(moved)}")
    return stale
