"""What plan does with a contact reconciler manages that the files no longer keep: the
release (its marker taken off), the block (recorded in its marker, so that a file
declaring it again unblocks it) or the delete (never of a contact with conversations,
unless the settings say so) that ``removed:`` asks for, of the orphans whose declaring
file the plan covers, and of the declared ``absent: true``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.changes import Action, Change, FieldChange, Operation, OperationKind, Plan
from reconciler.engine.labels import marker_unlabelling
from reconciler.engine.ownership import live_marker, marker_text, parse_marker
from reconciler.fields import KEY_FIELDS, comparable, fold_case
from reconciler.input.settings import Settings
from reconciler.model import ABSENT, Contact, ContactKey, Declaration, DeclaredContact, LiveState
from reconciler.targets.base import Capabilities


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
        return change(Action.BLOCK, (blocked,), blocking(contact, marker_key))
    released = release_operation(marker_key, capabilities)
    if label is None:
        return change(Action.RELEASE, (), released)
    return change(Action.RELEASE, (), released, marker_unlabelling(label))


def blocking(contact: Contact, marker_key: str) -> Operation:
    """The write that blocks a managed contact, its marker saying that reconciler did."""
    marker = live_marker(contact, marker_key)
    if marker is None:
        raise AssertionError("a block of a contact reconciler doesn't manage")
    text = dataclasses.replace(marker, blocked=True).text()
    return Operation(
        OperationKind.UPDATE, {"blocked": True, "custom_attributes": {marker_key: text}}
    )


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
    live: LiveState,
    settings: Settings,
    capabilities: Capabilities,
    problems: list[str],
    *,
    declaration: Declaration,
    changes: list[Change],
) -> Orphans:
    """The removals and releases of the live state's orphans whose declaring file the
    ``declaration`` covers; a release takes the marker's label off those it knows have it,
    and a delete weighs their conversations. A removal that may be one of the ``changes``'
    creates under its old key is a problem."""
    covers = declaration.covers
    orphans, labeled, conversations = live.orphans, live.labeled, live.conversations
    marker_key = settings.marker_key
    found = Orphans()
    if marker_key is None:
        return found
    if live.foreign:
        ids = ", ".join(f"id {contact['id']}" for contact in live.foreign[:20])
        more = f" and {len(live.foreign) - 20} more" if len(live.foreign) > 20 else ""
        found.notes.append(
            f"{len(live.foreign)} contact(s) no file declares carry an ownership marker "
            f"reconciler can't verify ({ids}{more}): copied or merged from another contact, "
            "written before markers were signed, or under another credential; left as they "
            "are (a file that declares one marks it anew)"
        )
    if live.unseen:
        found.notes.append(
            f"ties in the desk's order hid {live.unseen} listed contact(s) from every walk of "
            "the listing: a managed contact the files dropped among them is released or "
            "removed by a later plan, not this one"
        )
    owned = [contact for contact in orphans if live_marker(contact, marker_key) is not None]
    outside = [contact for contact in owned if not covers(_marker_file(contact, marker_key))]
    if outside:
        found.notes.append(
            f"{len(outside)} managed contact(s) no file here declares were declared in files "
            "outside this plan's paths (or before markers named their file): left as they "
            "are; a plan of the whole tree releases or removes them"
        )
        owned = [contact for contact in owned if contact not in outside]
    if owned and settings.removed == "delete" and not capabilities.deletes:
        problems.append(cant_delete(capabilities))
        return found
    label = settings.marker_label_on(capabilities.writes_labels)
    for contact in sorted(owned, key=lambda contact: int(contact["id"])):
        contact_id = int(contact["id"])
        with_label = label if _has_label(contact, label, labeled) else None
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
    if label is not None and declaration.selection is None:
        found.releases += [
            Change(
                action=Action.RELEASE,
                key=_key_of(contact),
                source=None,
                fields=(),
                operations=(marker_unlabelling(label),),
                id=int(contact["id"]),
            )
            for contact in live.stray  # their marker is gone: the label it left goes too
        ]
    creates = [change for change in changes if change.action is Action.CREATE]
    problems += unlinked_renames(found.removals, creates, declaration)
    return found


def _has_label(contact: Contact, label: str | None, labeled: frozenset[int] | None) -> bool:
    """Whether ``contact`` is known to have the marker's ``label``: from the label's
    listing, else from labels read with the contact (a dropped one looked up)."""
    if label is None:
        return False
    if labeled is not None:
        return int(contact["id"]) in labeled
    labels = contact.get("labels")
    return isinstance(labels, list) and fold_case(label) in (
        fold_case(name) for name in labels if isinstance(name, str)
    )


def _marker_file(contact: Contact, marker_key: str) -> str | None:
    marker = live_marker(contact, marker_key)
    return None if marker is None else marker.file


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


def unlinked_renames(
    removals: list[Change], creates: list[Change], declaration: Declaration
) -> list[str]:
    """Why a removal must not go with a create of the same file: nothing links the two, yet
    they may be one contact whose only key the file changed (an email fixed in place), and
    a removal can't be taken back. One line each, with the ways out."""
    created: dict[str, Change] = {}
    for change in creates:
        if change.source is not None:
            file = declaration.scope.files.get(change.source.file) if declaration.scope else None
            if file is not None:
                created.setdefault(file, change)
    lines = []
    for change in removals:
        marker = parse_marker(change.marker)
        create = None if marker is None or marker.file is None else created.get(marker.file)
        if create is not None and change.source is None:
            lines.append(
                f"{create.where}: the contact this creates may be contact id {change.id}, "
                f"which {marker.file if marker else ''} declared and no longer does, and which "
                f"the plan would {change.action.value}: if it is the same contact with a new "
                f"key, declare `id: {change.id}` on it; if not, apply the {change.action.value} "
                "first (the file without the new contact), then the create"
            )
    return lines
