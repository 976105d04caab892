"""Reading LiveDesk's answers: the JSON shapes the contract promises, or a typed error.

Pure functions of (status, content type, body bytes), so they don't need httpx. Error
messages carry what the server said in one line, and summarise HTML or empty bodies
instead of dumping them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from reconciler.errors import (
    AuthenticationError,
    HTTPStatusError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnprocessableError,
)
from reconciler.model import JSON, Contact

MAX_MESSAGE = 300


def _one_line(text: str) -> str:
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _looks_like_html(content_type: str, body: bytes) -> bool:
    start = body.lstrip()[:15].lower()
    return "html" in content_type.lower() or start.startswith((b"<!doctype", b"<html", b"<"))


def describe_body(content_type: str, body: bytes) -> str:
    """What a body that is not the expected JSON is, without its contents."""
    if not body.strip():
        return "an empty body"
    if _looks_like_html(content_type, body):
        return "an HTML page"
    return f"a {content_type or 'untyped'} body that is not JSON"


def _message_in(document: JSON) -> str | None:
    """The message of Rails/Chatwoot error bodies: message, error or errors."""
    if not isinstance(document, Mapping):
        return None
    for key in ("message", "error"):
        if isinstance(document.get(key), str) and document[key].strip():
            return _one_line(document[key])
    errors = document.get("errors")
    if isinstance(errors, list) and errors and all(isinstance(item, str) for item in errors):
        return _one_line("; ".join(errors))
    if isinstance(errors, str) and errors.strip():
        return _one_line(errors)
    return None


def server_message(content_type: str, body: bytes) -> str:
    """The server's own message in one line, or a summary of a body that has none."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    message = _message_in(document)
    if message is not None:
        return message
    if body.strip() and "text/plain" in content_type.lower():
        return _one_line(body.decode("utf-8", "replace"))
    return f"{describe_body(content_type, body)}, no error message"


def _attributes_in(content_type: str, body: bytes) -> tuple[str, ...]:
    try:
        document = json.loads(body)
    except ValueError:
        return ()
    attributes = document.get("attributes") if isinstance(document, Mapping) else None
    if isinstance(attributes, list):
        return tuple(str(attribute) for attribute in attributes)
    return ()


def status_error(status: int, content_type: str, body: bytes) -> HTTPStatusError:
    """The typed error for a non-2xx answer, carrying the server's message."""
    message = server_message(content_type, body)
    if status == 401:
        return AuthenticationError(message)
    if status == 404:
        return NotFoundError(status, message)
    if status == 422:
        return UnprocessableError(message, _attributes_in(content_type, body))
    if status == 429:
        return RateLimitedError(status, message)
    if status >= 500:
        return ServerError(status, message)
    return HTTPStatusError(status, message)


def decode_json(what: str, status: int, content_type: str, body: bytes) -> JSON:
    """The JSON document of a 2xx answer to ``what`` ("GET /path")."""
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidResponseError(
            f"LiveDesk answered {what} with {status} and {describe_body(content_type, body)}"
        ) from None


def _invalid(what: str, problem: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"LiveDesk's answer to {what} is not what the API promises: {problem}"
    )


def _contact(value: JSON, what: str, where: str) -> Contact:
    if not isinstance(value, dict):
        raise _invalid(what, f"{where} is not a contact object")
    contact_id = value.get("id")
    if not isinstance(contact_id, int) or isinstance(contact_id, bool):
        raise _invalid(what, f"{where} has no integer id")
    return value


def _payload(document: JSON, what: str) -> JSON:
    if not isinstance(document, dict) or "payload" not in document:
        raise _invalid(what, "no payload")
    return document["payload"]


def contact_in(document: JSON, what: str) -> Contact:
    """The contact of a get or update answer: ``{"payload": contact}``."""
    return _contact(_payload(document, what), what, "payload")


def created_contact_in(document: JSON, what: str) -> Contact:
    """The contact of a create answer: ``{"payload": {"contact": contact, ...}}``."""
    payload = _payload(document, what)
    if not isinstance(payload, dict):
        raise _invalid(what, "payload is not an object")
    return _contact(payload.get("contact"), what, "payload.contact")


def _whole_number(value: JSON) -> int | None:
    """An int, or a string of digits (``current_page`` echoes the raw parameter)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def page_in(document: JSON, what: str, page: int) -> tuple[list[Contact], int]:
    """The contacts of a list or search page and ``meta.count``, the total of matches."""
    meta = document.get("meta") if isinstance(document, dict) else None
    if not isinstance(meta, dict):
        raise _invalid(what, "no meta object")
    count = _whole_number(meta.get("count"))
    if count is None:
        raise _invalid(what, f"meta.count is {meta.get('count')!r}, not a number")
    if "current_page" in meta and _whole_number(meta["current_page"]) != page:
        raise _invalid(
            what, f"asked for page {page}, got meta.current_page {meta['current_page']!r}"
        )
    payload = _payload(document, what)
    if not isinstance(payload, list):
        raise _invalid(what, "payload is not a list")
    contacts = [_contact(item, what, f"payload[{index}]") for index, item in enumerate(payload)]
    return contacts, count


def matches_exactly(contact: Contact, criteria: Mapping[str, str]) -> bool:
    """Whether ``contact`` has every value of ``criteria`` (email case-insensitive)."""
    for name, wanted in criteria.items():
        value = contact.get(name)
        if name == "email":
            if not isinstance(value, str) or value.lower() != wanted.lower():
                return False
        elif value != wanted:
            return False
    return True
