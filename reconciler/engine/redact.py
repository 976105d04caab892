"""Plan -> Plan with personal values masked, for outputs that others read (--redact).

Masked: the values of name, email, phone_number and identifier, and of every attribute key
the settings list as ``sensitive`` (a bare key like ``date_of_birth`` at any depth of either
attribute object, or a dotted path like ``additional_attributes.social_profiles``), in the
field changes, in the operations' bodies and in the contact keys. Null, ``""`` and a key's
absence stay as they are (they hold nothing personal), so a masked plan still shows what is
set, changed or cleared. A redacted plan can be shown but never applied.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from reconciler.changes import Change, FieldChange, Operation, Plan
from reconciler.fields import PERSONAL
from reconciler.model import ABSENT, JSON, ContactKey

REDACTED = "(redacted)"


def redact_plan(plan: Plan, sensitive: Collection[str]) -> Plan:
    masker = _Masker(sensitive)
    selection = plan.selection
    if selection is not None:
        selection = replace(
            selection,
            targets=tuple(map(redact_selector, selection.targets)),
            excludes=tuple(map(redact_selector, selection.excludes)),
            keys=tuple(map(masker.key, selection.keys)),
        )
    return replace(
        plan,
        changes=tuple(masker.change(change) for change in plan.changes),
        redacted=True,
        selection=selection,
    )


def redact_selector(selector: str) -> str:
    """A ``--target`` or ``--exclude`` selector with a personal value masked
    (``email:(redacted)``); ids, labels and paths stay."""
    kind, colon, _value = selector.partition(":")
    return f"{kind}:{REDACTED}" if colon and kind in SELECTOR_KINDS_PERSONAL else selector


SELECTOR_KINDS_PERSONAL = frozenset(("identifier", "email", "phone"))


def redact_change(change: Change, sensitive: Collection[str]) -> Change:
    """One change as ``redact_plan`` masks it: for lines about one contact."""
    return _Masker(sensitive).change(change)


class _Masker:
    def __init__(self, sensitive: Collection[str]) -> None:
        self.keys = frozenset(entry for entry in sensitive if "." not in entry)
        self.paths = tuple(entry for entry in sensitive if "." in entry)

    def change(self, change: Change) -> Change:
        return replace(
            change,
            key=self.key(change.key),
            fields=tuple(self.field(field) for field in change.fields),
            operations=tuple(self.operation(operation) for operation in change.operations),
        )

    def key(self, key: ContactKey) -> ContactKey:
        if key.field == "id":
            return key
        return ContactKey(key.field, REDACTED)

    def field(self, field: FieldChange) -> FieldChange:
        parts = field.key_path
        return FieldChange(
            field.path, self.value(parts, field.before), self.value(parts, field.after), field.keys
        )

    def operation(self, operation: Operation) -> Operation:
        body = {key: self.value((key,), value) for key, value in operation.body.items()}
        return replace(operation, body=body)

    def value(self, parts: tuple[str, ...], value: JSON) -> JSON:
        """``value`` found at ``parts`` of a contact, masked where it is personal."""
        if self.is_sensitive(parts):
            return value if value is ABSENT or value is None or value == "" else REDACTED
        if isinstance(value, Mapping):
            return {key: self.value((*parts, key), child) for key, child in value.items()}
        if isinstance(value, list):  # a list's items sit at the list's own path
            return [self.value(parts, item) for item in value]
        return value

    def is_sensitive(self, parts: tuple[str, ...]) -> bool:
        if len(parts) == 1:
            return parts[0] in PERSONAL
        if any(part in self.keys for part in parts[1:]):
            return True
        dotted = ".".join(parts)
        return any(dotted == path or dotted.startswith(path + ".") for path in self.paths)
