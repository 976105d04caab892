"""What reconciler owns on a contact, and what plan removes because of it.

The marker: a custom_attributes key (the ``marker`` setting) that holds, as compact JSON
text, the names of the fields and top-level attribute keys the files declare for that
contact, and the file that declares it (from the repository's root); no value, so no
personal data. kubectl's last-applied annotation is the model. It is written with every
create and update (and alone where nothing else changes), never diffed, exported or shown
as a change. What it makes possible:

* an attribute key the marker lists and the files dropped is removed (Chatwoot's
  ``destroy_custom_attributes``), or, where the target can't, named in a warning;
* a contact with the marker that no file declares (an orphan) is released (its marker
  removed), blocked or deleted, as ``removed:`` says, by a plan whose paths cover the
  file its marker names (engine.removal); ``absent: true`` removes a declared one;
* a contact reconciler blocked that way is unblocked when a file declares it again.

A contact without the marker is never removed or blocked, whatever the files say.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from reconciler.changes import Action, Change, FieldChange, Operation, OperationKind
from reconciler.fields import ATTRIBUTE_OBJECTS, DIRECTIVES, fold_case
from reconciler.input.settings import Settings
from reconciler.model import ABSENT, JSON, Contact, Declaration, DeclaredContact
from reconciler.targets.base import Capabilities

_TAG = "reconciler"
MARKER_PREFIX = '{"by":"reconciler"'
"""How every marker's text starts (``_marker_text``): a cheap test before parsing one."""


@dataclass(frozen=True, slots=True)
class Marker:
    """The fields, and each attribute object's top-level keys, that reconciler set; the
    file that declared them (from the repository's root; None in a marker written before
    markers named one); and whether reconciler blocked the contact when the files dropped
    it (so that a file declaring it again unblocks it)."""

    fields: frozenset[str]
    keys: Mapping[str, frozenset[str]]  # additional_attributes / custom_attributes -> keys
    file: str | None = None
    blocked: bool = False

    @classmethod
    def of(cls, declared: Mapping[str, JSON], marker_key: str, file: str | None = None) -> Marker:
        """What a contact declaring ``declared`` (in ``file``) has reconciler set."""
        keys = {
            name: frozenset(k for k in (declared.get(name) or {}) if k != marker_key)
            for name in ATTRIBUTE_OBJECTS
        }
        fields = frozenset(
            name for name in declared if name not in ATTRIBUTE_OBJECTS and name not in DIRECTIVES
        )
        return cls(fields, keys, file)

    def text(self) -> str:
        keys = tuple(self.keys.get(name, frozenset()) for name in ATTRIBUTE_OBJECTS)
        return _marker_text(self.fields, keys, self.file, self.blocked)


@functools.lru_cache(maxsize=4096)
def _marker_text(
    fields: frozenset[str], keys: tuple[frozenset[str], ...], file: str | None, blocked: bool
) -> str:
    # Contacts declared alike share one text: a first plan marks every one of them.
    document: dict[str, JSON] = {"by": _TAG}
    if file is not None:
        document["file"] = file
    if blocked:
        document["blocked"] = True
    document["fields"] = sorted(fields)
    document.update(
        {name: sorted(each) for name, each in zip(ATTRIBUTE_OBJECTS, keys, strict=True)}
    )
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


_SIGNATURE = "#"
_SIGNATURE_LENGTH = 32  # hex digits of HMAC-SHA256 kept: 128 bits


def content_of(text: str) -> str:
    """A marker's text without its signature (``content#signature``), or as it is."""
    head, mark, tail = text.rpartition(_SIGNATURE)
    return head if mark and len(tail) == _SIGNATURE_LENGTH and head.endswith("}") else text


def signed(content: str, contact_id: int, secret: bytes) -> str:
    """A marker's text as apply writes it: its content, and an HMAC over the content and
    the contact's id keyed by the target's marker secret. Only a holder of the credential
    can write one, and one copied onto another contact (by hand, or by a merge in the desk
    that carries custom attributes over) doesn't verify there."""
    message = f"{contact_id}\0{content}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).hexdigest()[:_SIGNATURE_LENGTH]
    return f"{content}{_SIGNATURE}{digest}"


def verified(text: JSON, contact_id: int, secret: bytes) -> bool:
    """Whether ``text`` is a marker reconciler wrote on this contact (under this secret)."""
    if not isinstance(text, str):
        return False
    content = content_of(text)
    expected = signed(content, contact_id, secret).encode()
    return content != text and hmac.compare_digest(expected, text.encode())


def parse_marker(value: JSON) -> Marker | None:
    """The marker a live value holds, signed or not; None when it holds none (missing,
    null, not ours). Whether reconciler wrote it is ``verified``'s to say."""
    if not isinstance(value, str):
        return None
    try:
        document = json.loads(content_of(value))
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("by") != _TAG:
        return None

    def names(item: JSON) -> frozenset[str]:
        if not isinstance(item, list):
            return frozenset()
        return frozenset(name for name in item if isinstance(name, str))

    keys = {name: names(document.get(name)) for name in ATTRIBUTE_OBJECTS}
    file = document.get("file")
    return Marker(
        names(document.get("fields")),
        keys,
        file if isinstance(file, str) else None,
        document.get("blocked") is True,
    )


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


def declaring_the_marker(
    declaration: Declaration, marker_key: str, label: str | None = None
) -> list[str]:
    """A line for each contact that declares the ownership marker's key, or its ``label``
    (where the marker is also a label): reconciler's to write, so never the files'."""
    lines = [
        f"{declared.source.file_line}: custom_attributes.{marker_key} is where reconciler "
        "keeps its ownership marker (the `marker` setting); remove it from the file, or name "
        "another marker in reconciler.yaml"
        for declared in declaration.contacts
        if marker_key in (declared.fields.get("custom_attributes") or {})
    ]
    if label is not None:
        folded = fold_case(label)
        lines += [
            f"{declared.source.file_line}: the label {label} is reconciler's ownership marker "
            "(the `marker` setting, kept as a label too): remove it from the file's labels, "
            "or set `marker_label: false` in reconciler.yaml"
            for declared in declaration.contacts
            if any(
                isinstance(name, str) and fold_case(name) == folded
                for name in declared.fields.get("labels") or ()
            )
        ]
    return lines


def owned(
    change: Change | None,
    declared: DeclaredContact,
    contact: Contact,
    *,
    ignored: Collection[str],
    settings: Settings,
    capabilities: Capabilities,
    file: str | None = None,
) -> tuple[Change | None, tuple[str, ...]]:
    """``change`` with the ownership marker written (naming ``file``, the declaring file)
    and the dropped keys removed, and unblocked where reconciler blocked it when the files
    dropped it; and a line for each dropped key the target can't remove."""
    marker_key = settings.marker_key
    if marker_key is None:
        return change, ()
    marker = Marker.of(declared.fields, marker_key, file).text()
    live = marker_text(contact, marker_key)
    if isinstance(live, str) and content_of(live) == marker:
        return change, ()  # the same marker: nothing the files declared is dropped
    dropped = dropped_keys(declared, contact, marker_key, capabilities, frozenset(ignored))
    unblock = _blocked_by_us(declared, contact, marker_key)
    if change is None and not dropped.keys and not unblock:
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
    if unblock:
        fields.insert(0, FieldChange("blocked", True, False))
        body["blocked"] = False
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


def _blocked_by_us(declared: DeclaredContact, contact: Contact, marker_key: str) -> bool:
    """Whether a declared contact is blocked because reconciler blocked it when the files
    dropped it (a person's block, or a declared ``blocked``, is not undone)."""
    if "blocked" in declared.fields or contact.get("blocked") is not True:
        return False
    before = live_marker(contact, marker_key)
    return before is not None and before.blocked


@functools.lru_cache(maxsize=4096)
def _marker_write(marker_key: str, marker: str) -> tuple[Operation, ...]:
    return (Operation(OperationKind.UPDATE, {"custom_attributes": {marker_key: marker}}),)


def signing(
    body: Mapping[str, JSON], marker_key: str | None, contact_id: int, secret: bytes
) -> Mapping[str, JSON]:
    """``body`` with the ownership marker it writes signed for this contact (a new dict:
    planned bodies are shared, never changed)."""
    attributes = body.get("custom_attributes")
    if marker_key is None or not isinstance(attributes, Mapping):
        return body
    content = attributes.get(marker_key)
    if not isinstance(content, str):
        return body  # none, or null: a release
    marker = signed(content, contact_id, secret)
    return {**body, "custom_attributes": {**attributes, marker_key: marker}}


def orphans_among(
    listed: list[Contact], declared: Iterable[Contact | None], marker_key: str, secret: bytes
) -> tuple[tuple[Contact, ...], tuple[Contact, ...]]:
    """The listed contacts none of the declared is that carry reconciler's marker: those it
    wrote (verified), and those it can't verify (copied, merged, written before markers
    were signed or under another credential), which are never acted on."""
    declared_ids = {int(contact["id"]) for contact in declared if contact is not None}
    orphans: dict[int, Contact] = {}
    foreign: dict[int, Contact] = {}
    for contact in listed:
        contact_id = int(contact["id"])
        if contact_id in declared_ids or contact_id in orphans or contact_id in foreign:
            continue
        text = marker_text(contact, marker_key)
        if verified(text, contact_id, secret):
            orphans[contact_id] = contact
        elif parse_marker(text) is not None:
            foreign[contact_id] = contact
    return tuple(orphans.values()), tuple(foreign.values())


def trusted(contact: Contact | None, marker_key: str, secret: bytes) -> Contact | None:
    """``contact`` without a marker reconciler can't verify: a declared contact is then
    marked anew, and nothing a copied marker lists is taken for reconciler's."""
    if contact is None:
        return None
    text = marker_text(contact, marker_key)
    if text is None or verified(text, int(contact["id"]), secret):
        return contact
    attributes = {k: v for k, v in contact["custom_attributes"].items() if k != marker_key}
    return {**contact, "custom_attributes": attributes}


def renamed_markers(contacts: Iterable[Contact | None], marker_key: str | None) -> list[str]:
    """A note naming the contacts that carry reconciler's marker under another key than the
    ``marker`` setting's (it was renamed) and none under its own, and how to migrate."""
    if marker_key is None:
        return []
    found: dict[str, list[int]] = {}
    for contact in contacts:
        attributes = (contact or {}).get("custom_attributes")
        # Named until an apply marks them under the setting's key (most contacts, once
        # it has): a plan needn't read every attribute of a million contacts to say so.
        if not isinstance(attributes, dict) or marker_key in attributes:
            continue
        for key, value in attributes.items():
            if key != marker_key and parse_marker(value) is not None:
                found.setdefault(key, []).append(int(contact["id"]))  # type: ignore[index]
    return [
        f"{len(ids)} contact(s) carry reconciler's ownership marker under "
        f"custom_attributes.{old}, and the `marker` setting now says {marker_key} (ids "
        f"{_some(sorted(ids))}): the ones no "
        f"file declares are no longer seen as managed, so nothing releases or removes them. "
        f"To migrate, put `marker: {old}` back; or apply (it marks the declared contacts "
        f"under {marker_key}) and then delete custom_attributes.{old} in the desk"
        for old, ids in found.items()
    ]


def _some(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (" and more" if len(ids) > 20 else "")
