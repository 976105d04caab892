"""The kinds of file a tree may hold besides contact files, each told apart by its
top-level key and checked against its own schema: the input side of a kind of resource.

A kind of file is its name (as plans record its changes), its top-level key, its schema,
how a valid document becomes its declared resources, and what may not repeat across
files. ``reconciler.engine.kinds`` holds the other side of each kind (plan, apply).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.input import definitionfile
from reconciler.input.document import Document
from reconciler.model import JSON, Problem


@dataclass(frozen=True, slots=True)
class FileKind:
    name: str  # "attribute_definition"
    file_key: str  # "attribute_definitions"
    schema: str  # "attribute-definitions": schemas/attribute-definitions.schema.json
    read: Callable[[Document], tuple[Any, ...]]  # a valid document -> its declared resources
    repeated: Callable[[Sequence[Any]], list[Problem]]  # across every file of the kind


@dataclass(frozen=True, slots=True)
class KindFile:
    """A file of another kind than contacts, read."""

    kind: FileKind
    path: str
    sha256: str
    declared: tuple[Any, ...]


FILE_KINDS: tuple[FileKind, ...] = (
    FileKind(
        definitionfile.KIND,
        definitionfile.FILE_KEY,
        definitionfile.DEFINITIONS_SCHEMA,
        definitionfile.declared_definitions,
        definitionfile.repeated_keys,
    ),
)


def file_kind(data: JSON) -> FileKind | None:
    """The kind of a document that holds no contacts, by its top-level key; None: contacts."""
    if not isinstance(data, dict) or "contacts" in data:
        return None
    return next((kind for kind in FILE_KINDS if kind.file_key in data), None)
