"""Every kind of resource besides contacts, and the steps plan, apply and a saved plan's
checks take with them all: contacts' own pipeline calls these, and a new kind is one more
module listed in ``KINDS`` (and its files in ``reconciler.input.kinds.FILE_KINDS``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace

from reconciler.changes import KindChange, TargetIdentity
from reconciler.engine.definition_changes import ATTRIBUTE_DEFINITIONS
from reconciler.engine.kind import Kind, KindOutcome
from reconciler.errors import InputError, PlanError
from reconciler.input.settings import Settings
from reconciler.model import Declaration
from reconciler.targets.base import ContactsApi

KINDS: tuple[Kind, ...] = (ATTRIBUTE_DEFINITIONS,)
"""In the order apply makes their changes, all before any contact's."""
KIND_BY_NAME: Mapping[str, Kind] = {kind.name: kind for kind in KINDS}


async def plan_kinds(
    client: ContactsApi, declaration: Declaration, settings: Settings, target: TargetIdentity
) -> tuple[Declaration, tuple[KindChange, ...]]:
    """Every kind's changes, and the declaration with their warnings; PlanError (one line
    each) or InputError (at the values' places), before anything is sent."""
    changes: list[KindChange] = []
    notes: list[str] = []
    problems: list[str] = []
    input_problems = []
    for kind in KINDS:
        planned = await kind.plan(client, declaration, settings, target)
        changes += planned.changes
        notes += planned.notes
        problems += planned.problems
        input_problems += planned.input_problems
    if problems:
        raise PlanError("\n".join(problems))
    if input_problems:
        raise InputError(input_problems)
    return replace(declaration, notes=(*declaration.notes, *notes)), tuple(changes)


async def apply_kinds(
    client: ContactsApi, changes: Sequence[KindChange], *, stop: asyncio.Event
) -> list[KindOutcome]:
    """The changes one at a time, in plan order (few, and one may need another's key),
    until ``stop``."""
    outcomes = []
    for change in changes:
        if stop.is_set():
            break
        outcomes.append(await KIND_BY_NAME[change.kind].apply(client, change))
    return outcomes


async def stale_kinds(client: ContactsApi, changes: Sequence[KindChange]) -> list[str]:
    stale: list[str] = []
    for kind in KINDS:
        own = [change for change in changes if change.kind == kind.name]
        if own:
            stale += await kind.stale(client, own)
    return stale


def unfollowed_kind(change: KindChange) -> str | None:
    kind = KIND_BY_NAME.get(change.kind)
    return (
        f"is of a kind this reconciler doesn't know ({change.kind})"
        if kind is None
        else (kind.unfollowed(change))
    )
