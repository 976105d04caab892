"""How a declared contact finds its live contact: by every unique value it declares.

The desk keeps ``identifier``, ``email`` (case-folded) and ``phone_number`` each unique per
account, and a person often exists before a file declares them (the chat widget made them
by email or phone, an agent, an import). A declared contact is named by its id, else
identifier, else email (its key, which the fetch reads first), and then:

* every other unique value it declares that its contact doesn't hold is looked up too:
  free where the whole listing was read, one more batched round of lookups otherwise
  (``unresolved``);
* where its key finds nothing but another of its values finds one contact, whose own value
  is blank wherever the file declares one, that contact is it: **adopted**, and the plan
  says which field found it (``adopt``); so is a contact reconciler manages (its marker
  verifies) that no declared key finds any more: the files changed its key in place;
* a value that some other contact holds is a **conflict**: a create or update would be
  refused ("has already been taken"), so the plan names both contacts and the ways out
  (``conflicts``). A value that another declared contact gives up in the same plan (a swap)
  is refused too: the desk refuses the first write whichever goes first.

Pure functions: the fetch does the reading (engine.fetch), the plan the judging.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.changes import Change
from reconciler.engine.redact import REDACTED
from reconciler.errors import PlanError
from reconciler.fields import UNIQUE_FIELDS, indexed
from reconciler.model import Contact, ContactKey, Declaration, DeclaredContact, LiveState

_NOTHING: dict[str, str] = {}


def live_keys(contact: Contact) -> list[ContactKey]:
    """Each unique value ``contact`` holds (not blank), as the desk compares it."""
    keys = []
    for name in UNIQUE_FIELDS:
        value = contact.get(name)
        if isinstance(value, str) and value:
            keys.append(ContactKey(name, indexed(name, value)))  # type: ignore[arg-type]
    return keys


def holds(contact: Contact, key: ContactKey) -> bool:
    """Whether ``contact`` is the one ``key`` finds: its id, or its value of that field."""
    value = contact.get(key.field)
    return value == key.value or (
        key.field != "id" and isinstance(value, str) and indexed(key.field, value) == key.value
    )


def unresolved(
    declaration: Iterable[DeclaredContact],
    found: Mapping[ContactKey, Contact | None],
    seen: Mapping[ContactKey, Contact],
    *,
    all_seen: bool,
) -> tuple[dict[ContactKey, Contact], list[ContactKey]]:
    """Who holds the declared contacts' other unique values, as far as ``found`` (each
    key's contact) and ``seen`` (the listing's contacts by the declared values they hold)
    tell; and the values still to look up. With ``all_seen`` (the whole listing was read,
    every counted contact in it) a value nobody was seen holding is held by nobody."""
    holders: dict[ContactKey, Contact] = {}
    wanted: dict[ContactKey, None] = {}
    for declared in declaration:
        fields = declared.fields
        if fields.get("absent") is True:
            continue  # removed only by what its own key finds
        contact = found[declared.key]
        live = contact.get if contact is not None else _NOTHING.get
        for name in UNIQUE_FIELDS:
            value = fields.get(name)
            if not value or live(name) == value:
                continue  # the usual case, where the found contact holds it to the letter
            key = ContactKey(name, indexed(name, value))  # type: ignore[arg-type]
            if key == declared.key or (contact is not None and holds(contact, key)):
                continue
            holder = seen.get(key)
            if holder is not None:
                holders[key] = holder
            elif not all_seen:
                wanted[key] = None
    return holders, list(wanted)


def adopt(
    declaration: Sequence[DeclaredContact],
    found: Mapping[ContactKey, Contact | None],
    holders: Mapping[ContactKey, Contact],
    managed: Callable[[Contact], bool] = lambda _contact: False,
) -> tuple[list[Contact | None], list[str | None]]:
    """Each declared contact's live contact (its key's, else the one it adopts), and the
    field that found an adopted one. ``managed`` tells a contact reconciler manages: one
    that no declared key finds any more is the same contact with a key changed in place."""
    if not holders:  # no declared value finds a contact its key didn't: nothing to adopt
        return [found[declared.key] for declared in declaration], [None] * len(declaration)
    keyed = {int(contact["id"]) for contact in found.values() if contact is not None}
    contacts: list[Contact | None] = []
    found_by: list[str | None] = []
    for declared in declaration:
        contact = found[declared.key]
        by = None
        if contact is None and declared.id is None and not declared.absent:
            contact, by = _adoptable(
                declared, holders, lambda c: int(c["id"]) not in keyed and managed(c)
            )
        contacts.append(contact)
        found_by.append(by)
    return contacts, found_by


def _adoptable(
    declared: DeclaredContact,
    holders: Mapping[ContactKey, Contact],
    moved: Callable[[Contact], bool],
) -> tuple[Contact | None, str | None]:
    """The one contact the declared values find, if each value it holds is the declared one
    (the rest blank, for apply to set), or if it is ``moved``: a managed contact no declared
    key finds, whose other key the files changed. Else (None, None): a create, or a
    conflict."""
    candidates: dict[int, tuple[Contact, str]] = {}
    for key in declared.unique_keys():
        holder = holders.get(key)
        if holder is not None:
            candidates.setdefault(int(holder["id"]), (holder, key.field))
    if len(candidates) != 1:
        return None, None
    ((contact, by),) = candidates.values()
    for key in declared.unique_keys():
        value = contact.get(key.field)
        if isinstance(value, str) and value and not holds(contact, key) and not moved(contact):
            return None, None  # another identity by that field: not this person
    return contact, by


@dataclass(frozen=True, slots=True)
class Conflict:
    """A unique value a declared contact would set that another live contact holds."""

    key: ContactKey
    holder: Contact
    freed_by: DeclaredContact | None  # the declared contact that gives the value up, if any

    def line(
        self, declared: DeclaredContact, contact: Contact | None, *, redact: bool = False
    ) -> str:
        """One line: both contacts, and the ways out; ``redact`` masks personal values."""

        def shown(key: ContactKey) -> str:
            return f"{key.field} {REDACTED if redact and key.field != 'id' else key.value}"

        where = declared.source.file_line
        holder = f"contact {_named(self.holder, shown)}"
        if self.freed_by is not None:
            return (
                f"{where}: its {shown(self.key)} belongs to {holder}, which "
                f"{self.freed_by.source.file_line} gives another {self.key.field}: a swap or "
                "move of unique values, which the desk refuses whichever write goes first; "
                "apply the change that frees the value first (or clear it there), then this one"
            )
        name = shown(declared.key)
        if contact is None:
            what = f"{name} is not in the desk, and a create would be refused"
        else:
            what = f"{name} is contact {_named(contact, shown)}, and its update would be refused"
        return (
            f'{where}: {what}: its {shown(self.key)} belongs to {holder} ("has already been '
            f'taken"); if that is this person, declare `id: {self.holder["id"]}` or correct '
            "the file, else merge the two contacts in the desk"
        )


def conflicts(
    declared: DeclaredContact,
    contact: Contact | None,
    holders: Mapping[ContactKey, Contact],
    declared_by_id: Mapping[int, DeclaredContact],
    ignored: Collection[str] = (),
) -> list[Conflict]:
    """Each unique value ``declared`` would set on ``contact`` (None: create it) that
    another live contact holds; a value under an ignore rule is never sent."""
    own = None if contact is None else int(contact["id"])
    found = []
    for key in declared.unique_keys():
        holder = holders.get(key)
        if holder is None or int(holder["id"]) == own or key.field in ignored:
            continue
        other = declared_by_id.get(int(holder["id"]))
        gives_up = (
            other is not None
            and other is not declared
            and key.field in other.fields
            and indexed(key.field, other.fields[key.field]) != key.value
        )
        found.append(Conflict(key, holder, other if gives_up else None))
    return found


class Taken:
    """Names each unique value a declared contact would set that another contact holds,
    among the plan's ``problems``; a line that shows personal values keeps its --redact form."""

    def __init__(self, declaration: Declaration, live: LiveState, problems: list[str]) -> None:
        self._declaration = declaration
        self._live = live
        self._holders = live.holders
        self._problems = problems
        self._masked: dict[str, str] = {}

    @functools.cached_property
    def _declared_by_id(self) -> dict[int, DeclaredContact]:
        return {
            int(contact["id"]): declared
            for declared, contact in zip(
                self._declaration.contacts, self._live.contacts, strict=True
            )
            if contact is not None and not declared.absent
        }

    def __call__(
        self, declared: DeclaredContact, contact: Contact | None, ignored: Collection[str]
    ) -> bool:
        """Whether a value ``declared`` would set on ``contact`` (None: create) is another's."""
        if not self._holders:
            return False  # the usual plan: every declared value is its own contact's, or free
        found = conflicts(declared, contact, self._holders, self._declared_by_id, ignored)
        for conflict in found:
            line = conflict.line(declared, contact)
            self._problems.append(line)
            self._masked[line] = conflict.line(declared, contact, redact=True)
        return bool(found)

    def error(self) -> PlanError:
        """Every problem, one a line."""
        redacted = "\n".join(self._masked.get(line, line) for line in self._problems)
        return PlanError("\n".join(self._problems), redacted=redacted)


def _named(contact: Contact, shown: Callable[[ContactKey], str]) -> str:
    """``id 7 (identifier u-9, email a@b.c)``: the id and the unique values it holds."""
    keys = ", ".join(shown(key) for key in live_keys(contact))
    return f"id {contact['id']}" + (f" ({keys})" if keys else "")


def values_set(change: Change) -> list[ContactKey]:
    """The unique values ``change`` sets (not null), as the desk compares them."""
    return [
        ContactKey(field.path, indexed(field.path, field.after))  # type: ignore[arg-type]
        for field in change.fields
        if field.path in UNIQUE_FIELDS and isinstance(field.after, str) and field.after
    ]
