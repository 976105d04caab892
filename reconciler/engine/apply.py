"""Carry out a Plan: send its operations, contact by contact, and check what the target kept.

A failure in one contact never stops the others; each gets its own Outcome. Every write is
read back from the server's answer (a create or update answers with the contact as stored,
so a silently dropped field shows there without another round trip) and a planned value
that did not take is a failure. ``find_stale`` re-reads the contacts of a saved plan
and names those whose live values are no longer the plan's ``before``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from reconciler.changes import REMOVALS, Action, Change, Operation, OperationKind, Plan
from reconciler.concurrency import gather_bounded
from reconciler.engine import labels, resolve
from reconciler.engine.cost import apply_requests
from reconciler.engine.diff import live_value, values_match
from reconciler.engine.nested import fresh_body, sends_an_object_whole
from reconciler.engine.ownership import marker_text, signing
from reconciler.errors import (
    AuthenticationError,
    DeadlineError,
    InvalidResponseError,
    NotFoundError,
    ReconcilerError,
    ServerError,
    TransportError,
    UnprocessableError,
)
from reconciler.fields import UNIQUE_FIELDS
from reconciler.model import ABSENT, Contact
from reconciler.targets.base import ContactsApi

log = logging.getLogger(__name__)


Status = Literal["created", "updated", "marked", "released", "blocked", "deleted", "failed"]
_DONE: dict[Action, Status] = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.RELEASE: "released",
    Action.BLOCK: "blocked",
    Action.DELETE: "deleted",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one planned change."""

    change: Change
    status: Status
    contact_id: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        where = f"{self.change.label} ({self.change.where})"
        if self.status == "failed":
            return f"{where}: failed: {self.reason}"
        if self.status == "created":
            return f"{where}: created (id {self.contact_id})"
        if self.status == "marked":
            return f"{where}: marked as managed"
        return f"{where}: {self.status}"


OutcomeCallback = Callable[[Outcome], None]
_AGAIN = "apply again to finish it"


class NotStarted(Exception):
    """A change the run's deadline kept from writing anything: it has no outcome."""


async def apply_plan(
    client: ContactsApi,
    plan: Plan,
    *,
    on_outcome: OutcomeCallback | None = None,
    stop: asyncio.Event | None = None,
    delete_with_conversations: bool = False,
) -> tuple[Outcome, ...]:
    """The outcome of each change started, in plan order.

    Once ``stop`` is set no further change starts; those under way finish (a contact is
    never left half-written by us), and the changes never started have no outcome. A
    contact is deleted only if it has no more conversations than the plan counted, and
    none unless ``delete_with_conversations``.
    """

    async def apply_one(change: Change) -> Outcome | None:
        if stop is not None and stop.is_set():
            return None
        try:
            outcome = await _apply_change(
                client, change, plan.marker_key, delete_with_conversations
            )
        except NotStarted:
            return None
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    client.expect(sum(apply_requests(change, client.capabilities) for change in plan.changes))
    outcomes = await gather_bounded(
        (apply_one(change) for change in plan.changes), limit=client.concurrency * 2
    )
    return tuple(outcome for outcome in outcomes if outcome is not None)


async def _apply_change(
    client: ContactsApi, change: Change, marker_key: str | None, delete_with_conversations: bool
) -> Outcome:
    contact_id = change.id
    written: Contact | None = None
    stored_labels: list[str] | None = None
    unlabelled: list[str] = []  # labels a write sent that the answer doesn't show as sent
    done = 0  # operations carried out
    try:
        reason = await _moved_since(client, change, marker_key, delete_with_conversations)
        if reason is not None:
            return Outcome(change, "failed", contact_id, reason)
        for operation in change.operations:
            done += operation is not change.operations[0]  # the one before went through
            if operation.kind is OperationKind.CREATE:
                written = await client.create_contact(operation.body)
                contact_id = int(written["id"])
                continue
            if contact_id is None:
                raise AssertionError(f"a write before the contact exists: {change.key}")
            if operation.kind is OperationKind.DELETE:
                with contextlib.suppress(NotFoundError):  # gone: an earlier answer was lost
                    await client.delete_contact(contact_id)
                return Outcome(change, "deleted", contact_id)
            if operation.kind in labels.LABEL_WRITES:
                stored_labels = await _write_labels(client, contact_id, operation)
                unlabelled.extend(_labels_not_kept(operation, stored_labels))
            elif operation.kind is OperationKind.REMOVE_ATTRIBUTES:
                keys = operation.body.get("custom_attributes") or []
                written = await client.remove_attributes(contact_id, [str(key) for key in keys])
            else:
                body = operation.body
                if change.action is Action.UPDATE and sends_an_object_whole(body):
                    fresh = await fresh_body(client, change, contact_id)
                    if isinstance(fresh, str):
                        return Outcome(change, "failed", contact_id, fresh)
                    body = fresh
                body = signing(body, marker_key, contact_id, client.marker_secret)
                written = await client.update_contact(contact_id, body)
            if written is not None and written.get("id") != contact_id:
                return Outcome(
                    change,
                    "failed",
                    contact_id,
                    f"the target answered the update with another contact (id "
                    f"{written.get('id')}): nothing can be said of this one; run plan again",
                )
        if change.action is Action.CREATE and contact_id is not None:
            written = await _sign_created(client, change, contact_id, marker_key) or written
    except AuthenticationError:
        raise  # the credentials are refused: every other change would fail alike
    except ReconcilerError as error:
        return await _failed(client, change, contact_id, error, started=done > 0)
    not_kept = _not_kept(change, written, stored_labels) or unlabelled
    if not_kept:
        reason = f"the target did not keep {', '.join(not_kept)}"
        if change.action is Action.CREATE:
            reason += f" (the contact was created with id {contact_id})"
        return Outcome(change, "failed", contact_id, reason)
    status = _DONE[change.action]
    if change.action is Action.UPDATE and not change.fields:
        status = "marked"
    return Outcome(change, status, contact_id)


async def _failed(
    client: ContactsApi,
    change: Change,
    contact_id: int | None,
    error: ReconcilerError,
    *,
    started: bool,
) -> Outcome:
    """The outcome of a change an error stopped: done after all where its writes landed;
    none (NotStarted) where the deadline came before it wrote anything."""
    log.debug("the change at %s failed: %s", change.where, type(error).__name__)
    if isinstance(error, DeadlineError):
        if not started:
            raise NotStarted from None
        reason = f"the run passed its deadline with this change half done; {_AGAIN}"
        return Outcome(change, "failed", contact_id, reason)
    if await _landed_after_all(client, change, contact_id, error):
        return Outcome(change, _DONE[change.action], contact_id)
    reason = _reason(error, change, contact_id)
    if isinstance(error, UnprocessableError) and set(UNIQUE_FIELDS) & set(error.attributes):
        reason += await _holders_named(client, change, contact_id)
    return Outcome(change, "failed", contact_id, reason)


async def _landed_after_all(
    client: ContactsApi, change: Change, contact_id: int | None, error: ReconcilerError
) -> bool:
    """Whether a write whose answer never came (a timeout, a dropped connection, a 5xx
    after the server wrote) landed all the same: every planned value is at the desk, read
    back. Then it is done, not failed; a create is never judged so (its id is unknown)."""
    if (
        not isinstance(error, TransportError | ServerError | InvalidResponseError)
        or contact_id is None
        or change.action not in (Action.UPDATE, Action.BLOCK)
        or not change.fields
    ):
        return False
    try:
        live = await client.get_contact(contact_id)
        stored = None
        if any(labels.is_label(field) for field in change.fields):
            stored = await client.get_labels(contact_id)
    except ReconcilerError:
        return False
    return not _not_kept(change, live, stored)


async def _sign_created(
    client: ContactsApi, change: Change, contact_id: int, marker_key: str | None
) -> Contact | None:
    """Sign the marker a create wrote unsigned (its id didn't exist before the create), where
    no update of the change wrote it since; the contact as stored, or None."""
    updates = [o.body for o in change.operations if o.kind is OperationKind.UPDATE]
    if (
        marker_key is None
        or change.marker is None
        or any(marker_key in (body.get("custom_attributes") or {}) for body in updates)
    ):
        return None
    body = {"custom_attributes": {marker_key: change.marker}}
    return await client.update_contact(
        contact_id, signing(body, marker_key, contact_id, client.marker_secret)
    )


def _not_kept(
    change: Change, written: Contact | None, stored_labels: list[str] | None
) -> list[str]:
    """The planned values the target's answers don't show: read back, not assumed."""
    not_kept = []
    for field in change.fields:
        if labels.is_label(field):
            if stored_labels is None or not labels.kept(field, stored_labels):
                not_kept.append(
                    f"{field.path} {field.after if field.after is not ABSENT else field.before!r}"
                )
        elif written is None or not values_match(
            field.path, live_value(written, field.key_path), field.after
        ):
            not_kept.append(field.path)
    return not_kept


async def _write_labels(client: ContactsApi, contact_id: int, operation: Operation) -> list[str]:
    """Send the labels: the planned set, or (additive) the live set with the planned added,
    read right before the write so that a label added meanwhile survives."""
    wanted = [str(label) for label in operation.body.get(labels.FIELD) or []]
    if operation.kind is OperationKind.REMOVE_LABELS:
        live = await client.get_labels(contact_id)
        unwanted = labels.folded(wanted)
        if not unwanted & labels.folded(live):
            return live
        return await client.set_labels(
            contact_id, [label for label in live if label.casefold() not in unwanted]
        )
    if operation.kind is OperationKind.ADD_LABELS:
        live = await client.get_labels(contact_id)
        missing = [label for label in wanted if label.casefold() not in labels.folded(live)]
        if not missing:
            return live
        wanted = [*live, *missing]
    return await client.set_labels(contact_id, wanted)


async def _labels_added_since(client: ContactsApi, change: Change, contact_id: int) -> str | None:
    """Why an exact labels write must not go: it would take off a label the plan didn't
    show as taken off (someone added it since). Read right before anything is written, as
    the labels of an exact write replace the contact's whole set."""
    sent = next((o for o in change.operations if o.kind is OperationKind.SET_LABELS), None)
    if sent is None:
        return None
    keeping = labels.folded(str(label) for label in sent.body.get(labels.FIELD) or [])
    planned = labels.folded(
        str(field.before)
        for field in change.fields
        if labels.is_label(field) and field.after is ABSENT
    )
    live = await client.get_labels(contact_id)
    unplanned = [label for label in live if label.casefold() not in keeping | planned]
    if not unplanned:
        return None
    return (
        f"changed since the plan: labels {', '.join(map(repr, unplanned))} added since, which "
        "the exact set would take off; nothing was written: run plan again"
    )


def _labels_not_kept(operation: Operation, stored: list[str]) -> list[str]:
    """The labels a write meant to add (or take off) that the stored set has not (or has)."""
    have = labels.folded(stored)
    sent = [str(label) for label in operation.body.get(labels.FIELD) or []]
    if operation.kind is OperationKind.REMOVE_LABELS:
        return [f"labels without {label!r}" for label in sent if label.casefold() in have]
    return [f"labels {label!r}" for label in sent if label.casefold() not in have]


async def _moved_since(
    client: ContactsApi, change: Change, marker_key: str | None, delete_with_conversations: bool
) -> str | None:
    """Why the change must not go, read right before it: what a person changed since the
    plan that the change would undo or destroy."""
    if change.action in (Action.RELEASE, *REMOVALS):
        reason = await _still_managed(client, change, marker_key)
        if reason is None and change.action is Action.DELETE:
            reason = await _conversations_since(client, change, delete_with_conversations)
        return reason
    if change.action is Action.UPDATE and change.id is not None:
        return await _labels_added_since(client, change, change.id)
    return None


async def _still_managed(client: ContactsApi, change: Change, marker_key: str | None) -> str | None:
    """Why a release or removal must not go ahead, read right before it: the contact is
    gone, or its ownership marker is no longer the one the plan saw (someone released it)."""
    if change.id is None or marker_key is None:
        raise AssertionError("a removal with no contact id or no marker")
    try:
        live = await client.get_contact(change.id)
    except NotFoundError:
        return "no longer exists"
    return marker_moved(live, change, marker_key)


async def _conversations_since(
    client: ContactsApi, change: Change, delete_with_conversations: bool
) -> str | None:
    """Why a delete must not go: the contact has conversations the plan didn't count (or
    any, where the settings keep contacts with conversations), read right before it."""
    if change.id is None or not client.capabilities.conversations_shown:
        return None
    count = await client.count_conversations(change.id)
    if count > (change.conversations or 0) or (count and not delete_with_conversations):
        return (
            f"not deleted: it has {count} conversation(s) now, which a delete destroys with "
            f"it, and the plan counted {change.conversations or 0}; run plan again"
        )
    return None


def marker_moved(live: Contact, change: Change, marker_key: str) -> str | None:
    if marker_text(live, marker_key) != change.marker:
        return "its ownership marker was removed or changed since the plan: left as it is"
    return None


async def _holders_named(client: ContactsApi, change: Change, contact_id: int | None) -> str:
    """Who holds the unique values a refused write sent (another contact took one since
    the plan): `` (its email belongs to contact id 12)``, or "" if that can't be told."""
    keys = resolve.values_set(change)
    try:
        found = await client.lookup(keys)
    except ReconcilerError:
        return ""
    held = [
        f"its {key.field} belongs to contact id {holder['id']}"
        for key, holder in zip(keys, found, strict=True)
        if holder is not None and holder["id"] != contact_id
    ]
    return f" ({'; '.join(held)}: run plan again)" if held else ""


def _reason(error: ReconcilerError, change: Change, contact_id: int | None) -> str:
    if change.action is Action.CREATE and contact_id is not None:
        return f"{error} (the contact was created with id {contact_id}; apply again to finish it)"
    return str(error)
