"""Attribute definitions files -> declared definitions: the second kind of file a tree may
hold, told apart from contact files by its top-level key (``attribute_definitions``) and
checked against its own schema (schemas/attribute-definitions.schema.json)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.definitions import AttributeDefinition, DeclaredDefinition
from reconciler.input.document import Document, json_path
from reconciler.model import JSON, Position, Problem

DEFINITIONS_SCHEMA = "attribute-definitions"
FILE_KEY = "attribute_definitions"


@dataclass(frozen=True, slots=True)
class DefinitionsFile:
    path: str
    sha256: str
    definitions: tuple[DeclaredDefinition, ...]


def is_definitions_file(data: JSON) -> bool:
    """Whether a document is an attribute definitions file rather than a contact file."""
    return isinstance(data, dict) and FILE_KEY in data and "contacts" not in data


def definitions_file(document: Document) -> DefinitionsFile:
    """The definitions of a document its schema accepts."""
    declared = []
    for index, item in enumerate(document.data[FILE_KEY]):
        values = item.get("values")
        definition = AttributeDefinition(
            key=item["key"],
            display_name=item.get("display_name", ""),
            display_type=item.get("type", "text"),
            description=item.get("description"),
            values=tuple(values) if isinstance(values, list) else (),
            regex_pattern=item.get("regex_pattern"),
            regex_cue=item.get("regex_cue"),
        )
        position = document.marks[(FILE_KEY, index)]
        declared.append(DeclaredDefinition(position, definition, item.get("absent") is True))
    return DefinitionsFile(document.path, document.sha256, tuple(declared))


def repeated_keys(files: Iterable[DefinitionsFile]) -> list[Problem]:
    """A problem for each key declared again, in any file, naming where it came first."""
    first: dict[str, Position] = {}
    problems = []
    for file in files:
        for index, declared in enumerate(file.definitions):
            key = declared.definition.key
            if key in first:
                message = (
                    f"this key is also declared at {first[key]}; one key has one definition: "
                    "merge the two or remove one"
                )
                path = json_path((FILE_KEY, index, "key"))
                problems.append(Problem(declared.source, path, message))
            else:
                first[key] = declared.source
    return problems
