"""Attribute definitions files -> declared definitions: the second kind of file a tree may
hold, told apart from contact files by its top-level key (``attribute_definitions``) and
checked against its own schema (schemas/attribute-definitions.schema.json)."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.definitions import AttributeDefinition, DeclaredDefinition
from reconciler.input.document import Document, json_path
from reconciler.model import Position, Problem

KIND = "attribute_definition"
DEFINITIONS_SCHEMA = "attribute-definitions"
FILE_KEY = "attribute_definitions"


def declared_definitions(document: Document) -> tuple[DeclaredDefinition, ...]:
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
    return tuple(declared)


def repeated_keys(definitions: Iterable[DeclaredDefinition]) -> list[Problem]:
    """A problem for each key declared again, in any file, naming where it came first."""
    first: dict[str, Position] = {}
    index_in_file: dict[str, int] = {}
    problems = []
    for declared in definitions:
        file, key = declared.source.file, declared.definition.key
        index = index_in_file[file] = index_in_file.get(file, -1) + 1
        if key not in first:
            first[key] = declared.source
            continue
        message = (
            f"this key is also declared at {first[key]}; one key has one definition: merge "
            "the two or remove one"
        )
        path = json_path((FILE_KEY, index, "key"))
        problems.append(Problem(declared.source, path, message))
    return problems
