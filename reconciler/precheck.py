"""A schema compiled into a yes/no check, so that valid files skip jsonschema.

jsonschema builds a new validator for every subschema it enters: about 0.3 ms a contact on
the project's 2-core machine, most of a cold validate. These closures answer only "valid?"
in a few microseconds; whatever they reject goes through jsonschema, which alone writes the
messages. They cover the keywords the project's schemas use, read from the schema itself;
a schema with any other keyword gets no precheck at all (``None``), so that the two never
disagree on what a keyword means. A test compares them with jsonschema on generated data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeAlias

Check: TypeAlias = Callable[[Any], bool]

_ANNOTATIONS: Final = frozenset(
    (
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "doNotSuggest",
    )
)


class _Unsupported(Exception):
    """The schema uses a keyword the precheck doesn't handle."""


def compile_precheck(schema: Any) -> Check | None:
    """A function that is True exactly when jsonschema finds no error; None if unsupported."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _valid(instance: Any) -> bool:
    return True


def _invalid(instance: Any) -> bool:
    return False


def _compile(schema: Any) -> Check:
    if schema is True:
        return _valid
    if schema is False:
        return _invalid
    if not isinstance(schema, dict):
        raise _Unsupported(repr(schema))
    checks: list[Check] = []
    if "properties" in schema or "additionalProperties" in schema:
        checks.append(
            _properties(schema.get("properties", {}), schema.get("additionalProperties", True))
        )
    for keyword, value in schema.items():
        if keyword in ("properties", "additionalProperties"):
            continue
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        builder = _KEYWORDS.get(keyword)
        if builder is None:
            raise _Unsupported(keyword)
        checks.append(builder(value))
    if not checks:
        return _valid
    if len(checks) == 1:
        return checks[0]

    def all_of_keywords(instance: Any) -> bool:
        return all(check(instance) for check in checks)

    return all_of_keywords


def _type(value: Any) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    if all(name in _PYTHON_TYPES for name in names):
        python_types = tuple(_PYTHON_TYPES[name] for name in names)
        return lambda instance: isinstance(instance, python_types)
    tests = [_TYPE_TESTS[name] for name in names if name in _TYPE_TESTS]
    if len(tests) != len(names):
        raise _Unsupported(f"type {value!r}")
    if len(tests) == 1:
        return tests[0]
    return lambda instance: any(test(instance) for test in tests)


def _is_integer(instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())


def _is_number(instance: Any) -> bool:
    return isinstance(instance, int | float) and not isinstance(instance, bool)


_PYTHON_TYPES: dict[str, type] = {  # the types whose instances match exactly these classes
    "string": str,
    "null": type(None),
    "boolean": bool,
    "object": dict,
    "array": list,
}
_TYPE_TESTS: dict[str, Check] = {
    "string": lambda instance: isinstance(instance, str),
    "null": lambda instance: instance is None,
    "boolean": lambda instance: isinstance(instance, bool),
    "object": lambda instance: isinstance(instance, dict),
    "array": lambda instance: isinstance(instance, list),
    "integer": _is_integer,
    "number": _is_number,
}


def _properties(properties: dict[str, Any], additional: Any) -> Check:
    compiled = {name: _compile(subschema) for name, subschema in properties.items()}
    other = _compile(additional)

    def properties_check(instance: Any) -> bool:
        if isinstance(instance, dict):
            for key, value in instance.items():
                check = compiled.get(key, other)
                if not check(value):
                    return False
        return True

    return properties_check


def _required(value: Any) -> Check:
    names = list(value)
    return lambda instance: not isinstance(instance, dict) or all(n in instance for n in names)


def _min_length(limit: int) -> Check:
    return lambda instance: not isinstance(instance, str) or len(instance) >= limit


def _max_length(limit: int) -> Check:
    return lambda instance: not isinstance(instance, str) or len(instance) <= limit


def _pattern(pattern: str) -> Check:
    search = re.compile(pattern).search
    return lambda instance: not isinstance(instance, str) or search(instance) is not None


def _minimum(limit: float) -> Check:
    return lambda instance: not _is_number(instance) or instance >= limit


def _maximum(limit: float) -> Check:
    return lambda instance: not _is_number(instance) or instance <= limit


def _exclusive_minimum(limit: float) -> Check:
    return lambda instance: not _is_number(instance) or instance > limit


def _exclusive_maximum(limit: float) -> Check:
    return lambda instance: not _is_number(instance) or instance < limit


def _items(subschema: Any) -> Check:
    check = _compile(subschema)
    return lambda instance: not isinstance(instance, list) or all(check(i) for i in instance)


def _min_items(limit: int) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) >= limit


def _max_items(limit: int) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) <= limit


def _any_of(subschemas: list[Any]) -> Check:
    checks = [_compile(subschema) for subschema in subschemas]
    return lambda instance: any(check(instance) for check in checks)


def _all_of(subschemas: list[Any]) -> Check:
    checks = [_compile(subschema) for subschema in subschemas]
    return lambda instance: all(check(instance) for check in checks)


def _one_of(subschemas: list[Any]) -> Check:
    checks = [_compile(subschema) for subschema in subschemas]
    return lambda instance: sum(1 for check in checks if check(instance)) == 1


def _not(subschema: Any) -> Check:
    check = _compile(subschema)
    return lambda instance: not check(instance)


_KEYWORDS: dict[str, Callable[[Any], Check]] = {
    "type": _type,
    "required": _required,
    "minLength": _min_length,
    "maxLength": _max_length,
    "pattern": _pattern,
    "minimum": _minimum,
    "maximum": _maximum,
    "exclusiveMinimum": _exclusive_minimum,
    "exclusiveMaximum": _exclusive_maximum,
    "items": _items,
    "minItems": _min_items,
    "maxItems": _max_items,
    "anyOf": _any_of,
    "allOf": _all_of,
    "oneOf": _one_of,
    "not": _not,
}
