"""reconciler schema NAME: print a JSON Schema, for editors and tools without a checkout."""

from __future__ import annotations

import sys

from reconciler.input.schemas import schema_bytes

SCHEMAS = ("contacts", "attribute-definitions", "settings", "plan")


def schema_command(name: str) -> int:
    sys.stdout.write(schema_bytes(name).decode("utf-8"))
    return 0
