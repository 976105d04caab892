"""LiveDesk's contact rules, as the sandbox plays them: permitted keys, casting, merging,
validation and the JSON shape of a contact.

A *record* is what the store keeps for a contact: the contact object's fields plus what the
API never returns (``labels``, ``avatar_url``). ``render`` turns a record into the contact
object, in LiveDesk's key order.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

JSON = Any
Record = dict[str, JSON]

INBOX: dict[str, JSON] = {"id": 1, "name": "Sandbox API inbox", "channel_type": "Channel::Api"}
"""The one inbox the sandbox has, as a contact's ``contact_inboxes`` shows it."""

INBOX_DETAIL: dict[str, JSON] = {
    "id": 1,
    "channel_id": 1,
    "account_id": 1,
    "name": "Sandbox API inbox",
    "created_at": "2025-01-01T00:00:00.000Z",
    "updated_at": "2025-01-01T00:00:00.000Z",
    "email_address": None,
    "enable_auto_assignment": True,
    "greeting_enabled": False,
    "greeting_message": None,
    "channel_type": "Channel::Api",
}
"""The inbox as a create response shows it (the whole inbox row, as Chatwoot renders it)."""

CREATE_KEYS = ("name", "email", "phone_number", "avatar_url", "identifier")
UPDATE_KEYS = (
    "name",
    "identifier",
    "email",
    "phone_number",
    "blocked",
    "avatar_url",
    "additional_attributes",
    "custom_attributes",
)
_STRING_KEYS = frozenset({"name", "identifier", "email", "phone_number", "avatar_url"})
_OBJECT_KEYS = frozenset({"additional_attributes", "custom_attributes"})

MAX_LENGTH = 255
_EMAIL = re.compile(r"[^@ \t\r\n\f\v]+@[^@ \t\r\n\f\v]+")  # Devise's, with Ruby's \s
_PHONE = re.compile(r"\+[1-9][0-9]{1,14}")
# Rails' boolean cast: these are false, nil and "" are nil, anything else is true.
_FALSE_VALUES = frozenset({"0", "f", "F", "false", "FALSE", "off", "OFF"})


class ServerFault(Exception):
    """A request LiveDesk answers with a 500 (a database constraint, not a validation)."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """One validation failure: Rails' full message and the attribute it is about."""

    attribute: str
    message: str


def permitted(body: Mapping[str, JSON], keys: tuple[str, ...]) -> dict[str, JSON]:
    """The keys of ``body`` the endpoint accepts, cast as Rails' strong parameters would.

    Anything else, and any value of the wrong shape (an array for ``name``, a string for
    ``custom_attributes``, null for either attribute object), is dropped silently.
    """
    accepted: dict[str, JSON] = {}
    for key in keys:
        if key not in body:
            continue
        value = body[key]
        if key in _OBJECT_KEYS:
            if isinstance(value, dict):
                accepted[key] = without_nulls_in_lists(value)
        elif key == "blocked":
            accepted[key] = _cast_boolean(value)
        elif key in _STRING_KEYS and (value is None or isinstance(value, str | int | float)):
            accepted[key] = _cast_string(value)
    return accepted


def _cast_string(value: str | float | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _cast_boolean(value: JSON) -> bool:
    if value is None or value == "":
        raise ServerFault("blocked may not be null")  # the column is NOT NULL
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value) not in _FALSE_VALUES


_SEED_TYPES: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "name": (str,),
    "email": (str,),
    "phone_number": (str,),
    "identifier": (str,),
    "blocked": (bool,),
    "thumbnail": (str,),
    "avatar_url": (str,),
    "additional_attributes": (dict,),
    "custom_attributes": (dict,),
    "availability_status": (str,),
    "last_activity_at": (int,),
    "created_at": (int,),
    "labels": (list,),
    "contact_inboxes": (list,),
    "conversations": (list,),
}


def new_record(fields: Mapping[str, JSON], *, now: int | None = None) -> Record:
    """A complete record from ``fields`` (a create's permitted keys, or a seed contact).

    Raises ValueError naming the field when a value has the wrong JSON type.
    """
    for key, types in _SEED_TYPES.items():
        value = fields.get(key)
        wrong_bool = isinstance(value, bool) and bool not in types
        if value is not None and (wrong_bool or not isinstance(value, types)):
            raise ValueError(
                f"{key} must be {types[0].__name__} or null, not {type(value).__name__}"
            )
    record: Record = {
        "id": fields.get("id"),
        "name": fields.get("name", ""),
        "email": None,
        "phone_number": fields.get("phone_number"),
        "identifier": fields.get("identifier"),
        "blocked": bool(fields.get("blocked", False)),
        "thumbnail": fields.get("thumbnail") or "",
        "avatar_url": None,
        "additional_attributes": dict(fields.get("additional_attributes") or {}),
        "custom_attributes": dict(fields.get("custom_attributes") or {}),
        "availability_status": fields.get("availability_status") or "offline",
        "last_activity_at": fields.get("last_activity_at"),
        "created_at": fields.get("created_at") or (int(time.time()) if now is None else now),
        # What the listing orders by, as PostgreSQL keeps a timestamp: to the microsecond.
        # A time given (a seed, an import) is to the second, so many may share it (tie).
        "created_at_us": (
            fields.get("created_at_us")  # a record made already, stored
            or (
                int(fields["created_at"]) * 1_000_000
                if fields.get("created_at")
                else (time.time_ns() // 1000 if now is None else now * 1_000_000)
            )
        ),
        "labels": [str(label) for label in fields.get("labels") or ()],
        "contact_inboxes": list(fields.get("contact_inboxes") or ()),
        # Seeded only ({"id", "status", "last_activity_at"}): a delete destroys them with it.
        "conversations": list(fields.get("conversations") or ()),
    }
    return changed(record, {key: fields[key] for key in ("email", "avatar_url") if key in fields})


MAX_NESTING = 100
"""Levels of JSON nesting Rails' parser accepts in a request body."""
FLOAT_AS_INTEGER = 1e16
"""From here on a float is read back from PostgreSQL's jsonb as an integer."""


def stored_float(text: str) -> JSON:
    """A JSON number with a fraction or exponent, as the server ends up storing it."""
    value = float(text)
    if not math.isfinite(value):
        return None  # 1e400: Rails' as_json makes a non-finite float null
    if value == 0:
        return 0.0  # -0.0 is stored as 0.0
    if abs(value) >= FLOAT_AS_INTEGER:
        return int(value)
    return value


def depth(value: JSON) -> int:
    """How deeply ``value`` nests (a scalar is 0), without recursing in Python."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def holds_nul(value: JSON) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def without_nulls_in_lists(value: JSON) -> JSON:
    """Rails' deep_munge: every null inside an array of the parameters is dropped."""
    if isinstance(value, list):
        return [without_nulls_in_lists(item) for item in value if item is not None]
    if isinstance(value, dict):
        return {key: without_nulls_in_lists(item) for key, item in value.items()}
    return value


def location_problem(record: Mapping[str, JSON]) -> Invalid | None:
    """The 422 every save of a contact gets once it holds a city or country over 255.

    The server validates the attributes, then copies city and country into 255-character
    columns: a longer one is accepted once, and then every later save fails.
    """
    attributes = record.get("additional_attributes") or {}
    for key in ("city", "country"):
        value = attributes.get(key)
        if isinstance(value, str) and len(value) > MAX_LENGTH:
            return Invalid("location", f"Location is too long (maximum is {MAX_LENGTH} characters)")
    return None


def changed(record: Mapping[str, JSON], changes: Mapping[str, JSON]) -> Record:
    """``record`` with permitted ``changes`` applied: scalars replace, objects merge one level."""
    result = dict(record)
    for key, value in changes.items():
        if key in _OBJECT_KEYS:
            result[key] = {**record[key], **value}  # a nested object is replaced whole
        elif key == "email":
            # LiveDesk stores a blank email as null (so the unique index allows many).
            result[key] = downcase(value) if value and value.strip() else None
        elif key == "avatar_url":
            if value:  # LiveDesk fetches the image and serves it as the new thumbnail
                result[key] = value
                result["thumbnail"] = _thumbnail_for(value)
        else:
            result[key] = value
    return result


def downcase(text: str) -> str:
    """Ruby's ``String#downcase``, which stores an email, as PostgreSQL's ``lower()`` compares
    it: each character lower-cased on its own. Python's ``str.lower()`` also applies
    Unicode's contextual Final_Sigma rule (a word-final capital sigma becomes U+03C2, where
    the desk keeps U+03C3), so it is used only where no capital sigma is.

    The sandbox's own, not the client's (reconciler.fields.fold_case): it plays the desk,
    and a client that folded wrongly must meet the desk's fold here, not its own.
    """
    if "\u03a3" not in text:
        return text.lower()
    return "".join(char.lower() for char in text)


def _thumbnail_for(avatar_url: str) -> str:
    digest = hashlib.sha256(avatar_url.encode()).hexdigest()[:32]
    return f"https://avatars.sandbox.invalid/{digest}.png"


def _humanize(attribute: str) -> str:
    return attribute.removesuffix("_id").replace("_", " ").capitalize()


def validate(record: Mapping[str, JSON], taken: Callable[[str, str], bool]) -> list[Invalid]:
    """Every validation failure of ``record``, in Rails' order.

    ``taken(field, value)`` says whether another contact already has that value. Blank
    values skip the checks (Rails' ``allow_blank``); length is checked on every field.
    """
    problems: list[Invalid] = []
    for field in ("email", "identifier", "phone_number", "name"):
        value = record.get(field)
        if not isinstance(value, str):
            continue
        label = _humanize(field)
        if len(value) > MAX_LENGTH:
            problems.append(
                Invalid(field, f"{label} is too long (maximum is {MAX_LENGTH} characters)")
            )
        if field == "name" or not value.strip():
            continue
        if taken(field, value):
            problems.append(Invalid(field, f"{label} has already been taken"))
        if field == "email" and not _EMAIL.fullmatch(value):
            problems.append(Invalid(field, "Email Invalid email"))
        if field == "phone_number" and not _PHONE.fullmatch(value):
            problems.append(Invalid(field, "Phone number should be in e164 format"))
    return problems


def unprocessable_body(problems: list[Invalid]) -> dict[str, JSON]:
    """The 422 body: every full message joined, and the attributes they are about."""
    attributes = list(dict.fromkeys(problem.attribute for problem in problems))
    return {
        "message": ", ".join(problem.message for problem in problems),
        "attributes": attributes,
    }


def is_listed(record: Mapping[str, JSON]) -> bool:
    """Whether list and search show the contact: it has an email, phone or identifier."""
    return any(record.get(field) for field in ("email", "phone_number", "identifier"))


def render(record: Mapping[str, JSON], *, include_contact_inboxes: bool = True) -> dict[str, JSON]:
    """The contact object, in LiveDesk's key order."""
    contact: dict[str, JSON] = {
        "additional_attributes": record["additional_attributes"],
        "availability_status": record["availability_status"],
        "email": record["email"],
        "id": record["id"],
        "name": record["name"],
        "phone_number": record["phone_number"],
        "blocked": record["blocked"],
        "identifier": record["identifier"],
        "thumbnail": record["thumbnail"],
        "custom_attributes": record["custom_attributes"],
    }
    if record["last_activity_at"] is not None:
        contact["last_activity_at"] = record["last_activity_at"]
    contact["created_at"] = record["created_at"]
    if include_contact_inboxes:
        contact["contact_inboxes"] = record["contact_inboxes"]
    return contact
