"""The second kind of resource: contact attribute definitions, planned and applied whole.

Declared definitions -> the changes that make the account's match them: a create for a
key the account lacks, an update of whatever differs (display name, type, description,
choices, pattern and cue), a delete only for one declared ``absent: true`` under
``removed: delete`` (the contacts keep their values). A definition no file declares is left
alone: the desk's dashboard makes them too, and nothing marks which are reconciler's.
Apply sends them before any contact, so the values that use them are seen as they land.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace

from reconciler.changes import Action, FieldChange, KindChange, TargetIdentity
from reconciler.definitions import AttributeDefinition, DeclaredDefinition
from reconciler.engine.definitions import check_values, marker_definitions, save_snapshot
from reconciler.engine.kind import KindOutcome, KindPlan
from reconciler.errors import ApiError, NotFoundError
from reconciler.input.settings import Settings
from reconciler.model import ABSENT, JSON, Declaration
from reconciler.targets.base import ContactsApi

KIND = "attribute_definition"
NOUN = "attribute definition"
FIELDS = ("display_name", "type", "description", "values", "regex_pattern", "regex_cue")
"""What a definition compares and sends besides its key (as its file names them), in the
order plans list them."""


def plan_definitions(
    declared: Sequence[DeclaredDefinition],
    live: Sequence[AttributeDefinition],
    *,
    removed: str,
    marker_key: str | None,
) -> KindPlan:
    """The changes to the account's definitions the files call for."""
    by_key = {definition.key: definition for definition in live}
    planned = KindPlan()
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
    planned: KindPlan,
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


def unfollowed(change: KindChange) -> str | None:
    """How a saved change's body strays from its field changes, or None."""
    if change.action is Action.DELETE:
        return None if change.id is not None and not change.body else "deletes nothing named"
    if change.action is Action.UPDATE and change.id is None:
        return "names no id"
    body = change.body
    if body.get("attribute_key") != change.key or body.get("attribute_model") != (
        "contact_attribute"
    ):
        return "sends another key or model than its own"
    sent = _values(definition_of(change))
    for field in change.fields:
        if field.path not in sent or sent[field.path] != field.after:
            return f"sends a {field.path} its field changes don't call for"
    return None


class AttributeDefinitions:
    """The kind (reconciler.engine.kind.Kind): Chatwoot's contact attribute definitions."""

    name = KIND

    async def plan(
        self,
        client: ContactsApi,
        declaration: Declaration,
        settings: Settings,
        target: TargetIdentity,
    ) -> KindPlan:
        """Where the desk has definitions: read them once (kept for ``validate``), plan the
        declared ones, and check the declared contacts' values against what the account
        will have. A desk without any: each file of them is a problem."""
        declared: tuple[DeclaredDefinition, ...] = declaration.resources.get(KIND, ())
        if not client.capabilities.attribute_definitions:
            if not declared:
                return KindPlan()
            return KindPlan(
                problems=[
                    f"{declared[0].source.file_line}: {client.capabilities.service} has no "
                    "contact attribute definitions: leave the attribute_definitions files out "
                    "of this target's paths (Chatwoot has them)"
                ]
            )
        live = await client.list_definitions()
        save_snapshot(live, target)
        selection = declaration.selection
        covered = selection is None or not (selection.targets or selection.excludes)
        planned = plan_definitions(
            declared if covered else (),
            live,
            removed=settings.removed,
            marker_key=settings.marker_key,
        )
        planned.input_problems, warnings = check_values(
            declaration.contacts, effective(live, planned.changes), settings.marker_key
        )
        planned.notes += warnings + marker_definitions(live, settings.marker_key)
        if declared and not covered:
            planned.notes.append(
                "the attribute definitions the files declare are left out of a plan with "
                "--target or --exclude: a plan without them applies them"
            )
        return planned

    async def apply(self, client: ContactsApi, change: KindChange) -> KindOutcome:
        return await apply_definition(client, change)

    async def stale(self, client: ContactsApi, changes: Sequence[KindChange]) -> list[str]:
        return stale_definitions(changes, await client.list_definitions())

    def unfollowed(self, change: KindChange) -> str | None:
        return unfollowed(change)


ATTRIBUTE_DEFINITIONS = AttributeDefinitions()
