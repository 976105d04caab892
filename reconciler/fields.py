"""The managed fields: how each compares, identifies a contact, and whether it is personal.

The one place the engine, redaction, export and rendering learn what a field is. What
values a field may hold is the JSON Schema's to say (schemas/contacts.schema.json); a test
checks that the two agree. Adding a field: an entry here and its property in the schema.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

JSON: TypeAlias = Any


class Kind(enum.Enum):
    SCALAR = "scalar"  # compared and sent whole
    ATTRIBUTES = "attributes"  # an object of free keys, merged one level deep by the server
    SET = "set"  # a set of names compared case-insensitively, written whole (labels)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    folds_case: bool = False  # compared (and stored by the server) lower-cased
    nfc: bool = False  # compared in Unicode NFC: "é" and "e" + U+0301 are one value
    blank_is_null: bool = False  # "" and null are the same value
    key_rank: int | None = None  # identifies a contact, after the id: lower ranks first
    personal: bool = False  # masked by --redact

    def comparable(self, value: JSON) -> JSON:
        """The value as the server compares it: lower-cased, or null for a blank."""
        if self.blank_is_null and value == "":
            return None
        if self.nfc and isinstance(value, str):
            value = unicodedata.normalize("NFC", value)
        if self.folds_case and isinstance(value, str):
            lowered = value.lower()
            return value if lowered == value else lowered  # no second copy of a million emails
        return value


FIELDS: tuple[Field, ...] = (
    Field("name", Kind.SCALAR, personal=True),
    Field("email", Kind.SCALAR, folds_case=True, blank_is_null=True, key_rank=2, personal=True),
    Field("phone_number", Kind.SCALAR, blank_is_null=True, personal=True),
    Field("identifier", Kind.SCALAR, nfc=True, blank_is_null=True, key_rank=1, personal=True),
    Field("blocked", Kind.SCALAR),
    Field("additional_attributes", Kind.ATTRIBUTES),
    Field("custom_attributes", Kind.ATTRIBUTES),
    Field("labels", Kind.SET, folds_case=True),
)
"""In the order plans list their changes."""

BY_NAME: Mapping[str, Field] = {field.name: field for field in FIELDS}
SCALARS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is Kind.SCALAR)
ATTRIBUTE_OBJECTS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is Kind.ATTRIBUTES)
KEY_FIELDS: tuple[str, ...] = tuple(
    f.name for f in sorted(FIELDS, key=lambda f: f.key_rank or 0) if f.key_rank is not None
)
"""The fields that find a contact when it has no declared id, in the order they are tried."""
SETS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is Kind.SET)
DIRECTIVES: tuple[str, ...] = ("labels_mode", "absent")
"""Keys of a declared contact that say how to apply it, not values to keep."""
PERSONAL: frozenset[str] = frozenset(f.name for f in FIELDS if f.personal)
BLANK_IS_NULL: frozenset[str] = frozenset(f.name for f in FIELDS if f.blank_is_null)


def comparable(name: str, value: JSON) -> JSON:
    """``value`` of the top-level field ``name`` as the server compares it."""
    field = BY_NAME.get(name)
    return value if field is None else field.comparable(value)
