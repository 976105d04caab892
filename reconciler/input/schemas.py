"""The JSON Schemas by name, and the two validators that check documents against them.

The schemas live in ``schemas/`` at the top of the source tree, and in ``reconciler/schemas/``
inside an installed wheel (pyproject force-includes them there). ``fast_validator_for``
(jsonschema-rs) answers "valid?" for every document; only an invalid one goes through
``validator_for`` (jsonschema), which writes the messages. Both read ``pattern`` as
ECMA-262 does, as editors and every other JSON Schema tool do: ``$`` is the end of the text,
never before a final newline as in Python's ``re``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from jsonschema_rs import Validator as FastValidator

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
SCHEMA_DIRS = (_PACKAGE_DIR / "schemas", _PACKAGE_DIR.parent / "schemas")


def schema_path(name: str) -> Path:
    """The file of the schema called ``name`` ("contacts" -> contacts.schema.json)."""
    file_name = f"{name}.schema.json"
    for directory in SCHEMA_DIRS:
        candidate = directory / file_name
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(directory) for directory in SCHEMA_DIRS)
    raise LookupError(f"no schema {file_name} in {searched}")


@functools.cache
def schema_bytes(name: str) -> bytes:
    return schema_path(name).read_bytes()


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    schema = json.loads(schema_bytes(name))
    if not isinstance(schema, dict):
        raise TypeError(f"{schema_path(name)} is not a JSON object")
    return schema


def schema_digest(name: str) -> str:
    """The sha256 of the schema file: caches keyed on it are invalid once it changes."""
    return hashlib.sha256(schema_bytes(name)).hexdigest()


@functools.cache
def fast_validator_for(name: str) -> FastValidator:
    """A compiled jsonschema-rs validator: "valid?" in microseconds a contact."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(load_schema(name))


@functools.cache
def validator_for(name: str) -> Validator:
    """The jsonschema validator of ``schemas/<name>.schema.json``, built once, ECMA patterns."""
    # Imported here: a valid or cached file never needs jsonschema, a third of a start-up.
    import jsonschema.validators

    schema = load_schema(name)
    base = jsonschema.validators.validator_for(
        schema, default=jsonschema.validators.Draft202012Validator
    )
    base.check_schema(schema)
    validator_class = jsonschema.validators.extend(base, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]
    return validator_class(schema)  # type: ignore[no-any-return]


@functools.cache
def ecma_regex(pattern: str) -> Any:
    """``pattern`` compiled as ECMA-262 reads it (the regress library)."""
    import regress

    return regress.Regex(pattern)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and ecma_regex(pattern).find(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")
