"""Exported contacts -> contact files: the YAML ``reconciler export`` writes, and where.

The YAML is PyYAML's safe dump (libyaml's emitter): a string YAML would read as something
else (``NO``, ``2024-01-01``, ``"1"``) is quoted, and text with line breaks YAML would fold
is written with escapes, so every value reads back as the same JSON type.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler.engine.export import Export, contact_keys, declared_keys, some
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.input.declaration import yaml_files_under
from reconciler.model import JSON
from reconciler.outputfile import is_stream, write_output

SCHEMA_LOCATION = Path("schemas") / "contacts.schema.json"
"""Where the schema comment points: ``schemas/`` in the directory export runs in."""
SPLIT_PREFIX = "contact-"
EXPORT_MARK = "# Written by `reconciler export`"
"""The line that tells a file export wrote (and may overwrite) from one a person wrote."""
_LARGE_WIDTH = 1_000_000  # one line per value: diffs stay one line per change


# YAML -----------------------------------------------------------------------------------


class _Dumper(yaml.CSafeDumper):
    """Safe dump (libyaml's emitter), no anchors, multi-line text as blocks where it fits."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_FOLDED_BREAKS = frozenset("\r\x85\u2028\u2029")
"""Line breaks to YAML that a plain, quoted or block scalar would turn into "\n" or " "."""
_YAML_1_2_NUMBER = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
)
"""Text that YAML 1.2 tools (editors, yq) read as a number, though PyYAML's YAML 1.1 doesn't."""


def _represent_str(dumper: yaml.representer.SafeRepresenter, value: str) -> yaml.ScalarNode:
    # Double quotes escape every character (\N, \L, ...); a block keeps newlines readable,
    # and the emitter falls back to quotes when a block can't hold the text exactly.
    style: str | None = None
    if not _FOLDED_BREAKS.isdisjoint(value) or value.endswith("\n\n") or value == "\n":
        style = '"'  # (a block would need "|+", whose trailing lines run into what follows)
    elif "\n" in value:
        style = "|"
    elif _YAML_1_2_NUMBER.fullmatch(value):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_file(contacts: Sequence[Mapping[str, JSON]], inbox_id: int | None, schema: str) -> str:
    """One contact file: the schema comment, ``defaults`` if known, the contacts."""
    document: dict[str, JSON] = {}
    if inbox_id is not None:
        document["defaults"] = {"inbox_id": inbox_id}
    document["contacts"] = list(contacts)
    text = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=_LARGE_WIDTH,
        indent=2,
    )
    header = (
        f"# yaml-language-server: $schema={schema}\n"
        f"{EXPORT_MARK}; `reconciler plan` shows what an edit would change.\n"
    )
    return header + _indented_contacts(text)


def _indented_contacts(text: str) -> str:
    """The contacts list indented under its key, a blank line between two contacts.

    libyaml writes a list in a mapping unindented (``- id: 1`` under ``contacts:``); every
    line of the list is at column 0 or deeper. Shifting all of them right by the same two
    columns keeps every value (block scalars' indentation is relative to their parent), and
    only a contact starts with ``- `` at column 0.
    """
    start = text.find("contacts:\n")  # only `defaults` comes before it
    if start < 0:
        return text  # contacts: []
    start += len("contacts:\n")
    shifted = [
        ("\n  " if line.startswith("- ") and index else "  ") + line
        if line and line != "..."  # a document end marker stays at column 0
        else line
        for index, line in enumerate(text[start:].split("\n"))
    ]
    return text[:start] + "\n".join(shifted)


def schema_reference(directory: Path) -> str:
    """The schema's path as seen from ``directory``, for the yaml-language-server comment."""
    return Path(os.path.relpath(Path.cwd() / SCHEMA_LOCATION, directory.resolve())).as_posix()


def split_file_name(contact: Mapping[str, JSON]) -> str:
    return f"{SPLIT_PREFIX}{contact['id']}.yaml"


# Writing --------------------------------------------------------------------------------


def check_destination(path: str | None, *, split: bool) -> None:
    """ConfigError, before any request, when ``path`` can't take this export."""
    if split and path is None:
        raise ConfigError("--split writes one file per contact: give the directory to write to")
    if path is None:
        return
    if split and Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{path} is a file; --split needs a directory to write to")
    if not split and Path(path).is_dir():
        raise ConfigError(f"{path} is a directory: give a file name, or use --split")


def write_export(
    export: Export, path: str, *, split: bool, force: bool = False
) -> tuple[list[str], list[str]]:
    """Write the files; the files written (changed or new) and notes about the others.

    ConfigError, with nothing written, when a file to write exists and export didn't write
    it (unless ``force``), or when another file in the tree already declares a contact
    being exported: validate would refuse the result.
    """
    if not split and is_stream(Path(path)):  # /dev/stdout, a FIFO: no tree to keep apart
        schema = schema_reference(Path.cwd())
        write_output(Path(path), render_file(export.contacts, export.inbox_id, schema).encode())
        return [path], []
    directory = Path(path) if split else Path(path).parent
    schema = schema_reference(directory)
    if split:
        planned = {
            directory / split_file_name(contact): render_file([contact], export.inbox_id, schema)
            for contact in export.contacts
        }
    else:
        planned = {Path(path): render_file(export.contacts, export.inbox_id, schema)}
    if not force:
        foreign = [file for file in planned if file.is_file() and not _written_by_export(file)]
        if foreign:
            raise ConfigError(
                f"{foreign[0]} exists and was not written by reconciler export: nothing was "
                "written; use --force to overwrite it, or export somewhere else"
            )
    others = [
        Path(file)
        for file in (yaml_files_under(str(directory)) if directory.is_dir() else [])
        if Path(file).resolve() not in {target.resolve() for target in planned}
    ]
    _refuse_duplicates(export, declared_keys(others))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReconcilerError(f"can't create the directory {directory}: {error.strerror}") from None
    written = [str(file) for file, text in planned.items() if _write_if_changed(file, text)]
    notes = []
    if split and others:
        shown = sorted(str(file.relative_to(directory)) for file in others)
        notes.append(
            f"{path} also holds files this export didn't write ({some(shown, 10)}); none "
            "declares an exported contact"
        )
    return written, notes


def _written_by_export(file: Path) -> bool:
    try:
        with file.open("rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    return EXPORT_MARK.encode() in head


def _refuse_duplicates(export: Export, declared: Mapping[tuple[str, JSON], Path]) -> None:
    clashes = [
        (key, declared[key])
        for contact in export.contacts
        for key in contact_keys(contact)
        if key in declared
    ]
    if clashes:
        (field, value), file = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        what = f"id {value}" if field == "id" else f"the contact's {field}"
        raise ConfigError(
            f"{file} already declares {what}{more}: the export would declare it twice, which "
            "validate refuses; nothing was written: export to another directory, or remove "
            "those contacts first"
        )


def _write_if_changed(target: Path, text: str) -> bool:
    """Write atomically, and only when the content differs (mtimes stay for make and git)."""
    data = text.encode("utf-8")
    try:
        if target.is_file():
            if target.read_bytes() == data:
                return False
            mode = target.stat().st_mode & 0o777
        else:
            mode = 0o666 & ~_umask()
    except OSError as error:
        raise ReconcilerError(f"can't write {target}: {error.strerror}") from None
    write_output(target, data, mode=mode)
    return True


def _umask() -> int:
    # Files are written through mkstemp (mode 0600); a new contact file gets the mode an
    # ordinary new file would, like the others in the repository.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
