"""Declared custom attribute values against the account's contact attribute definitions.

Where a desk has definitions (Chatwoot), plan reads them once: a declared value its
definition would refuse in the dashboard is a problem at the contact's line, found before
anything is sent (the API itself takes any value); a declared key with no definition is a
warning, since agents won't see it. Plan keeps what it read under ``.reconciler/``, so that
``validate`` checks the same offline. The ownership marker's key is never looked for: it
must have no definition, so agents don't see it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.changes import TargetIdentity
from reconciler.definitions import AttributeDefinition
from reconciler.errors import ReconcilerError
from reconciler.input.document import value_position
from reconciler.model import DeclaredContact, Problem
from reconciler.outputfile import write_output
from reconciler.statedir import STATE_DIR, ensure_state_dir

SNAPSHOT_NAME = "attribute-definitions.json"
MAX_SNAPSHOT_BYTES = 16 * 2**20


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The definitions a plan read, from where and when."""

    definitions: tuple[AttributeDefinition, ...]
    target: str  # TargetIdentity as text: "chatwoot at https://... (account 3)"
    read_at: str  # ISO 8601, UTC


def check_values(
    contacts: Iterable[DeclaredContact],
    definitions: Sequence[AttributeDefinition],
    marker_key: str | None,
) -> tuple[list[Problem], list[str]]:
    """(a problem for each declared value its definition refuses, a warning for each
    declared key with no definition). Neither repeats a value: values may be personal."""
    by_key = {definition.key: definition for definition in definitions}
    problems: list[Problem] = []
    undefined: dict[str, list[DeclaredContact]] = {}
    for declared in contacts:
        attributes = declared.fields.get("custom_attributes")
        if not isinstance(attributes, Mapping):
            continue
        for key, value in attributes.items():
            if key == marker_key:
                continue
            definition = by_key.get(key)
            if definition is None:
                undefined.setdefault(key, []).append(declared)
                continue
            why = definition.refusal(value)
            if why is not None:
                message = (
                    f"its contact attribute definition ({definition.display_name}) {why}; "
                    "or change the definition"
                )
                where, path = value_position(declared.source, "custom_attributes", key)
                problems.append(Problem(where, path, message))
    warnings = [
        f"custom_attributes.{key} has no contact attribute definition: agents won't see it "
        f"({using[0].source.file_line}{_others(using)}); define it in the desk or in the "
        "files' attribute_definitions"
        for key, using in undefined.items()
    ]
    return problems, warnings


def marker_definitions(
    definitions: Sequence[AttributeDefinition], marker_key: str | None
) -> list[str]:
    """A warning when the ownership marker's key has a definition: agents see it then."""
    return [
        f"custom_attributes.{marker_key} (reconciler's ownership marker) has a contact "
        f"attribute definition (id {definition.id}): agents see the marker and may edit it; "
        "delete that definition in the desk"
        for definition in definitions
        if marker_key is not None and definition.key == marker_key
    ]


def _others(using: list[DeclaredContact]) -> str:
    return f" and {len(using) - 1} other contact(s)" if len(using) > 1 else ""


# The snapshot ---------------------------------------------------------------------------


def save_snapshot(
    definitions: Sequence[AttributeDefinition],
    target: TargetIdentity,
    directory: Path = STATE_DIR,
) -> None:
    """Keep what plan read for ``validate``; best effort (a read-only tree keeps none)."""
    document = {
        "format": 1,
        "target": str(target),
        "read_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "definitions": [{**definition.to_api(), "id": definition.id} for definition in definitions],
    }
    try:
        ensure_state_dir(directory)
        write_output(directory / SNAPSHOT_NAME, json.dumps(document, indent=1).encode())
    except (OSError, ReconcilerError):
        return


def load_snapshot(directory: Path = STATE_DIR) -> Snapshot | str | None:
    """The snapshot plan kept; None when there is none; why, when it can't be read."""
    path = directory / SNAPSHOT_NAME
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_SNAPSHOT_BYTES:
            return f"{path} is too big to be reconciler's: run plan again"
        document = json.loads(path.read_text(encoding="utf-8"))
        definitions = tuple(
            AttributeDefinition.from_api(item)
            for item in document["definitions"]
            if isinstance(item, dict) and isinstance(item.get("attribute_key"), str)
        )
        return Snapshot(definitions, str(document["target"]), str(document["read_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return f"{path} can't be read: run plan again to rewrite it"
