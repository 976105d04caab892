"""The typed, immutable values passed from one pipeline stage to the next.

    input (files) -> Declaration -> engine.fetch -> LiveState -> engine.plan -> Plan
        -> engine.apply | outputs

(the Plan and its changes are in reconciler.changes).

JSON values inside them (declared fields, live contacts, request bodies) are plain
``dict``/``list``/scalars, never subclasses: DeepDiff treats a subclass as a type change.
They are shared, not copied, between stages; no stage mutates them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeAlias

from reconciler.fields import KEY_FIELDS, UNIQUE_FIELDS, indexed

JSON: TypeAlias = Any
"""A JSON value: None, bool, int, float, str, list of JSON, or dict of str to JSON."""

Contact: TypeAlias = Mapping[str, JSON]
"""A contact object as the help desk's API returns it."""


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file; line and column count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def file_line(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one place in a file."""

    position: Position
    path: str  # "$.contacts[3].emial"
    message: str

    def __str__(self) -> str:
        return f"{self.position}: error: {self.path}: {self.message}"


class ContactKey(NamedTuple):
    """A value that finds at most one contact: an id, or a unique field's value as the desk
    compares it (``fields.UNIQUE_FIELDS``). A declared contact is named by its id, else
    identifier, else email (``DeclaredContact.key``), and looked up by every one it has.

    A named tuple, not a dataclass: the fetch hashes these tens of thousands of times, and
    a tuple's hash is computed in C.
    """

    field: Literal["id", "identifier", "email", "phone_number"]
    value: int | str  # as the desk's unique index compares it (fields.indexed)

    def __str__(self) -> str:
        return f"{self.field} {self.value}"


@dataclass(frozen=True, slots=True)
class DeclaredContact:
    """One contact as a file declares it."""

    source: Position  # where the contact's mapping starts
    fields: Mapping[str, JSON]  # the managed fields as declared, without id and inbox_id
    id: int | None = None
    inbox_id: int | None = None  # its own, else the file's defaults.inbox_id
    # Made once: the fetch, the plan and each change share it (a million of them).
    key: ContactKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self._key())

    @property
    def absent(self) -> bool:
        """Declared ``absent: true``: to be removed, not kept."""
        return self.fields.get("absent") is True

    @property
    def labels_mode(self) -> str | None:
        """``exact`` or ``additive`` as the contact (or its file) says; None: the settings'."""
        mode = self.fields.get("labels_mode")
        return mode if isinstance(mode, str) else None

    def unique_keys(self) -> tuple[ContactKey, ...]:
        """Every unique field's value the contact declares (not null), as compared."""
        return tuple(
            ContactKey(name, indexed(name, value))  # type: ignore[arg-type]
            for name in UNIQUE_FIELDS
            if isinstance(value := self.fields.get(name), str) and value
        )

    def _key(self) -> ContactKey:
        if self.id is not None:
            return ContactKey("id", self.id)
        for name in KEY_FIELDS:  # the schema requires an id or one of these
            value = self.fields.get(name)
            if value:
                return ContactKey(name, indexed(name, value))  # type: ignore[arg-type]
        raise AssertionError("a declared contact with neither an id nor a key field")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A contact file a declaration was read from, with the digest of its bytes."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the repository a plan reads: the files it read and the directories it
    was given, each by its path from the repository's root ("" is the root itself).

    A managed contact's ownership marker names the file that declared it, so a plan over
    part of the tree releases or removes only contacts whose file it covers: one it read,
    or one (deleted since) under a directory it was given. A marker that names no file
    (written before markers named one) is covered by a plan of the whole repository alone.
    """

    files: Mapping[str, str]  # each file read, as given -> its path from the root
    directories: frozenset[str] = frozenset()

    def covers(self, file: str | None) -> bool:
        if "" in self.directories:
            return True
        if file is None:
            return False
        return file in self.files.values() or any(
            file.startswith(directory + "/") for directory in self.directories
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """The part of the declared contacts a partial plan covers (``--target``,
    ``--exclude``, ``--changed-since``), as a saved plan records it.

    A plan with selectors releases, blocks and deletes nothing; one of what changed since a
    git commit removes only contacts dropped since it, whose marker names a file that
    changed (``files``).
    """

    targets: tuple[str, ...] = ()  # the selectors as given
    excludes: tuple[str, ...] = ()
    changed_since: str | None = None  # the git ref as given
    commit: str | None = None  # the commit it named
    declared: int = 0  # contacts the files declare, selected or not
    keys: tuple[ContactKey, ...] = ()  # each selected contact's key
    dropped: int = 0  # contacts the files declared at ``commit`` and no longer do
    files: frozenset[str] = frozenset()  # changed since ``commit``, from the repository root

    @property
    def removes(self) -> bool:
        """Whether the plan may release or remove contacts (those dropped since a commit)."""
        return self.changed_since is not None and not self.targets and not self.excludes

    def __str__(self) -> str:
        given = [f"--target {text}" for text in self.targets]
        given += [f"--exclude {text}" for text in self.excludes]
        if self.changed_since is not None:
            commit = f" ({self.commit[:12]})" if self.commit else ""
            given.append(f"--changed-since {self.changed_since}{commit}")
        return " ".join(given)


@dataclass(frozen=True, slots=True)
class Declaration:
    """Every declared contact of every file, in file order then document order; of a
    partial plan, the selected ones (``selection``)."""

    contacts: tuple[DeclaredContact, ...]
    sources: tuple[SourceFile, ...] = ()
    scope: Scope | None = None  # None: the whole repository, and markers name no file
    selection: Selection | None = None
    # Of a plan of what changed since a commit: the values that find each contact the
    # files dropped since (looked up, never scanned for), and those that find a declared
    # contact the plan doesn't cover (a dropped one found by one of these is not dropped).
    dropped: tuple[ContactKey, ...] = ()
    elsewhere: frozenset[ContactKey] = frozenset()
    notes: tuple[str, ...] = ()  # what reading the files found to warn about
    # The other kinds' declared resources, by kind (reconciler.input.kinds): each kind's
    # module knows their type ("attribute_definition": DeclaredDefinition).
    resources: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def file_of(self, declared: DeclaredContact) -> str | None:
        """The file that declares ``declared``, from the repository's root; None: unknown."""
        return None if self.scope is None else self.scope.files.get(declared.source.file)

    def covers(self, file: str | None) -> bool:
        """Whether a contact whose marker names ``file`` is this plan's to release or remove."""
        if self.selection is not None:
            return self.selection.removes and file in self.selection.files
        return self.scope is None or self.scope.covers(file)


@dataclass(frozen=True, slots=True)
class LiveState:
    """The live contact for each declared one (same order), None where the desk has none."""

    contacts: tuple[Contact | None, ...]
    requests: int  # HTTP requests it took to read them
    orphans: tuple[Contact, ...] = ()  # listed contacts with the marker that none declares
    scanned: bool = False  # the whole listing (or the marker label's) was read
    marker_key: str | None = None  # the ownership marker the fetch kept of listed contacts
    labeled: frozenset[int] | None = None  # ids with the marker's label; None: not read
    # Per declared contact, the unique field that found its contact where its own key
    # didn't (adopted: see engine.resolve); () when no contact was.
    found_by: tuple[str | None, ...] = ()
    # The live contact holding each unique value a declared contact would set, where one
    # does; a value not here is held by no contact but the declared one's own.
    holders: Mapping[ContactKey, Contact] = field(default_factory=dict)
    # Of each contact plan may delete, its conversations (up to the target's
    # ``conversations_shown``); read only where a delete is the policy.
    conversations: Mapping[int, int] = field(default_factory=dict)
    unseen: int = 0  # contacts the scan's listing counted and none of its walks showed
    foreign: tuple[Contact, ...] = ()  # undeclared, with a marker reconciler can't verify
    stray: tuple[Contact, ...] = ()  # undeclared, with the marker's label and no marker


class _Absent(enum.Enum):
    ABSENT = "absent"


ABSENT: Literal[_Absent.ABSENT] = _Absent.ABSENT
"""A key that is not there at all (as opposed to present with the value null)."""
