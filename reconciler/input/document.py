"""YAML bytes -> Document: plain JSON values and, beside them, the position of every node.

The values are built by reconciler.input.values from PyYAML's C parser; this module refuses
what is not a readable YAML file (too big, not UTF-8, bad syntax) with the place and the fix.
Positions are kept in side tables keyed like jsonschema's ``absolute_path``: the values stay
plain dicts and lists, which later stages (and DeepDiff) need.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

import yaml

from reconciler.errors import InputError
from reconciler.input.values import FatalProblem, KeyPath, LineColumn, ValueBuilder, json_path
from reconciler.model import JSON, Position, Problem

__all__ = [
    "MAX_FILE_BYTES",
    "Document",
    "KeyPath",
    "NotAFile",
    "PositionTable",
    "json_path",
    "load_document",
    "read_regular_file",
]

MAX_FILE_BYTES: Final = 20 * 1024 * 1024


class PositionTable(Mapping[KeyPath, Position]):
    """Positions by key path, stored as (line, column) and made into Positions on demand."""

    __slots__ = ("file", "raw")

    def __init__(self, file: str, raw: dict[KeyPath, LineColumn]) -> None:
        self.file = file
        self.raw = raw

    def __getitem__(self, path: KeyPath) -> Position:
        line, column = self.raw[path]
        return Position(self.file, line, column)

    def __contains__(self, path: object) -> bool:
        return path in self.raw

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed YAML file."""

    path: str  # as given, for messages
    data: JSON  # plain dicts, lists and scalars
    marks: PositionTable  # key path -> where the value starts
    key_marks: PositionTable  # key path -> where the mapping key of that value is
    sha256: str  # of the file's bytes
    bool_texts: Mapping[KeyPath, str] = field(default_factory=dict)
    """How booleans not spelt true/false were written (``NO``), for "quote it" messages."""

    def position(self, path: KeyPath, *, key: bool = False) -> Position:
        """Where ``path`` is (its key, if asked and it has one), else its nearest ancestor."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks[path] if path in self.marks else Position(self.path, 1, 1)


def load_document(path: str, content: bytes) -> Document:
    """Parse one YAML file; raises InputError with every problem that stops it being read."""
    if len(content) > MAX_FILE_BYTES:
        raise InputError([oversize_problem(path, len(content))])
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError([_not_utf8(path, content, error)]) from None
    builder = ValueBuilder(path)
    try:
        data = builder.build(content)
    except FatalProblem as fatal:
        builder.problems.append(fatal.problem)
    except yaml.MarkedYAMLError as error:
        builder.problems.append(_syntax_problem(path, error))
    except yaml.reader.ReaderError as error:
        message = f"invalid YAML: {error.reason}; remove the character"
        builder.problems.append(Problem(_position_at(path, content, error.position), "$", message))
    if builder.problems:
        unique = dict.fromkeys(builder.problems)
        raise InputError(sorted(unique, key=lambda p: (p.position.line, p.position.column)))
    return Document(
        path=path,
        data=data,
        marks=PositionTable(path, builder.marks),
        key_marks=PositionTable(path, builder.key_marks),
        sha256=hashlib.sha256(content).hexdigest(),
        bool_texts=builder.bool_texts,
    )


class NotAFile(OSError):
    """The path is something other than a regular file: a FIFO, a device, a socket."""


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def read_regular_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path`` (symlinks followed), at most ``limit + 1``.

    NotAFile for anything else, without blocking on it: a pull request can commit a
    symlink to /dev/zero or a FIFO, and reading either would never end.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise NotAFile(f"{kind}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def oversize_problem(path: str, size: int) -> Problem:
    megabytes, limit = size / (1024 * 1024), MAX_FILE_BYTES // (1024 * 1024)
    message = (
        f"the file is {megabytes:.1f} MB, over the {limit} MB limit; split it into smaller files"
    )
    return Problem(Position(path, 1, 1), "$", message)


def _position_at(path: str, content: bytes, offset: int) -> Position:
    """The line and column (in characters) of a byte offset into valid UTF-8 before it."""
    line_start = content.rfind(b"\n", 0, offset) + 1
    line = content.count(b"\n", 0, offset) + 1
    column = len(content[line_start:offset].decode("utf-8", "replace")) + 1
    return Position(path, line, column)


def _not_utf8(path: str, content: bytes, error: UnicodeDecodeError) -> Problem:
    message = (
        f"is not UTF-8 text (byte 0x{content[error.start]:02x} here); "
        "save the file with the UTF-8 encoding"
    )
    return Problem(_position_at(path, content, error.start), "$", message)


_SYNTAX_HINTS = {  # libyaml's wording -> what to do
    "mapping values are not allowed in this context": (
        "check the indentation, and quote a value that contains ': '"
    ),
    "found a tab character that violates indentation": "indent with spaces, not tabs",
    "found character that cannot start any token": (
        "indent with spaces, not tabs, and quote a value that starts with @ or `"
    ),
    "could not find expected ':'": "write each entry as `key: value` and check the indentation",
    "did not find expected key": "check the indentation, and quote the whole value",
    "did not find expected '-' indicator": "check the indentation of the list items",
    "did not find expected ',' or ']'": "close the list with ]",
    "did not find expected ',' or '}'": "close the mapping with }",
    "found unexpected end of stream": "close the quote or bracket that is still open",
    "exceeded maximum nesting depth": "the data is nested too deeply; flatten the data",
    "found unknown escape character": (
        "write \\\\ for a backslash inside double quotes, or use single quotes"
    ),
}


def _syntax_problem(path: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    position = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path, 1, 1)
    problem = error.problem or "the YAML can't be read"
    context = ""
    if error.context and error.context_mark:
        context = f" ({error.context} on line {error.context_mark.line + 1})"
    hint = _SYNTAX_HINTS.get(problem, "fix the YAML syntax here")
    return Problem(position, "$", f"invalid YAML: {problem}{context}; {hint}")


def value_position(contact: Position, *keys: str) -> tuple[Position, str]:
    """Where the value at ``keys`` of the contact whose mapping starts at ``contact`` is, and
    its JSON path (``$.contacts[3].custom_attributes.tier``), the file read again: for the
    few messages that name a value after the values left the file's position tables."""
    try:
        document = load_document(contact.file, read_regular_file(contact.file))
    except (OSError, InputError):
        return contact, ".".join(keys)
    for index in range(len(document.data.get("contacts") or ())):
        if document.marks.raw.get(("contacts", index)) == (contact.line, contact.column):
            path: KeyPath = ("contacts", index, *keys)
            return document.position(path), json_path(path)
    return contact, ".".join(keys)
