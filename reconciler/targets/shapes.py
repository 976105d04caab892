"""The JSON envelopes of Chatwoot's contacts API, which LiveDesk's follows field for field.

Pure functions of a decoded document: the contact, created contact or page it must hold,
or an InvalidResponseError that says what the document lacks.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.errors import InvalidResponseError
from reconciler.fields import indexed
from reconciler.model import JSON, Contact


def _invalid(what: str, problem: str) -> InvalidResponseError:
    # ``what`` names the service: "LiveDesk's answer to GET /path"
    return InvalidResponseError(f"{what} is not what the API promises: {problem}")


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


def labels_in(document: JSON, what: str) -> list[str]:
    """The labels of a labels answer: ``{"payload": ["a", "b"]}``."""
    payload = _payload(document, what)
    if not isinstance(payload, list) or not all(isinstance(item, str) for item in payload):
        raise _invalid(what, "payload is not a list of labels")
    return payload


def conversations_in(document: JSON, what: str) -> list[JSON]:
    """The conversations of a contact's conversations answer: ``{"payload": [...]}``."""
    payload = _payload(document, what)
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise _invalid(what, "payload is not a list of conversations")
    return payload


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
    """Whether ``contact`` has every value of ``criteria``, as the desk's unique index
    compares them (email case-folded as the desk folds it, the others exactly)."""
    for name, wanted in criteria.items():
        value = contact.get(name)
        if not isinstance(value, str) or indexed(name, value) != indexed(name, wanted):
            return False
    return True


def definitions_in(document: JSON, what: str) -> list[JSON]:
    """The definitions of an index answer: a bare array of definition objects, each with
    an integer id and a text ``attribute_key``."""
    if not isinstance(document, list):
        raise _invalid(what, "not an array of definitions")
    return [definition_in(item, what) for item in document]


def definition_in(document: JSON, what: str) -> JSON:
    """One definition object, as a create, update or show answers it."""
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("id"), int)
        or not isinstance(document.get("attribute_key"), str)
    ):
        raise _invalid(what, "a definition without an integer id and a text attribute_key")
    return document
