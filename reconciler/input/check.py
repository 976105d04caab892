"""Documents -> Problems: each way a document breaks its schema, as one line a user can act on.

The JSON Schema is the only statement of the field rules. This module turns jsonschema's
errors into one-line messages that say what is wrong and what to do, reading everything it
says from the failing subschema: ``x-error`` (a message, or messages by keyword, where
``{key}`` names the key), ``properties`` (suggestions for a misspelt key), ``x-unique`` (no
two contacts may share the value). Messages name keys but never repeat a declared value.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reconciler.input.document import Document, KeyPath, json_path
from reconciler.input.schemas import ecma_regex, fast_validator_for, validator_for
from reconciler.model import JSON, Problem

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

CONTACTS_SCHEMA = "contacts"

# Keywords about one value: at most one problem per value, the first of these that fails.
_VALUE_KEYWORDS = (
    "type",
    "not",
    "const",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
)
_VALUE_RANK = {keyword: rank for rank, keyword in enumerate(_VALUE_KEYWORDS)}
_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def check_document(document: Document, schema_name: str) -> list[Problem]:
    """Every way the document breaks the schema, one Problem each, in file order."""
    if fast_validator_for(schema_name).is_valid(document.data):
        return []  # jsonschema-rs agrees with jsonschema on valid data, many times faster
    chosen: dict[tuple[Any, ...], tuple[int, Problem]] = {}
    structural: list[tuple[ValidationError, Problem]] = []
    for error in validator_for(schema_name).iter_errors(document.data):
        for path, problem in _problems_for(error, document):
            rank = _VALUE_RANK.get(str(error.validator))
            if rank is None:
                structural.append((error, problem))
            elif path not in chosen or rank < chosen[path][0]:
                chosen[path] = (rank, problem)
    problems = [problem for _, problem in chosen.values()]
    for error, problem in structural:
        if not _explained_by_value_problem(error, chosen):
            problems.append(problem)
    return sorted(
        dict.fromkeys(problems), key=lambda p: (p.position.line, p.position.column, p.path)
    )


def _explained_by_value_problem(error: ValidationError, chosen: dict[Any, Any]) -> bool:
    """An ``anyOf`` of required keys fails anyway when one of those keys has a bad value."""
    if error.validator not in ("anyOf", "oneOf"):
        return False
    path = tuple(error.absolute_path)
    branches: Any = error.validator_value if isinstance(error.validator_value, list) else []
    keys = {
        key for branch in branches if isinstance(branch, dict) for key in branch.get("required", ())
    }
    return any((*path, key) in chosen for key in keys)


def _problems_for(error: ValidationError, document: Document) -> Iterator[tuple[KeyPath, Problem]]:
    path: KeyPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = _custom_message(schema, keyword)
    instance: Any = error.instance
    limit: Any = error.validator_value
    if keyword == "additionalProperties" and isinstance(instance, dict):
        for key in _extra_keys(instance, schema):
            key_path = (*path, key)
            message = (custom or "'{key}' is not allowed here").replace("{key}", key)
            message += _suggestion(key, schema)
            yield key_path, _problem(document, key_path, message, key=True)
    elif keyword == "required" and isinstance(instance, dict):
        for key in limit:
            if key not in instance:
                message = (custom or "'{key}' is missing; add it").replace("{key}", key)
                yield path, _problem(document, path, message)
    elif keyword == "type":
        yield path, _problem(document, path, _type_message(error, document, custom))
    elif keyword == "not":
        message = custom or "is not allowed here; remove it"
        yield path, _problem(document, path, message, key=True)
    else:
        yield path, _problem(document, path, custom or _generic_message(error))


def _problem(document: Document, path: KeyPath, message: str, *, key: bool = False) -> Problem:
    return Problem(document.position(path, key=key), json_path(path), message)


def _custom_message(schema: dict[str, Any], keyword: str) -> str | None:
    custom = schema.get("x-error")
    if isinstance(custom, dict):
        custom = custom.get(keyword)
    return custom if isinstance(custom, str) else None


def _extra_keys(instance: dict[str, JSON], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in properties and not any(ecma_regex(pattern).find(key) for pattern in patterns)
    ]


def _suggestion(key: str, schema: dict[str, Any]) -> str:
    names = [
        name
        for name, subschema in schema.get("properties", {}).items()
        if not (isinstance(subschema, dict) and subschema.get("doNotSuggest"))
    ]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if not close:
        close = [name for name in names if name.lower() == key.lower()]
    if close:
        return f" (did you mean '{close[0]}'?)"
    if names:
        return f"; remove it, or use one of: {', '.join(names)}"
    return "; remove it"


def _type_message(error: ValidationError, document: Document, custom: str | None) -> str:
    limit: Any = error.validator_value
    expected: list[str] = [limit] if isinstance(limit, str) else list(limit)
    instance: Any = error.instance
    if "string" in expected and isinstance(instance, bool):
        path = tuple(error.absolute_path)
        text = document.bool_texts.get(path, "true" if instance else "false")
        return f'YAML reads {text} as a boolean; quote it: "{text}"'
    if "string" in expected and isinstance(instance, int | float):
        return "YAML reads this unquoted value as a number; quote it to keep it as text"
    if custom:
        return custom
    schema: Any = error.schema if isinstance(error.schema, dict) else {}
    unit = schema.get("x-unit")
    if isinstance(instance, str) and unit:
        seconds = _in_seconds(instance) if unit == "seconds" else None
        example = f"{seconds:g}" if seconds else f"{(schema.get('examples') or [1])[0]}"
        return f"must be a number of {unit}, with no unit and no quotes: {example}"
    wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in expected if name != "null")
    if "null" in expected:
        wanted = f"{wanted} or null" if wanted else "null"
    if instance is None:
        return f"is empty (null) but must be {wanted}; write a value or remove the key"
    if isinstance(instance, str):
        return f"is text but must be {wanted}; write it without quotes"
    return f"is {_describe(instance)} but must be {wanted}; correct it"


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_SECONDS_IN = {
    "": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "ms": 0.001,
}  # fmt: skip


def _in_seconds(text: str) -> float | None:
    """``1h`` -> 3600.0: what a duration written with a unit means, for the message."""
    match = _DURATION.fullmatch(text)
    factor = None if match is None else _SECONDS_IN.get(match.group(2).lower())
    return None if match is None or factor is None else float(match.group(1)) * factor


def _describe(instance: JSON) -> str:
    if isinstance(instance, bool):
        return "true or false"
    if isinstance(instance, int | float):
        return "a number"
    if isinstance(instance, dict):
        return "a mapping"
    if isinstance(instance, list):
        return "a list"
    return "text"


def _generic_message(error: ValidationError) -> str:
    keyword = str(error.validator)
    limit: Any = error.validator_value
    instance: Any = error.instance
    if keyword == "maxLength":
        return f"is {len(instance)} characters long, over the limit of {limit}; shorten it"
    if keyword == "minLength":
        if limit == 1:
            return "is empty; write a value"
        return f"is under {limit} characters; lengthen it"
    simple = {
        "pattern": f"does not have the required form (pattern {limit}); correct it",
        "minimum": f"must be at least {limit}; correct it",
        "maximum": f"must be at most {limit}; correct it",
        "exclusiveMinimum": f"must be more than {limit}; correct it",
        "exclusiveMaximum": f"must be less than {limit}; correct it",
        "minItems": f"must have at least {limit} item(s); add some",
        "maxItems": f"must have at most {limit} item(s); remove some",
        "enum": f"must be one of {', '.join(json.dumps(value) for value in limit)}; correct it"
        if isinstance(limit, list)
        else "",
        "const": f"must be {json.dumps(limit)}; correct it",
        "anyOf": "matches none of the forms the schema allows; see its description",
        "oneOf": "must match exactly one of the forms the schema allows; see its description",
    }
    return simple.get(keyword) or f"breaks the schema's '{keyword}' rule; see the schema"
