"""A plan and what it holds: the changes apply makes, each with its writes, and what the
plan costs; the values engine.plan hands to engine.apply and the outputs."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.model import JSON, ContactKey, Position, Selection, SourceFile


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"  # with no field changes: only the ownership marker is written
    RELEASE = "release"  # no longer managed: the marker is removed, nothing else
    BLOCK = "block"  # a removal: blocked
    DELETE = "delete"  # a removal: deleted


REMOVALS = frozenset({Action.BLOCK, Action.DELETE})


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed value: ``path`` like "name" or "custom_attributes.vip_level"."""

    path: str  # for people; ``keys`` for code, since an attribute key may hold a dot
    before: JSON  # ABSENT when the key is not there
    after: JSON
    keys: tuple[str, ...] = ()  # the keys ``path`` joins with dots; () when it has no dotted key

    @property
    def key_path(self) -> tuple[str, ...]:
        """The keys from the contact down to the value."""
        return self.keys or tuple(self.path.split("."))


class OperationKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"  # of the planned contact, or of the one the create before it made
    SET_LABELS = "set_labels"  # body {"labels": [...]}: the whole set
    ADD_LABELS = "add_labels"  # body {"labels": [...]}: these, and whatever else it has
    REMOVE_LABELS = "remove_labels"  # body {"labels": [...]}: all it has but these
    REMOVE_ATTRIBUTES = "remove_attributes"  # body {"custom_attributes": [keys]}
    DELETE = "delete"  # body {}


@dataclass(frozen=True, slots=True)
class Operation:
    """One write apply asks the target for; the target knows its method and path."""

    kind: OperationKind
    body: Mapping[str, JSON]


@dataclass(frozen=True, slots=True)
class TargetIdentity:
    """Which desk and account a plan was made for: no credential in it, nor one derivable.

    ``endpoint`` is the base URL (or ``sandbox:`` and the sandbox's database); ``account``
    a fingerprint of the credential that picks the account.
    """

    kind: str
    endpoint: str
    account: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.endpoint} (account {self.account})"


@dataclass(frozen=True, slots=True)
class Change:
    """What apply will do to one contact."""

    action: Action
    key: ContactKey
    source: Position | None  # None: a contact no file declares any more
    fields: tuple[FieldChange, ...]
    operations: tuple[Operation, ...]
    id: int | None = None  # None for a create
    marker: str | None = None  # the ownership marker the change writes, if it writes one
    found_by: str | None = None  # the unique field that found the contact, not its key
    # A delete: the conversations that go with it; a block: those that kept it from a delete
    # (``more``: the desk lists no more than that many, and may have more).
    conversations: int | None = None
    more_conversations: bool = False

    @property
    def where(self) -> str:
        """Where the contact is declared, for people."""
        return "no longer in the files" if self.source is None else self.source.file_line

    @property
    def conversations_text(self) -> str:
        """``3 conversations``, ``20 or more conversations``; "" where none were counted."""
        if not self.conversations:
            return ""
        more = " or more" if self.more_conversations else ""
        plural = "s" if self.conversations > 1 or more else ""
        return f"{self.conversations}{more} conversation{plural}"

    @property
    def label(self) -> str:
        """How output names the contact: its id, with the key that found it if not the id."""
        if self.id is None:
            return str(self.key)
        if self.key.field == "id":
            return f"id {self.id}"
        found = f", found by {self.found_by}" if self.found_by else ""
        return f"id {self.id}, {self.key}{found}"


@dataclass(frozen=True, slots=True)
class KindChange:
    """What apply does to one resource of a kind other than contacts (an attribute
    definition), before any contact: created, updated or deleted, whole."""

    kind: str  # the kind's name, as the plan document records it: "attribute_definition"
    action: Action  # CREATE, UPDATE or DELETE
    key: str  # what names it among its kind
    source: Position | None  # where a file declares it
    fields: tuple[FieldChange, ...]
    body: Mapping[str, JSON]  # what a create or update sends; {} for a delete
    id: int | None = None  # the desk's; None for a create

    @property
    def where(self) -> str:
        return "no longer in the files" if self.source is None else self.source.file_line


@dataclass(frozen=True, slots=True)
class Cost:
    """What a plan cost the desk, and about what its apply will (engine.cost)."""

    plan_requests: int
    apply_requests: int
    apply_seconds: int | None = None  # at the known or found pace; None: no pace known


@dataclass(frozen=True, slots=True)
class Plan:
    """Every change that would make the target match the declarations."""

    changes: tuple[Change, ...]
    unchanged: int
    warnings: tuple[str, ...] = ()
    redacted: bool = False
    sources: tuple[SourceFile, ...] = ()
    created_at: str = ""  # ISO 8601, UTC
    target: TargetIdentity | None = None  # None only in a plan of format 1
    marker_key: str | None = None  # where changes write the ownership marker; None: off
    selection: Selection | None = None  # a partial plan's; None: all the files declare
    kinds: tuple[KindChange, ...] = ()  # the other kinds' changes, applied first
    cost: Cost | None = None  # None: not counted (a plan of an older reconciler)
    # The document's checksum as signed or read ("": not yet signed); not part of the plan.
    signature: str = field(default="", compare=False)

    @property
    def creates(self) -> int:
        return sum(1 for change in self.changes if change.action is Action.CREATE)

    @property
    def updates(self) -> int:
        return sum(1 for c in self.changes if c.action is Action.UPDATE and c.fields)

    @property
    def has_changes(self) -> bool:
        """Whether apply would change anything a person sees (a marker alone is not)."""
        return bool(self.kinds) or any(
            c.action is not Action.UPDATE or c.fields for c in self.changes
        )

    @property
    def marks(self) -> int:
        """Updates that write the ownership marker alone."""
        return sum(1 for c in self.changes if c.action is Action.UPDATE and not c.fields)

    @property
    def releases(self) -> int:
        return sum(1 for change in self.changes if change.action is Action.RELEASE)

    @property
    def removals(self) -> int:
        return sum(1 for change in self.changes if change.action in REMOVALS)

    @property
    def managed(self) -> int:
        """Declared contacts the plan covers (neither releases nor removals of undeclared)."""
        return sum(1 for change in self.changes if change.source is not None) + self.unchanged

    @property
    def declared(self) -> int:
        """Contacts the files declare, in the plan or not (a partial plan covers some)."""
        return self.managed if self.selection is None else self.selection.declared
