"""What a plan costs the desk, and what its apply will: requests, and time at a known pace.

Plan knows how many requests it made. Apply's are counted from the plan's operations and
the reads each one needs first (what a person changed since: the labels an exact set
would take off, a nested object to send back whole, the marker of a contact to release or
remove, the conversations of one to delete). At a known pace (``rate_limit``, a desk's
documented limit, or the one plan found), that is also about how long apply will take, so
that ``apply`` can refuse, before any write, a run that can't end inside ``deadline``.
"""

from __future__ import annotations

import math

from reconciler.changes import REMOVALS, Action, Change, Cost, OperationKind, Plan
from reconciler.engine.nested import sends_an_object_whole
from reconciler.targets.base import Capabilities


def apply_requests(change: Change, capabilities: Capabilities) -> int:
    """About how many requests apply sends for ``change``: its writes and their reads."""
    requests = len(change.operations)
    kinds = {operation.kind for operation in change.operations}
    if kinds & {OperationKind.ADD_LABELS, OperationKind.REMOVE_LABELS} or (
        OperationKind.SET_LABELS in kinds and change.action is not Action.CREATE
    ):
        requests += 1  # the labels, read right before they are written (a new contact has none)
    if change.action is Action.UPDATE and any(
        operation.kind is OperationKind.UPDATE and sends_an_object_whole(operation.body)
        for operation in change.operations
    ):
        requests += 1  # the contact, read to send a nested object back whole
    if change.action in (Action.RELEASE, *REMOVALS):
        requests += 1  # the marker, read right before: still reconciler's?
        if change.action is Action.DELETE and capabilities.conversations_shown:
            requests += 1  # its conversations, counted again
    if (
        change.action is Action.CREATE
        and change.marker is not None
        and not any(
            change.marker in _values(operation.body.get("custom_attributes"))
            for operation in change.operations
            if operation.kind is OperationKind.UPDATE
        )
    ):
        requests += 1  # the marker signed once the id is known, where no update carries it
    return requests


def _values(attributes: object) -> list[object]:
    return list(attributes.values()) if isinstance(attributes, dict) else []


def estimate(
    plan: Plan, capabilities: Capabilities, *, plan_requests: int, pace: float | None
) -> Cost:
    """The plan's cost: ``plan_requests`` made, apply's counted, and its seconds at
    ``pace`` (requests a second; None: unknown, no time said)."""
    sent = sum(apply_requests(change, capabilities) for change in plan.changes)
    sent += len(plan.kinds)
    if sent:
        sent += capabilities.session_requests
    seconds = None if not pace else math.ceil(sent / pace)
    return Cost(plan_requests=plan_requests, apply_requests=sent, apply_seconds=seconds)


def cost_line(cost: Cost) -> str:
    """``This plan made 12 requests; apply will send about 30 (about 1 s at ...).``"""
    line = f"This plan made {cost.plan_requests} request{'' if cost.plan_requests == 1 else 's'}"
    if not cost.apply_requests:
        return line + "; apply has nothing to send."
    line += f"; apply will send about {cost.apply_requests}"
    if cost.apply_seconds is not None:
        line += f", taking about {_duration(cost.apply_seconds)} at the desk's pace"
    return line + "."


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{max(seconds, 1)} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
