"""Contact attribute definitions: what one is, and which values it accepts.

A Chatwoot account shows its agents only the custom attributes that have a contact
attribute definition, and enforces a definition's value rules in its dashboard only, never
on API writes (../shared/chatwoot-api.md). ``refusal`` states those rules as the dashboard
applies them (``components-next/CustomAttributes``): a list's choices, a number, a
checkbox's boolean, a date, a link, a text's ``regex_pattern`` (JavaScript's, written
``/pattern/flags``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.model import JSON, Position

DISPLAY_TYPES = ("text", "number", "currency", "percent", "link", "date", "list", "checkbox")
NUMERIC = frozenset(("number", "currency", "percent"))
URL_PATTERN = (
    r"^https?:\/\/(?:www\.)?[-a-zA-Z0-9@:%._\+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b"
    r"([-a-zA-Z0-9()@:%_\+.~#?&//=]*)$"
)
"""The dashboard's ``isValidURL`` (dashboard/helper/URLHelper.js)."""


@dataclass(frozen=True, slots=True)
class AttributeDefinition:
    """One contact attribute definition, as the desk holds it or a file declares it."""

    key: str
    display_name: str
    display_type: str = "text"
    description: str | None = None
    values: tuple[str, ...] = ()  # a list's choices
    regex_pattern: str | None = None  # a text's, as JavaScript writes it: /pattern/flags
    regex_cue: str | None = None  # what the dashboard says when a value doesn't match
    id: int | None = None  # the desk's; None for a declared one

    @classmethod
    def from_api(cls, document: Mapping[str, Any]) -> AttributeDefinition:
        values = document.get("attribute_values")
        return cls(
            key=str(document["attribute_key"]),
            display_name=str(document.get("attribute_display_name") or ""),
            display_type=str(document.get("attribute_display_type") or "text"),
            description=document.get("attribute_description") or None,
            values=tuple(str(v) for v in values) if isinstance(values, list) else (),
            regex_pattern=document.get("regex_pattern") or None,
            regex_cue=document.get("regex_cue") or None,
            id=document.get("id") if isinstance(document.get("id"), int) else None,
        )

    def to_api(self) -> dict[str, JSON]:
        """The body that creates or updates it (``custom_attribute_definition``)."""
        return {
            "attribute_key": self.key,
            "attribute_display_name": self.display_name,
            "attribute_display_type": self.display_type,
            "attribute_description": self.description,
            "attribute_values": list(self.values),
            "regex_pattern": self.regex_pattern,
            "regex_cue": self.regex_cue,
            "attribute_model": "contact_attribute",
        }

    def refusal(self, value: JSON) -> str | None:
        """Why the dashboard wouldn't accept ``value`` (null clears: always accepted); None
        when it would. Never repeats the value (it may be personal)."""
        kind = self.display_type
        if value is None:
            return None
        if kind == "list":
            if isinstance(value, str) and value in self.values:
                return None
            return f"is a list of {_choices(self.values)}: use one of them"
        if kind in NUMERIC:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return None
            return f"is a {kind}: write a number (40, 2.5), not text"
        if kind == "checkbox":
            return None if isinstance(value, bool) else "is a checkbox: write true or false"
        if not isinstance(value, str):
            return f"is {_article(kind)} {kind}: write it as text (in quotes)"
        if kind == "date":
            return None if _is_date(value) else "is a date: write it as 2024-05-01"
        if kind == "link":
            if _matches(f"/{URL_PATTERN}/", value):
                return None
            return "is a link: write an http:// or https:// address"
        if self.regex_pattern and not _matches(self.regex_pattern, value):
            cue = f" ({self.regex_cue})" if self.regex_cue else ""
            return f"must match {self.regex_pattern}{cue}"
        return None


@dataclass(frozen=True, slots=True)
class DeclaredDefinition:
    """One definition as an attribute definitions file declares it."""

    source: Position  # where its mapping starts
    definition: AttributeDefinition
    absent: bool = False  # declared ``absent: true``: to be deleted, under ``removed: delete``


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(values[:20]) + (f" and {len(values) - 20} more" if len(values) > 20 else "")


def _article(kind: str) -> str:
    return "an" if kind[:1] in "aeiou" else "a"


def _is_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _matches(written: str, value: str) -> bool:
    """Whether ``value`` matches a pattern as the dashboard's ``getRegexp(...).test`` does;
    True for a pattern JavaScript itself couldn't compile (the dashboard can't check it)."""
    slash = written.rfind("/")
    pattern, flags = (written[1:slash], written[slash + 1 :]) if slash > 0 else (written, "")
    regex = _regex(pattern, "".join(f for f in flags if f in "imsu"))
    return regex is None or regex.find(value) is not None


@functools.lru_cache(maxsize=256)
def _regex(pattern: str, flags: str) -> Any:
    """``pattern`` as JavaScript compiles it (ECMA-262); None where it can't."""
    import regress

    try:
        return regress.Regex(pattern, flags)
    except regress.RegressError:
        return None
