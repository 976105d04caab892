"""What reconciler owns on a contact, and what plan removes because of it.

The marker: a custom_attributes key (the ``marker`` setting) that holds, as compact JSON
text, the names of the fields and top-level attribute keys the files declare for that
contact; no value, so no personal data. kubectl's last-applied annotation is the model.
It is written with every create and update (and alone where nothing else changes), never
diffed, exported or shown as a change. What it makes possible:

* an attribute key the marker lists and the files dropped is removed (Chatwoot's
  ``destroy_custom_attributes``), or, where the target can't, named in a warning;
* a contact with the marker that no file declares (an orphan) is released (its marker
  removed), blocked or deleted, as ``removed:`` says; ``absent: true`` removes a declared one.

A contact without the marker is never removed or blocked, whatever the files say.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from reconciler.engine.labels import marker_unlabelling
from reconciler.fields import ATTRIBUTE_OBJECTS, DIRECTIVES, KEY_FIELDS, comparable
from reconciler.input.settings import Settings
from reconciler.model import (
    ABSENT,
    JSON,
    Action,
    Change,
    Contact,
    ContactKey,
    Declaration,
    DeclaredContact,
    FieldChange,
    LiveState,
    Operation,
    OperationKind,
    Plan,
)
from reconciler.targets.base import Capabilities

_TAG = "reconciler"


@dataclass(frozen=True, slots=True)
class Marker:
    """The fields, and each attribute object's top-level keys, that reconciler set."""

    fields: frozenset[str]
    keys: Mapping[str, frozenset[str]]  # additional_attributes / custom_attributes -> keys

    @classmethod
    def of(cls, declared: Mapping[str, JSON], marker_key: str) -> Marker:
        """What a contact declaring ``declared`` has reconciler set."""
        keys = {
            name: frozenset(k for k in (declared.get(name) or {}) if k != marker_key)
            for name in ATTRIBUTE_OBJECTS
        }
        fields = frozenset(
            name for name in declared if name not in ATTRIBUTE_OBJECTS and name not in DIRECTIVES
        )
        return cls(fields, keys)

    def text(self) -> str:
        keys = tuple(self.keys.get(name, frozenset()) for name in ATTRIBUTE_OBJECTS)
        return _marker_text(self.fields, keys)


@functools.lru_cache(maxsize=4096)
def _marker_text(fields: frozenset[str], keys: tuple[frozenset[str], ...]) -> str:
    # Contacts declared alike share one text: a first plan marks every one of them.
    document: dict[str, JSON] = {"by": _TAG, "fields": sorted(fields)}
    document.update(
        {name: sorted(each) for name, each in zip(ATTRIBUTE_OBJECTS, keys, strict=True)}
    )
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def parse_marker(value: JSON) -> Marker | None:
    """The marker a live value holds; None when it holds none (missing, null, not ours)."""
    if not isinstance(value, str):
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("by") != _TAG:
        return None

    def names(item: JSON) -> frozenset[str]:
        if not isinstance(item, list):
            return frozenset()
        return frozenset(name for name in item if isinstance(name, str))

    keys = {name: names(document.get(name)) for name in ATTRIBUTE_OBJECTS}
    return Marker(names(document.get("fields")), keys)


def live_marker(contact: Contact, marker_key: str) -> Marker | None:
    attributes = contact.get("custom_attributes")
    return parse_marker(attributes.get(marker_key) if isinstance(attributes, dict) else None)


def marker_text(contact: Contact, marker_key: str) -> JSON:
    attributes = contact.get("custom_attributes")
    return attributes.get(marker_key) if isinstance(attributes, dict) else None


@dataclass(frozen=True, slots=True)
class Dropped:
    """What the files dropped from a managed contact: key removals and what can't be."""

    fields: tuple[FieldChange, ...]  # custom_attributes keys to remove
    keys: tuple[str, ...]  # the same keys, for REMOVE_ATTRIBUTES
    notes: tuple[str, ...]  # keys the target can't remove, one line each


def dropped_keys(
    declared: DeclaredContact,
    contact: Contact,
    marker_key: str,
    capabilities: Capabilities,
    ignored: frozenset[str],
) -> Dropped:
    """The attribute keys the live marker says reconciler set and the files no longer
    declare, still on the contact: removed where the target can, else named."""
    before = live_marker(contact, marker_key)
    if before is None:
        return Dropped((), (), ())
    now = Marker.of(declared.fields, marker_key)
    fields: list[FieldChange] = []
    keys: list[str] = []
    notes: list[str] = []
    for name in ATTRIBUTE_OBJECTS:
        live_object = contact.get(name)
        if not isinstance(live_object, Mapping):
            continue
        for key in sorted(before.keys.get(name, frozenset()) - now.keys[name]):
            path = f"{name}.{key}"
            if key not in live_object or key == marker_key or _is_ignored(path, ignored):
                continue
            if name == "custom_attributes" and capabilities.removes_attributes:
                fields.append(FieldChange(path, live_object[key], ABSENT, _keys(name, key)))
                keys.append(key)
            else:
                notes.append(
                    f"{declared.source.file_line}: {path} is no longer declared, but "
                    f"{capabilities.service} "
                    f"has no way to remove {'that' if name == 'custom_attributes' else 'an'} "
                    f"{name} key: it keeps its value (declare it null to clear it)"
                )
    return Dropped(tuple(fields), tuple(keys), tuple(notes))


def _keys(name: str, key: str) -> tuple[str, ...]:
    return (name, key) if "." in key else ()


def _is_ignored(path: str, ignored: frozenset[str]) -> bool:
    return any(path == rule or path.startswith(rule + ".") for rule in ignored)


def _key_of(contact: Contact) -> ContactKey:
    """What names a contact no file declares: its identifier or email, else its id."""
    for name in KEY_FIELDS:
        value = contact.get(name)
        if isinstance(value, str) and value:
            return ContactKey(name, comparable(name, value))  # type: ignore[arg-type]
    return ContactKey("id", int(contact["id"]))


def release_operation(marker_key: str, capabilities: Capabilities) -> Operation:
    """The write that takes the marker off a contact."""
    if capabilities.removes_attributes:
        return Operation(OperationKind.REMOVE_ATTRIBUTES, {"custom_attributes": [marker_key]})
    # No way to delete the key: null is "not marked" just as well.
    return Operation(OperationKind.UPDATE, {"custom_attributes": {marker_key: None}})


def removal(
    contact: Contact,
    settings: Settings,
    capabilities: Capabilities,
    declared: DeclaredContact | None = None,
    *,
    label: str | None = None,
    conversations: int | None = None,
) -> Change | str | None:
    """The change that removes (or releases) a managed contact as ``removed:`` says; None
    when it is so already (blocked); a note when it is left as it is. A release takes off
    the marker's ``label`` too. A contact with ``conversations`` is blocked, not deleted,
    unless the settings say a delete may take them too."""
    marker_key = settings.marker_key
    if marker_key is None:
        raise AssertionError("a removal with ownership off")
    contact_id = int(contact["id"])

    def change(action: Action, fields: tuple[FieldChange, ...], *operations: Operation) -> Change:
        return Change(
            action=action,
            key=declared.key if declared is not None else _key_of(contact),
            source=None if declared is None else declared.source,
            fields=fields,
            operations=operations,
            id=contact_id,
            marker=str(marker_text(contact, marker_key)),  # must still be there at apply
            conversations=conversations if action in (Action.DELETE, Action.BLOCK) else None,
            more_conversations=bool(conversations)
            and conversations == capabilities.conversations_shown,
        )

    policy = settings.removed
    if policy == "delete":
        if not conversations or settings.delete_with_conversations:
            return change(Action.DELETE, (), Operation(OperationKind.DELETE, {}))
        policy = "block"  # a delete would destroy its conversations with it
    if policy == "block":
        if contact.get("blocked") is True:
            if policy != settings.removed:
                where = "no longer in the files" if declared is None else declared.source.file_line
                return (
                    f"id {contact_id} ({where}) is not deleted: it has conversations, which a "
                    "delete destroys with it, and it is blocked already "
                    "(`delete_with_conversations: true` deletes such contacts)"
                )
            return None
        blocked = FieldChange("blocked", contact.get("blocked", ABSENT), True)
        return change(Action.BLOCK, (blocked,), Operation(OperationKind.UPDATE, {"blocked": True}))
    released = release_operation(marker_key, capabilities)
    if label is None:
        return change(Action.RELEASE, (), released)
    return change(Action.RELEASE, (), released, marker_unlabelling(label))


def absent_contact(
    declared: DeclaredContact,
    contact: Contact | None,
    settings: Settings,
    capabilities: Capabilities,
    conversations: Mapping[int, int],
) -> Change | str | None:
    """What ``absent: true`` does: a removal, a note saying why nothing happens (str), or
    None when the contact is gone already."""
    where = declared.source.file_line
    if contact is None:
        return None
    marker_key = settings.marker_key
    if marker_key is None or live_marker(contact, marker_key) is None:
        return (
            f"{where}: absent: true, but reconciler doesn't manage that contact (it has no "
            "ownership marker): left as it is"
        )
    if settings.removed == "keep":
        return (
            f"{where}: absent: true, but `removed: keep` in reconciler.yaml keeps removed "
            "contacts: set `removed: block` or `removed: delete` to remove it"
        )
    counted = conversations.get(int(contact["id"]))
    return removal(contact, settings, capabilities, declared, conversations=counted)


@dataclass
class Orphans:
    """What becomes of the managed contacts no file declares."""

    removals: list[Change] = field(default_factory=list)
    releases: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def orphan_changes(
    live: LiveState, settings: Settings, capabilities: Capabilities, problems: list[str]
) -> Orphans:
    """The removals and releases of the live state's orphans; a release takes the marker's
    label off those it knows have it, and a delete weighs their conversations."""
    orphans, labeled, conversations = live.orphans, live.labeled, live.conversations
    marker_key = settings.marker_key
    found = Orphans()
    if marker_key is None:
        return found
    owned = [contact for contact in orphans if live_marker(contact, marker_key) is not None]
    if owned and settings.removed == "delete" and not capabilities.deletes:
        problems.append(cant_delete(capabilities))
        return found
    label = settings.marker_label_on(capabilities.writes_labels)
    for contact in sorted(owned, key=lambda contact: int(contact["id"])):
        contact_id = int(contact["id"])
        with_label = label if labeled is not None and contact_id in labeled else None
        change = removal(
            contact,
            settings,
            capabilities,
            label=with_label,
            conversations=conversations.get(contact_id),
        )
        if isinstance(change, str):
            found.notes.append(change)
        elif change is not None:
            (found.releases if change.action is Action.RELEASE else found.removals).append(change)
    return found


def cant_delete(capabilities: Capabilities) -> str:
    why = capabilities.why_unsupported("delete") or f"{capabilities.service} can't delete a contact"
    return f"`removed: delete` in reconciler.yaml, but {why}: use `removed: block` or `keep`"


def removal_warnings(plan: Plan, settings: Settings) -> list[str]:
    if not plan.removals:
        return []
    warnings = [
        f"the plan removes {plan.removals} contact(s): apply needs --allow-removal to do it"
    ]
    if plan.removals > settings.max_removals:
        warnings.append(
            f"the plan removes {plan.removals} contacts, more than max_removals "
            f"({settings.max_removals}) allows: apply will refuse without --force"
        )
    return warnings


def declaring_the_marker(declaration: Declaration, marker_key: str) -> list[str]:
    return [
        f"{declared.source.file_line}: custom_attributes.{marker_key} is where reconciler "
        "keeps its ownership marker (the `marker` setting); remove it from the file, or name "
        "another marker in reconciler.yaml"
        for declared in declaration.contacts
        if marker_key in (declared.fields.get("custom_attributes") or {})
    ]


def owned(
    change: Change | None,
    declared: DeclaredContact,
    contact: Contact,
    *,
    ignored: Collection[str],
    settings: Settings,
    capabilities: Capabilities,
) -> tuple[Change | None, tuple[str, ...]]:
    """``change`` with the ownership marker written and the dropped keys removed; and a
    line for each dropped key the target can't remove."""
    marker_key = settings.marker_key
    if marker_key is None:
        return change, ()
    marker = Marker.of(declared.fields, marker_key).text()
    if marker_text(contact, marker_key) == marker:
        return change, ()  # the same marker: nothing the files declared is dropped
    dropped = dropped_keys(declared, contact, marker_key, capabilities, frozenset(ignored))
    if change is None and not dropped.keys:
        # The first plan of a managed account marks every unchanged contact: one shared write.
        writes = _marker_write(marker_key, marker)
        written = Change(
            Action.UPDATE, declared.key, declared.source, (), writes, int(contact["id"]), marker
        )
        return written, dropped.notes
    fields = list(change.fields) if change else []
    operations = list(change.operations) if change else []
    body = dict(operations[0].body) if operations else {}
    body["custom_attributes"] = {**body.get("custom_attributes", {}), marker_key: marker}
    operations[:1] = [Operation(OperationKind.UPDATE, body)]
    if dropped.keys:
        fields += dropped.fields
        removed = {"custom_attributes": list(dropped.keys)}
        operations.append(Operation(OperationKind.REMOVE_ATTRIBUTES, removed))
    written = Change(
        action=Action.UPDATE,
        key=declared.key,
        source=declared.source,
        fields=tuple(fields),
        operations=tuple(operations),
        id=int(contact["id"]),
        marker=marker,
    )
    return written, dropped.notes


@functools.lru_cache(maxsize=4096)
def _marker_write(marker_key: str, marker: str) -> tuple[Operation, ...]:
    return (Operation(OperationKind.UPDATE, {"custom_attributes": {marker_key: marker}}),)
