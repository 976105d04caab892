"""What a kind of resource besides contacts is to the engine (attribute definitions are
the first): how it is planned against the desk, applied, checked when a saved plan is
applied, and checked in a saved plan offline. One module implements it for one kind, and
``reconciler.engine.kinds`` lists them; its files are ``reconciler.input.kinds``'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.changes import KindChange, TargetIdentity
from reconciler.input.settings import Settings
from reconciler.model import Declaration, Problem
from reconciler.targets.base import ContactsApi


@dataclass
class KindPlan:
    """What planning one kind found."""

    changes: list[KindChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings the plan shows
    problems: list[str] = field(default_factory=list)  # what can't be planned: one a line
    # Declared values of other kinds it refuses (a contact's attribute), at their place.
    input_problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KindOutcome:
    """What apply did with one change of another kind than contacts."""

    change: KindChange
    status: str  # created, updated, deleted, failed
    detail: str = ""

    def __str__(self) -> str:
        noun = self.change.kind.replace("_", " ")
        what = f"{noun} {self.change.key} ({self.change.where})"
        if self.status == "failed":
            return f"{what}: failed: {self.detail}"
        return f"{what}: {self.status}{f' ({self.detail})' if self.detail else ''}"


class Kind(Protocol):
    @property
    def name(self) -> str:
        """As plans record its changes: ``attribute_definition``."""
        ...

    async def plan(
        self,
        client: ContactsApi,
        declaration: Declaration,
        settings: Settings,
        target: TargetIdentity,
    ) -> KindPlan:
        """Read its live state (where the desk has it) and plan the declared resources."""
        ...

    async def apply(self, client: ContactsApi, change: KindChange) -> KindOutcome:
        """Carry out one change and read back what the desk kept; failures are outcomes."""
        ...

    async def stale(self, client: ContactsApi, changes: Sequence[KindChange]) -> list[str]:
        """What changed at the desk since a saved plan made ``changes``: one line each."""
        ...

    def unfollowed(self, change: KindChange) -> str | None:
        """How a saved change's body strays from its field changes; None if it doesn't."""
        ...
