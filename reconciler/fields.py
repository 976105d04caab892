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
    unique: bool = False  # no two contacts of an account hold one value (as compared)
    personal: bool = False  # masked by --redact

    def comparable(self, value: JSON) -> JSON:
        """The value as the server compares it: lower-cased, or null for a blank."""
        if self.blank_is_null and value == "":
            return None
        if self.nfc and isinstance(value, str):
            value = unicodedata.normalize("NFC", value)
        if self.folds_case and isinstance(value, str):
            lowered = fold_case(value)
            return value if lowered == value else lowered  # no second copy of a million emails
        return value


def fold_case(text: str) -> str:
    """``text`` lower-cased as the desk folds it: Ruby's ``downcase`` stores it, PostgreSQL's
    ``lower()`` compares it, each character on its own.

    Python's ``str.lower()`` differs in one rule only, Unicode's contextual Final_Sigma: a
    word-final capital sigma (U+03A3) becomes the final form U+03C2 there and U+03C3 at the
    desk, so two emails Python would call different are one to the desk's unique index.
    """
    if "\u03a3" not in text:
        return text.lower()
    return "".join(char.lower() for char in text)


FIELDS: tuple[Field, ...] = (
    Field("name", Kind.SCALAR, personal=True),
    Field(
        "email",
        Kind.SCALAR,
        folds_case=True,
        blank_is_null=True,
        key_rank=2,
        unique=True,
        personal=True,
    ),
    Field("phone_number", Kind.SCALAR, blank_is_null=True, unique=True, personal=True),
    Field(
        "identifier",
        Kind.SCALAR,
        nfc=True,
        blank_is_null=True,
        key_rank=1,
        unique=True,
        personal=True,
    ),
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
"""The fields that name a contact when it has no declared id, in the order they are tried."""
UNIQUE_FIELDS: tuple[str, ...] = (
    *KEY_FIELDS,
    *(f.name for f in FIELDS if f.unique and f.name not in KEY_FIELDS),
)
"""The fields each of which finds at most one contact of an account (as compared), in the
order a contact found by several is said to be found by: every one a file declares is
looked up, and a value one contact holds can't be given to another."""
SETS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is Kind.SET)
DIRECTIVES: tuple[str, ...] = ("labels_mode", "absent")
"""Keys of a declared contact that say how to apply it, not values to keep."""
PERSONAL: frozenset[str] = frozenset(f.name for f in FIELDS if f.personal)
BLANK_IS_NULL: frozenset[str] = frozenset(f.name for f in FIELDS if f.blank_is_null)


def comparable(name: str, value: JSON) -> JSON:
    """``value`` of the top-level field ``name`` as the server compares it."""
    field = BY_NAME.get(name)
    return value if field is None else field.comparable(value)


_FOLDED_UNIQUE = frozenset(f.name for f in FIELDS if f.unique and f.folds_case)


def indexed(name: str, value: JSON) -> JSON:
    """``value`` of the unique field ``name`` as the desk's unique index compares it: what
    finds a contact, and what no two contacts may share: folded where the field folds case,
    else exactly (no NFC: the index tells "é" from "e" and U+0301 apart); None for a
    blank, which no contact holds. The fetch, the plan, the stale check and the client's
    exact lookups all compare keys with it."""
    if value == "" or value is None:
        return None
    if name in _FOLDED_UNIQUE and isinstance(value, str):
        lowered = fold_case(value)
        return value if lowered == value else lowered
    return value
