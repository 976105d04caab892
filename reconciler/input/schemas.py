"""Find and read the JSON Schemas by name.

They live in ``schemas/`` at the top of the source tree, and in ``reconciler/schemas/`` inside
an installed wheel (pyproject force-includes them there).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

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
