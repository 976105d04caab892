"""What the fetch keeps of a listed contact: what the plan reads of it, no more.

A million listed contacts fit in memory because each is trimmed as it arrives, and because
what equals its declaration is the declaration's own object (see Projection).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.engine.diff import strict_equal
from reconciler.engine.ownership import MARKER_PREFIX, live_marker
from reconciler.engine.resolve import holds
from reconciler.fields import ATTRIBUTE_OBJECTS, BY_NAME, KEY_FIELDS, UNIQUE_FIELDS, indexed
from reconciler.model import (
    ABSENT,
    JSON,
    Contact,
    ContactKey,
    Declaration,
    DeclaredContact,
)


class Projection:
    """What a listed contact is kept as: what plan reads of it, no more; and which
    declared keys and unique values the kept contacts answer (``matched``).

    Its id, the key fields, the scalars any file declares (``blocked`` too, for a
    removal), and of each attribute object the keys any file declares, with the ownership
    marker and the keys it lists (the keys the files may have dropped). The rest of a live
    contact, most of its size, is never compared. A kept value identical to the one its
    declared contact holds (same JSON, same types) is replaced by the declared object, and
    so is a nested object that holds every declared leaf unchanged (its undeclared keys
    are only read to send it back whole, which an unchanged one never is): an unchanged
    contact costs a dict of references, and a million of them fit.
    """

    def __init__(self, declaration: Declaration, marker_key: str | None) -> None:
        self.marker_key = marker_key
        scalars = {"id", "blocked", *KEY_FIELDS}  # a declared phone_number is kept below
        keys: dict[str, set[str]] = {name: set() for name in ATTRIBUTE_OBJECTS}
        # Per unique field, each declared value to the first contact declaring it: a listed
        # contact is looked up without making a ContactKey of each of its fields.
        self._declared: dict[str, dict[JSON, DeclaredContact]] = {"id": {}}
        self._declared.update((name, {}) for name in UNIQUE_FIELDS)
        for declared in declaration.contacts:
            if declared.id is not None:
                self._declared["id"].setdefault(declared.id, declared)
            for name in UNIQUE_FIELDS:
                value = declared.fields.get(name)
                if isinstance(value, str) and value:
                    self._declared[name].setdefault(indexed(name, value), declared)
            for name, value in declared.fields.items():
                if name in keys and isinstance(value, Mapping):
                    keys[name].update(value)
                else:
                    scalars.add(name)
        if marker_key is not None:
            keys["custom_attributes"].add(marker_key)
        self._scalars = tuple(scalars)
        # The unique fields some file declares, each with its values' contacts.
        self._unique = tuple(
            (name, self._declared[name], BY_NAME[name].folds_case)
            for name in UNIQUE_FIELDS
            if self._declared[name]
        )
        self._keys = {name: frozenset(wanted) for name, wanted in keys.items()}
        self.matched: dict[ContactKey, Contact] = {}
        """Each declared key a kept contact answers, to that contact (the latest seen); and
        each other declared unique value, where the contact holding it isn't the one its
        declared contact's key finds (a person known by another key, or a conflict)."""

    def __call__(self, contact: Contact) -> Contact:
        # The declared contacts it answers: their own keys are kept, not a copy a contact.
        answers = self._answers(contact)
        declared = answers[0][2].fields if answers else {}
        kept: dict[str, JSON] = {}
        for name in self._scalars:
            if name in contact:
                live = contact[name]
                mine = declared.get(name, _MISSING)
                kept[name] = mine if strict_equal(mine, live) else live
        owned = None
        if self.marker_key is not None:
            owned = live_marker(contact, self.marker_key)
        for name, wanted in self._keys.items():
            live = contact.get(name)
            if isinstance(live, dict):
                also = owned.keys.get(name, frozenset()) if owned is not None else frozenset()
                mine = declared.get(name)
                kept[name] = _kept_object(
                    mine if isinstance(mine, Mapping) else {}, live, wanted, also
                )
            elif name in contact:
                kept[name] = live
        for field, value, answered in answers:
            if field == answered.key.field:
                self.matched[answered.key] = kept
            elif not holds(contact, answered.key):  # rare: see ``matched``
                self.matched[ContactKey(field, value)] = kept  # type: ignore[arg-type]
        return kept

    def _answers(self, contact: Contact) -> list[tuple[str, JSON, DeclaredContact]]:
        """The declared values ``contact`` holds, and whose they are: by id or by a unique
        field's text (a server's other value there finds nothing)."""
        found = []
        contact_id = contact.get("id")
        by_id = self._declared["id"].get(contact_id)
        if by_id is not None:
            found.append(("id", contact_id, by_id))
        for name, declared_values, folds in self._unique:
            value = contact.get(name)
            if value and isinstance(value, str):
                folded = indexed(name, value) if folds else value
                declared = declared_values.get(folded)
                if declared is not None:
                    found.append((name, folded, declared))
        return found


_MISSING: JSON = ABSENT


def _kept_object(
    mine: Mapping[str, JSON], live: dict[str, JSON], wanted: frozenset[str], also: frozenset[str]
) -> JSON:
    """What is kept of a live attribute object: the keys some file declares or the marker
    lists, and a marker under any other key (to name a renamed ``marker`` setting).
    ``mine`` itself when the kept keys are its keys, each holding its value; else each value
    that holds the declared one leaf for leaf is the declared value."""
    part: dict[str, JSON] = {}
    all_mine = True
    for key, value in live.items():
        if key not in wanted and key not in also:
            if isinstance(value, str) and value.startswith(MARKER_PREFIX):
                part[key] = value  # a marker under another key: the setting was renamed
                all_mine = False
            continue
        declared = mine.get(key, _MISSING)
        if declared is not _MISSING and _holds(value, declared):
            part[key] = declared
        else:
            part[key] = value
            all_mine = False
    return mine if all_mine and len(part) == len(mine) else part


def projection(declaration: Declaration, marker_key: str | None) -> Projection:
    """The projection of listed contacts for ``declaration`` (see Projection)."""
    return Projection(declaration, marker_key)


def _holds(live: object, declared: object) -> bool:
    if type(declared) is dict and type(live) is dict:
        return all(key in live and _holds(live[key], value) for key, value in declared.items())
    return strict_equal(declared, live)
