"""What one YAML scalar holds as JSON: its tag as YAML 1.1 resolves it, its value, or why
it holds none a server would store as written (a date, an infinity, a float the server
reads back as another number, a NUL)."""

from __future__ import annotations

import math
from typing import Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from reconciler.model import JSON

MAX_NUMBER_DIGITS: Final = 4_300  # Python's own limit for int() of a text (CVE-2020-10735)
NUL_PROBLEM: Final = "holds a NUL character (\\0), which the server can't store; remove it"
FLOAT_LIMIT: Final = 1e16
"""From here on the server (PostgreSQL jsonb, then Ruby) reads a float back as an integer."""

TAG: Final = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT = (TAG + name for name in ("str", "null", "bool", "int", "float"))
TIMESTAMP, MERGE_TAG, VALUE_TAG = TAG + "timestamp", TAG + "merge", TAG + "value"
PLAIN_MAP_TAGS: Final = frozenset((None, "!", TAG + "map"))
PLAIN_SEQ_TAGS: Final = frozenset((None, "!", TAG + "seq"))
IMPLICIT_RESOLVERS = yaml.CSafeLoader.yaml_implicit_resolvers
"""First character -> the tags a plain scalar starting with it may resolve to."""
_WILDCARD_RESOLVERS = tuple(IMPLICIT_RESOLVERS.get(None, ()))
_CONSTRUCTOR = SafeConstructor()


def resolve(text: str) -> str:
    """The tag YAML 1.1 gives a plain scalar (as PyYAML's SafeLoader resolves it)."""
    for tag, regexp in IMPLICIT_RESOLVERS.get(text[0] if text else "", ()):
        if regexp.match(text):
            return tag  # type: ignore[no-any-return]
    for tag, regexp in _WILDCARD_RESOLVERS:
        if regexp.match(text):
            return tag  # type: ignore[no-any-return]
    return STR


def tag_problem(tag: str) -> str:
    """Why a value with ``tag`` (not plain data) is refused."""
    short = "!!" + tag.removeprefix(TAG) if tag.startswith(TAG) else tag
    return (
        f"the tag {short} is not allowed: contact files hold plain mappings, lists, text, "
        "numbers, booleans and null; remove the tag"
    )


def typed_value(text: str, tag: str) -> tuple[JSON, str | None]:
    """The value a scalar of ``tag`` holds, and why it can't be used as it is (else None)."""
    if tag in (STR, "!"):
        return text, NUL_PROBLEM if "\x00" in text else None
    if tag == NULL:
        return None, None
    if tag == BOOL:
        value = _CONSTRUCTOR.bool_values.get(text.lower())
        if value is None:
            return None, "can't be read as a boolean; write true or false"
        return value, None
    if tag in (INT, FLOAT):
        return _number(text, tag)
    if tag == TIMESTAMP:
        return text, (
            "YAML reads this unquoted value as a date, which JSON has no type for; "
            "quote it to keep it as text"
        )
    if tag in (MERGE_TAG, VALUE_TAG):  # ``<<`` or ``=`` as a value: just text
        return text, None
    return text, tag_problem(tag)


def _number(text: str, tag: str) -> tuple[JSON, str | None]:
    if len(text) > MAX_NUMBER_DIGITS:
        return text, (
            f"is a number of more than {MAX_NUMBER_DIGITS:,} digits, which no JSON reader "
            "takes; quote it to keep it as text"
        )
    if tag == INT and text.isdecimal() and (text[0] != "0" or text == "0"):
        return int(text), None  # the common case; a leading 0 is octal in YAML 1.1
    node = ScalarNode(tag, text)
    try:
        value = (
            _CONSTRUCTOR.construct_yaml_int(node)
            if tag == INT
            else _CONSTRUCTOR.construct_yaml_float(node)
        )
    except ValueError:
        name = "a whole number" if tag == INT else "a number"
        return text, f"can't be read as {name}; correct it or quote it"
    if isinstance(value, float) and not math.isfinite(value):
        return text, (
            "YAML reads this unquoted value as an infinite or not-a-number float, which "
            "JSON can't hold; quote it to keep it as text"
        )
    if isinstance(value, float):
        return value, unstorable_float(value)
    return value, None


def unstorable_float(value: float) -> str | None:
    """Why the server would store ``value`` as another value, so it would never match."""
    if abs(value) >= FLOAT_LIMIT:
        return (
            "is a float of 1e16 or more, which the server stores as a whole number, so it "
            f"would never match: write {int(value)} for the number, or quote it for text"
        )
    if value == 0 and math.copysign(1.0, value) < 0:
        return "is -0.0, which the server stores as 0.0, so it would never match: write 0.0"
    return None
