"""Declaration + LiveState + Settings -> Plan: change only what differs.

What counts, following the API contracts (shared/livedesk-api.md):

* only the fields a contact declares, and only the attribute keys it declares; the live
  contact's other fields and keys are never read, so never touched;
* values compare as ``reconciler.engine.diff`` says (type-strict; the field registry's
  case-folding and blanks), and changed leaves are found there, in one place;
* a declared nested attribute object (``social_profiles``) is merged into the live one,
  because the server replaces a nested object whole: the update sends the merged object, so
  undeclared live keys survive;
* a create sends what one create can set (the target's capabilities) and updates the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from reconciler.changes import (
    Action,
    Change,
    FieldChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.engine import labels, resolve
from reconciler.engine.creates import create_change, sent_value
from reconciler.engine.diff import leaf_changes, merged, strict_equal, values_match
from reconciler.engine.effects import side_effects, unseen_blocks
from reconciler.engine.ignore import ignored_paths, without_paths
from reconciler.engine.ownership import Marker, declaring_the_marker, owned, renamed_markers
from reconciler.engine.removal import (
    absent_contact,
    cant_delete,
    orphan_changes,
    removal_warnings,
)
from reconciler.fields import ATTRIBUTE_OBJECTS, SCALARS
from reconciler.input.settings import Settings
from reconciler.model import ABSENT, JSON, Contact, Declaration, DeclaredContact, LiveState
from reconciler.targets.base import Capabilities

COMPARED = frozenset((*SCALARS, *ATTRIBUTE_OBJECTS))
"""The fields an update compares and sends itself; labels and directives go apart."""


def make_plan(
    declaration: Declaration,
    live: LiveState,
    settings: Settings,
    capabilities: Capabilities,
    *,
    target: TargetIdentity | None = None,
    now: str | None = None,
) -> Plan:
    """The changes that make the target match ``declaration``, in declaration order.

    Raises PlanError listing every contact that can't be planned (one line each).
    """
    problems = _first_problems(declaration, live, settings, capabilities)
    taken = resolve.Taken(declaration, live, problems)
    changes: list[Change] = []
    removals: list[Change] = []
    notes: list[str] = []
    unchanged = 0
    seen_ids: dict[int, DeclaredContact] = {}
    used_rules: set[int] = set()
    found_by = live.found_by or (None,) * len(live.contacts)
    for declared, contact, by in zip(declaration.contacts, live.contacts, found_by, strict=True):
        additive = (declared.labels_mode or settings.labels) == "additive"
        if declared.absent:
            outcome = _absent(
                declaration,
                declared,
                contact,
                settings=settings,
                capabilities=capabilities,
                live=live,
            )
            if isinstance(outcome, Change):
                removals.append(outcome)
            elif outcome is None:
                unchanged += 1
            else:
                notes.append(outcome)
            continue
        if contact is None:
            if declared.id is None and taken(declared, None, ()):  # a missing id is no create
                continue
            outcome = _create(
                declared,
                settings,
                capabilities,
                additive=additive,
                file=declaration.file_of(declared),
            )
            if isinstance(outcome, str):
                problems.append(outcome)
            else:
                ignored_paths(settings, declared, None, used_rules)  # creates ignore nothing
                changes.append(outcome)
            continue
        live_id = int(contact["id"])
        first = seen_ids.setdefault(live_id, declared)
        if first is not declared:
            problems.append(
                f"{first.source.file_line} and {declared.source.file_line} declare "
                f"the same contact (id {live_id}); declare it once"
            )
            continue
        ignored = ignored_paths(settings, declared, live_id, used_rules) if settings.ignore else ()
        if taken(declared, contact, ignored):
            continue
        labeled = live.labeled is None or live_id in live.labeled
        change, said = _existing(
            declared,
            contact,
            ignored,
            settings,
            capabilities,
            additive=additive,
            labeled=labeled,
            file=declaration.file_of(declared),
        )
        notes.extend(said)
        if change is None:
            unchanged += 1
        else:
            changes.append(replace(change, found_by=by) if by else change)
    orphans = orphan_changes(
        live, settings, capabilities, problems, declaration=declaration, changes=changes
    )
    problems += unseen_blocks([*removals, *orphans.removals], capabilities)
    changes = [*removals, *orphans.removals, *changes, *orphans.releases]
    if problems:
        raise taken.error()
    return _finished(
        Plan(
            changes=tuple(changes),
            unchanged=unchanged,
            sources=declaration.sources,
            target=target,
            created_at=now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            marker_key=settings.marker_key,
            selection=declaration.selection,
        ),
        settings,
        used_rules,
        [
            *declaration.notes,
            *notes,
            *orphans.notes,
            *renamed_markers(live.contacts, settings.marker_key),
            *side_effects(changes, capabilities),
        ],
    )


def _absent(
    declaration: Declaration,
    declared: DeclaredContact,
    contact: Contact | None,
    *,
    settings: Settings,
    capabilities: Capabilities,
    live: LiveState,
) -> Change | str | None:
    selection = declaration.selection
    if contact is not None and selection is not None and not selection.removes:
        return (
            f"{declared.source.file_line}: absent: true, but a plan with --target or "
            "--exclude removes nothing: left as it is (a plan without them removes it)"
        )
    return absent_contact(declared, contact, settings, capabilities, live.conversations)


def _first_problems(
    declaration: Declaration, live: LiveState, settings: Settings, capabilities: Capabilities
) -> list[str]:
    """What is wrong before any contact is looked at; AssertionError for a caller's bug."""
    if len(live.contacts) != len(declaration.contacts):
        raise AssertionError("live state and declaration are not aligned")
    if live.scanned and live.marker_key != settings.marker_key:
        # The listing kept only what a plan with that marker reads: this one would miss it.
        raise AssertionError("the live state was fetched for another ownership marker")
    problems = _unsupported(declaration, capabilities)
    marker_key = settings.marker_key
    absent = any(declared.absent for declared in declaration.contacts)
    if absent and settings.removed == "delete" and not capabilities.deletes:
        problems.append(cant_delete(capabilities))
    if marker_key is not None:
        label = settings.marker_label_on(capabilities.writes_labels)
        problems += declaring_the_marker(declaration, marker_key, label)
    return problems


def _finished(plan: Plan, settings: Settings, used_rules: set[int], notes: list[str]) -> Plan:
    """``plan`` with its warnings: unused ignore rules, the notes, the thresholds."""
    warnings = [
        f"settings: ignore[{index}] names a contact that no file declares"
        for index, rule in enumerate(settings.ignore)
        if rule.contact is not None and index not in used_rules
    ]
    warnings += notes
    over = change_limit_message(plan, settings)
    if over is not None:
        warnings.append(f"{over}: apply will refuse without --force")
    warnings += removal_warnings(plan, settings)
    return replace(plan, warnings=tuple(warnings))


def _existing(
    declared: DeclaredContact,
    contact: Contact,
    ignored: Collection[str],
    settings: Settings,
    capabilities: Capabilities,
    *,
    additive: bool,
    labeled: bool = True,
    file: str | None = None,
) -> tuple[Change | None, tuple[str, ...]]:
    """What makes a contact the desk has match its declaration: its fields, its
    ownership marker (and its label, unless ``labeled`` already) and dropped keys, its
    labels; and the notes on what can't be."""
    live_id = int(contact["id"])
    change = _update(declared, contact, live_id, ignored)
    change, notes = owned(
        change,
        declared,
        contact,
        ignored=ignored,
        settings=settings,
        capabilities=capabilities,
        file=file,
    )
    label = settings.marker_label_on(capabilities.writes_labels)
    if labels.FIELD in declared.fields and capabilities.writes_labels:
        change = labels.with_labels(
            change, declared, contact, live_id, additive=additive, marker=label
        )
    elif label is not None and not labeled:
        change = labels.with_marker_label(change, declared, live_id, label)
    if (
        change is not None
        and change.marker is None
        and label
        and labels.sends_marker(change, label)
    ):
        # The label (named as the marker's key) marks the contact as the marker does: a
        # plan file shows which marker.
        change = replace(change, marker=Marker.of(declared.fields, label, file).text())
    return change, notes


def _create(
    declared: DeclaredContact,
    settings: Settings,
    capabilities: Capabilities,
    *,
    additive: bool,
    file: str | None = None,
) -> Change | str:
    """The create of a contact the desk doesn't have, or why it can't be planned."""
    where = declared.source.file_line
    if declared.id is not None:
        return (
            f"the target has no contact with id {declared.id} ({where}); remove `id` to create it"
        )
    if declared.inbox_id is None and capabilities.create_needs_inbox:
        return (
            f"{where}: the contact doesn't exist yet and has no inbox to be "
            "created in; set `inbox_id` on it or `defaults.inbox_id` in its file"
        )
    marker_key = settings.marker_key
    marker = None if marker_key is None else Marker.of(declared.fields, marker_key, file).text()
    return create_change(
        declared,
        capabilities,
        marker=marker,
        marker_key=marker_key,
        additive=additive,
        label=settings.marker_label_on(capabilities.writes_labels),
    )


def _unsupported(declaration: Declaration, capabilities: Capabilities) -> list[str]:
    """One line for each field the files declare that the target can't keep."""
    problems = []
    for name, why in capabilities.unsupported:
        using = [declared for declared in declaration.contacts if name in declared.fields]
        if using:
            more = f" and {len(using) - 1} other contact(s)" if len(using) > 1 else ""
            problems.append(f"{using[0].source.file_line}{more}: {why}")
    return problems


def change_limit_message(plan: Plan, settings: Settings) -> str | None:
    """Say how the plan exceeds ``max_changes``, or None when it doesn't."""
    # A partial plan's share is of all the files declare: a percentage of a handful
    # selected would refuse the one change a --target was for.
    limit = settings.change_limit(plan.declared)
    changed = plan.creates + plan.updates  # markers and removals are counted apart
    if limit is None or changed <= limit:
        return None
    return (
        f"the plan changes {changed} of {plan.declared} contacts, more than max_changes "
        f"({settings.max_changes}) allows ({limit})"
    )


def _already_so(fields: Mapping[str, JSON], contact: Contact) -> bool:
    """True when every declared value is already the live one, to the letter and type.

    The usual contact's shortcut: most declared contacts are unchanged, and an exact match
    needs neither the field rules nor a diff. False only means "look closer".
    """
    for name, value in fields.items():
        before = contact.get(name, ABSENT)
        if name in ATTRIBUTE_OBJECTS:
            if type(before) is not dict:
                return False
            for key, declared_value in value.items():
                live = before.get(key, ABSENT)
                if not strict_equal(live, merged(live, declared_value)):
                    return False
        elif not strict_equal(before, value):
            return False
    return True


# Updates --------------------------------------------------------------------------------


def _update(
    declared: DeclaredContact, contact: Contact, live_id: int, ignored: Collection[str]
) -> Change | None:
    fields = without_paths(declared.fields, ignored)
    fields = {name: value for name, value in fields.items() if name in COMPARED}
    if _already_so(fields, contact):
        return None
    changes: list[FieldChange] = []
    body: dict[str, JSON] = {}
    for name in SCALARS:
        if name not in fields:
            continue
        after = sent_value(name, fields[name])
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
            after = merged(before, declared_value)
            found = leaf_changes((name, key), before, after)
            if found:
                changes.extend(found)
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
        operations=(Operation(OperationKind.UPDATE, body),),
        id=live_id,
    )
