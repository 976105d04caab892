"""A schema compiled into a yes/no check, so that valid files skip jsonschema.

jsonschema builds a new validator for every subschema it enters: about 0.3 ms a contact on
the project's 2-core machine, most of a cold validate. These closures answer only "valid?"
in a few microseconds; whatever they reject goes through jsonschema, which alone writes the
messages. They cover the keywords the project's schemas use, read from the schema itself
(``$ref`` only to a place in the same schema, by a plain JSON pointer, and not in a cycle);
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


class _Root:
    """The whole schema, which ``$ref`` points into, and the references being compiled."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.compiling: set[str] = set()


def compile_precheck(schema: Any) -> Check | None:
    """A function that is True exactly when jsonschema finds no error; None if unsupported."""
    try:
        return _compile(schema, _Root(schema))
    except _Unsupported:
        return None


def _valid(instance: Any) -> bool:
    return True


def _invalid(instance: Any) -> bool:
    return False


def _compile(schema: Any, root: _Root) -> Check:
    if schema is True:
        return _valid
    if schema is False:
        return _invalid
    if not isinstance(schema, dict):
        raise _Unsupported(repr(schema))
    if "$id" in schema and schema is not root.schema:
        raise _Unsupported("$id")  # a schema of its own, that "#/..." would point into
    checks: list[Check] = []
    if "properties" in schema or "additionalProperties" in schema:
        properties = schema.get("properties", {})
        checks.append(_properties(properties, schema.get("additionalProperties", True), root))
    if "if" in schema:  # without "if", "then" and "else" have no effect
        then, otherwise = schema.get("then", True), schema.get("else", True)
        checks.append(_if_then_else(schema["if"], then, otherwise, root))
    for keyword, value in schema.items():
        if keyword in ("properties", "additionalProperties", "if", "then", "else"):
            continue
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        builder = _KEYWORDS.get(keyword)
        if builder is not None:
            checks.append(builder(value))
            continue
        subschema_builder = _SUBSCHEMA_KEYWORDS.get(keyword)
        if subschema_builder is None:
            raise _Unsupported(keyword)
        checks.append(subschema_builder(value, root))
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


def _properties(properties: dict[str, Any], additional: Any, root: _Root) -> Check:
    compiled = {name: _compile(subschema, root) for name, subschema in properties.items()}
    other = _compile(additional, root)

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


def _items(subschema: Any, root: _Root) -> Check:
    check = _compile(subschema, root)
    return lambda instance: not isinstance(instance, list) or all(check(i) for i in instance)


def _min_items(limit: int) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) >= limit


def _max_items(limit: int) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) <= limit


def _any_of(subschemas: list[Any], root: _Root) -> Check:
    checks = [_compile(subschema, root) for subschema in subschemas]
    return lambda instance: any(check(instance) for check in checks)


def _all_of(subschemas: list[Any], root: _Root) -> Check:
    checks = [_compile(subschema, root) for subschema in subschemas]
    return lambda instance: all(check(instance) for check in checks)


def _one_of(subschemas: list[Any], root: _Root) -> Check:
    checks = [_compile(subschema, root) for subschema in subschemas]
    return lambda instance: sum(1 for check in checks if check(instance)) == 1


def _not(subschema: Any, root: _Root) -> Check:
    check = _compile(subschema, root)
    return lambda instance: not check(instance)


def _if_then_else(condition: Any, then: Any, otherwise: Any, root: _Root) -> Check:
    test, if_true, if_false = (_compile(schema, root) for schema in (condition, then, otherwise))
    return lambda instance: if_true(instance) if test(instance) else if_false(instance)


def _ref(reference: Any, root: _Root) -> Check:
    """A check for the subschema a JSON pointer such as ``#/$defs/path`` names."""
    if not isinstance(reference, str) or not (reference == "#" or reference.startswith("#/")):
        raise _Unsupported(f"$ref {reference!r}")
    if "%" in reference or reference in root.compiling:  # percent-escapes; a cycle
        raise _Unsupported(f"$ref {reference!r}")
    target = root.schema
    for token in reference[2:].split("/") if reference != "#" else ():
        name = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or name not in target:
            raise _Unsupported(f"$ref {reference!r}")
        target = target[name]
    root.compiling.add(reference)
    try:
        return _compile(target, root)
    finally:
        root.compiling.discard(reference)


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
    "minItems": _min_items,
    "maxItems": _max_items,
}
_SUBSCHEMA_KEYWORDS: dict[str, Callable[[Any, _Root], Check]] = {
    "items": _items,
    "anyOf": _any_of,
    "allOf": _all_of,
    "oneOf": _one_of,
    "not": _not,
    "$ref": _ref,
}
