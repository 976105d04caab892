"""Updates that send a nested attribute object (``social_profiles``): the server replaces
it whole, and no ETag guards a read-modify-write, so the body is rebuilt on the contact as
it is right before the write."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from reconciler.changes import Change
from reconciler.engine import labels
from reconciler.engine.diff import live_value, values_match
from reconciler.errors import NotFoundError
from reconciler.fields import ATTRIBUTE_OBJECTS
from reconciler.model import JSON
from reconciler.targets.base import ContactsApi


def sends_an_object_whole(body: Mapping[str, JSON]) -> bool:
    return any(
        isinstance(value, dict)
        for name in ATTRIBUTE_OBJECTS
        for value in (body.get(name) or {}).values()
    )


async def fresh_body(client: ContactsApi, change: Change, contact_id: int) -> dict[str, JSON] | str:
    """The update's body rebuilt on the contact as it is now, or why it can't be sent.

    The server replaces a nested object whole, and no ETag guards a read-modify-write: so
    the contact is read again just before the write, each nested object sent is the fresh
    one with the planned leaves set, and a key someone added since the plan survives. A
    planned field whose live value is no longer the plan's ``before`` fails the contact.
    """
    try:
        live = await client.get_contact(contact_id)
    except NotFoundError:
        return "no longer exists; run plan again"
    moved = [
        field.path
        for field in change.fields
        # Labels are not part of the contact object: their own check reads them apart.
        if not labels.is_label(field)
        and not values_match(field.path, live_value(live, field.key_path), field.before)
    ]
    if moved:
        return f"changed since the plan: {', '.join(moved)}; run plan again"
    body = copy.deepcopy(dict(change.operations[0].body))
    for name in ATTRIBUTE_OBJECTS:
        for key, sent in (body.get(name) or {}).items():
            fresh = live_value(live, (name, key))
            if isinstance(sent, dict) and isinstance(fresh, dict):
                rebuilt = copy.deepcopy(fresh)
                for field in change.fields:
                    if field.key_path[:2] == (name, key) and len(field.key_path) > 2:
                        _set(rebuilt, field.key_path[2:], field.after)
                body[name][key] = rebuilt
    return body


def _set(target: dict[str, JSON], keys: tuple[str, ...], value: JSON) -> None:
    *parents, last = keys
    for key in parents:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[last] = value
