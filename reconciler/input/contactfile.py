"""A valid contact file -> its contacts, and the check that spans files (unique values).

What a file declares depends on its bytes alone: it is worked out once (``contact_file``),
and reconciler.input.cache keeps it as plain rows (``to_rows`` / ``from_rows``), so a warm run
never rebuilds the file's values or position tables. Whether a unique value was declared
before depends on the other files: ``ContactFile.declare`` checks it on every run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from reconciler.fields import comparable
from reconciler.input.document import Document, json_path
from reconciler.model import JSON, DeclaredContact, Position, Problem

ContactRow: TypeAlias = tuple[int, int, Mapping[str, JSON], int | None, int | None]
"""A contact as the cache keeps it: line, column, fields, id, inbox_id."""

UniqueValue: TypeAlias = tuple[tuple[str, JSON], int, int, int]
"""A value no two contacts may share: ((field, value as compared), line, column, index)."""


class FirstPlaces:
    """Where each unique value was first declared. A million contacts declare millions of
    them, so a place is one int (file number, line, column), and each field has its own
    table of values: the tuples of a plain (field, value) -> (file, line, column) table
    took a quarter of the memory of reading a million contacts.
    """

    _SHIFT = 25  # lines and columns of a file of MAX_FILE_BYTES (20 MiB) fit

    def __init__(self) -> None:
        self._files: list[str] = []
        self._by_field: dict[str, dict[JSON, int]] = {}

    def add_file(self, path: str) -> int:
        self._files.append(path)
        return len(self._files) - 1

    def first(self, field: str, value: JSON, file: int, line: int, column: int) -> Position | None:
        """None where this is the value's first place; else that first place."""
        place = (file << 2 * self._SHIFT) | (line << self._SHIFT) | column
        first = self._by_field.setdefault(field, {}).setdefault(value, place)
        if first == place:
            return None
        mask = (1 << self._SHIFT) - 1
        path = self._files[first >> 2 * self._SHIFT]
        return Position(path, (first >> self._SHIFT) & mask, first & mask)


@dataclass(frozen=True, slots=True)
class ContactFile:
    """The contacts of a contact file the schema accepts, named after the file read."""

    path: str  # as given, for messages
    sha256: str  # of the file's bytes
    contacts: tuple[DeclaredContact, ...]
    unique_values: tuple[UniqueValue, ...]  # in file order: contact by contact, field by field

    @classmethod
    def from_rows(
        cls,
        path: str,
        sha256: str,
        rows: list[ContactRow],
        unique_values: tuple[UniqueValue, ...],
    ) -> ContactFile:
        contacts = tuple(
            DeclaredContact(Position(path, line, column), fields, contact_id, inbox_id)
            for line, column, fields, contact_id, inbox_id in rows
        )
        return cls(path, sha256, contacts, unique_values)

    def to_rows(self) -> list[ContactRow]:
        return [
            (
                contact.source.line,
                contact.source.column,
                contact.fields,
                contact.id,
                contact.inbox_id,
            )
            for contact in self.contacts
        ]

    def declare(
        self,
        unique_fields: Mapping[str, str],
        first_places: FirstPlaces,
        contacts: list[DeclaredContact],
    ) -> list[Problem]:
        """Append the file's contacts; a problem for each unique value declared before."""
        problems: list[Problem] = []
        file = first_places.add_file(self.path)
        for (field, value), line, column, index in self.unique_values:
            first = first_places.first(field, value, file, line, column)
            if first is not None:
                mode = unique_fields[field]
                ignoring_case = " (ignoring case)" if mode == "case-insensitive" else ""
                message = (
                    f"this {field} is also declared at {first}{ignoring_case}; one "
                    f"{field} can belong to one contact only: merge the two contacts or correct one"
                )
                path = json_path(("contacts", index, field))
                problems.append(Problem(Position(self.path, line, column), path, message))
        contacts.extend(self.contacts)
        return problems


def contact_file(document: Document, unique_fields: Mapping[str, str]) -> ContactFile:
    """The contacts of a document the schema accepts, and their values ``x-unique`` marks."""
    data = document.data
    marks = document.marks.raw
    defaults = data.get("defaults", {})
    default_inbox = defaults.get("inbox_id")
    rows: list[ContactRow] = []
    unique_values: list[UniqueValue] = []
    shared = _Shared()
    for index, contact in enumerate(data["contacts"]):
        for field in unique_fields:
            value = contact.get(field)
            if value is None:
                continue
            if isinstance(value, str):
                value = comparable(field, value)  # as the server compares it: case, NFC
            line, column = marks[("contacts", index, field)]
            unique_values.append(((sys.intern(field), value), line, column, index))
        inbox_id = contact.get("inbox_id", default_inbox)
        line, column = marks[("contacts", index)]
        fields = {
            sys.intern(k): shared(v) for k, v in contact.items() if k not in ("id", "inbox_id")
        }
        if "labels_mode" in defaults and "labels_mode" not in fields:
            fields["labels_mode"] = defaults["labels_mode"]
        contact_id = None if contact.get("id") is None else int(contact["id"])
        rows.append((line, column, fields, contact_id, None if inbox_id is None else int(inbox_id)))
    return ContactFile.from_rows(document.path, document.sha256, rows, tuple(unique_values))


class _Shared:
    """A file's values, each stored once: the keys of its mappings interned (a million
    contacts hold one "company_name" between them), and each string and object the file
    repeats shared by the contacts that repeat it (one "Singapore", one
    ``{"tier": "gold"}``). No stage mutates a declared value, and the cache's marshal
    keeps what is shared shared.
    """

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._objects: dict[tuple[object, ...], dict[str, JSON]] = {}

    def __call__(self, value: JSON) -> JSON:
        if isinstance(value, str):
            return self._strings.setdefault(value, value)
        if isinstance(value, dict):
            compact = {sys.intern(key): self(item) for key, item in value.items()}
            shape = _shape(compact)
            return compact if shape is None else self._objects.setdefault(shape, compact)
        if isinstance(value, list):
            return [self(item) for item in value]
        return value


def _shape(value: dict[str, JSON]) -> tuple[object, ...] | None:
    """What tells an object from another in JSON: keys in order, and values with their
    types (1, 1.0 and true differ, and so do 0.0 and -0.0), objects by identity; None for
    one holding a list."""
    shape: list[object] = []
    for key, item in value.items():
        kind = type(item)
        if kind is float:
            shape += (key, kind, repr(item))
        elif kind in (str, int, bool) or item is None:
            shape += (key, kind, item)
        elif kind is dict:  # shared already, if it repeats: the same object
            shape += (key, kind, id(item))
        else:
            return None
    return tuple(shape)
