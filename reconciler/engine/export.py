"""Live contacts -> contact files: what ``reconciler export`` writes, so a team can adopt
the contacts LiveDesk already has, and ``plan`` on the result prints ``No changes.``

Each contact is written with its ``id`` and every managed field it has: ``name``,
``blocked``, the attribute objects (keys sorted, values with their JSON types), and
``email``, ``phone_number`` and ``identifier`` when set. A blank one (null or ``""``, alike to
LiveDesk) is left out rather than written as null, which would make plan clear any value
someone adds later. Server-managed fields are never written. A live value that a contact
file can't declare (the schema wants text and LiveDesk holds a number) is left out with a
note: unmanaged, it stays as it is.

The YAML is PyYAML's safe dump (libyaml's emitter): a string YAML would read as something
else (``NO``, ``2024-01-01``, ``"1"``) is quoted, and text with line breaks YAML would fold
is written with escapes, so every value reads back as the same JSON type.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.concurrency import gather_bounded
from reconciler.engine.plan import ATTRIBUTE_OBJECTS, BLANK_IS_NULL, SCALAR_FIELDS
from reconciler.errors import ConfigError, InputError, NotFoundError, ReconcilerError
from reconciler.input.declaration import CONTACTS_SCHEMA, validator_for
from reconciler.input.document import load_document
from reconciler.model import JSON, Contact
from reconciler.targets.http.client import LiveDeskClient

FIELD_ORDER = (
    "identifier",
    "email",
    *(f for f in SCALAR_FIELDS if f not in ("identifier", "email")),
)
"""The scalars, written in this order after ``id``, as the example files have them."""
SEARCH_ADDED_KEYS = frozenset({"source_id"})
"""What search results add to ``additional_attributes`` on their own (not stored)."""

SCHEMA_LOCATION = Path("schemas") / "contacts.schema.json"
"""Where the schema comment points: ``schemas/`` in the directory export runs in."""
SPLIT_PREFIX = "contact-"
UNLISTED_NOTE = (
    "LiveDesk's listing leaves out contacts with no email, phone_number or identifier "
    "(they are reachable by id only), so export can't find them; declare any whose id you "
    "know as `- id: N` in the exported files and export again to fill them in"
)
_LARGE_WIDTH = 1_000_000  # one line per value: diffs stay one line per change


@dataclass(frozen=True, slots=True)
class Export:
    """What one export found: the contacts to write, sorted by id, and notes for stderr."""

    contacts: tuple[dict[str, JSON], ...]
    inbox_id: int | None  # the inbox most of them are in, for ``defaults``
    notes: tuple[str, ...]


# Reading --------------------------------------------------------------------------------


async def read_export(
    client: LiveDeskClient, *, query: str | None, known_ids: Collection[int] = ()
) -> Export:
    """The listed contacts (or the search's, with ``query``), plus ``known_ids`` by id.

    ``known_ids`` are ids the files already declare: contacts the listing can't return are
    read one by one, so exporting again over the same files keeps them.
    """
    notes: list[str] = []
    if query is not None:
        found = await client.search_contacts(query, include_contact_inboxes=True)
        live = [_without_search_keys(contact) for contact in found]
    else:
        live = await client.list_contacts(include_contact_inboxes=True)
        notes.append(UNLISTED_NOTE)
        listed = {int(contact["id"]) for contact in live}
        unlisted = sorted(set(known_ids) - listed)
        if unlisted:
            fetched = await gather_bounded(
                (_contact_or_none(client, contact_id) for contact_id in unlisted),
                limit=client.concurrency * 2,
            )
            gone = [cid for cid, contact in zip(unlisted, fetched, strict=True) if not contact]
            live.extend(contact for contact in fetched if contact is not None)
            if len(gone) < len(unlisted):
                notes.append(
                    f"read {len(unlisted) - len(gone)} contact(s) the listing can't return "
                    "by the ids the existing files declare"
                )
            if gone:
                notes.append(
                    f"LiveDesk has no contact with id {_some(gone)} any more, though the "
                    "existing files declare it: left out"
                )
    live.sort(key=lambda contact: int(contact["id"]))
    contacts = [exported_contact(contact) for contact in live]
    notes.extend(drop_undeclarable(contacts))
    return Export(tuple(contacts), default_inbox(live), tuple(notes))


async def _contact_or_none(client: LiveDeskClient, contact_id: int) -> Contact | None:
    try:
        return await client.get_contact(contact_id)
    except NotFoundError:
        return None


def _without_search_keys(contact: Contact) -> Contact:
    attributes = contact.get("additional_attributes")
    if not isinstance(attributes, Mapping) or not SEARCH_ADDED_KEYS & attributes.keys():
        return contact
    kept = {key: value for key, value in attributes.items() if key not in SEARCH_ADDED_KEYS}
    return {**contact, "additional_attributes": kept}


def _some(items: Sequence[object], limit: int = 20) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def known_ids(path: str | None) -> set[int]:
    """The ids that the contact files already at ``path`` declare.

    Read leniently: a file with problems (which export is about to overwrite) still gives
    the ids it holds; only one that isn't YAML at all gives none.
    """
    if path is None or not Path(path).exists():
        return set()
    root = Path(path)
    files = [root] if root.is_file() else sorted(root.rglob("*"))
    ids: set[int] = set()
    for file in files:
        relative = file.relative_to(root).parts if file != root else ()
        if file.suffix not in (".yaml", ".yml") or any(p.startswith(".") for p in relative):
            continue
        try:
            data = load_document(str(file), file.read_bytes()).data
        except (InputError, OSError):
            continue
        contacts = data.get("contacts") if isinstance(data, dict) else None
        for contact in contacts if isinstance(contacts, list) else ():
            if isinstance(contact, dict) and type(contact.get("id")) is int:
                ids.add(contact["id"])
    return ids


# Contacts -> declared contacts ----------------------------------------------------------


def exported_contact(contact: Contact) -> dict[str, JSON]:
    """The contact as a file declares it: id, then the managed fields it has."""
    declared: dict[str, JSON] = {"id": int(contact["id"])}
    for field in FIELD_ORDER:
        value = contact.get(field)
        if field in BLANK_IS_NULL and value in (None, ""):
            continue
        if field == "blocked" and not isinstance(value, bool):
            continue
        declared[field] = value
    for name in ATTRIBUTE_OBJECTS:
        attributes = contact.get(name)
        if isinstance(attributes, Mapping) and attributes:
            declared[name] = _sorted(attributes)
    return declared


def _sorted(value: JSON) -> JSON:
    """Mappings with their keys sorted, at every depth: the same data, the same text."""
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def drop_undeclarable(contacts: list[dict[str, JSON]]) -> list[str]:
    """Remove, in place, each value the contacts schema refuses; a note for each.

    A field goes whole; an attribute goes by its top-level key (a nested object such as
    ``social_profiles`` is managed whole, so half of one would plan a loss).
    """
    document = {"contacts": contacts}
    doomed: dict[tuple[int, str, str | None], str] = {}
    for error in validator_for(CONTACTS_SCHEMA).iter_errors(document):
        path = list(error.absolute_path)
        if len(path) < 3 or path[0] != "contacts":
            raise AssertionError(f"export made a file the schema refuses: {error.message}")
        index, field = int(path[1]), str(path[2])
        key = str(path[3]) if field in ATTRIBUTE_OBJECTS and len(path) > 3 else None
        at = ".".join(str(part) for part in path[2:])
        doomed.setdefault((index, field, key), f"{_describe(error.instance)} at {at}")
    notes = []
    for (index, field, key), what in sorted(doomed.items(), key=lambda item: item[0][0]):
        contact = contacts[index]
        if key is None:
            contact.pop(field, None)
        else:
            contact[field].pop(key, None)
            if not contact[field]:
                del contact[field]
        left_out = field if key is None else f"{field}.{key}"
        notes.append(
            f"contact {contact['id']}: {left_out} left out: LiveDesk holds {what}, which a "
            "contact file can't declare; it stays unmanaged"
        )
    return notes


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text the schema doesn't accept"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null"


def default_inbox(contacts: Iterable[Contact]) -> int | None:
    """The inbox most of the contacts are in (the lowest id on a tie), if any is known."""
    counts: Counter[int] = Counter()
    for contact in contacts:
        for contact_inbox in contact.get("contact_inboxes") or ():
            inbox = contact_inbox.get("inbox") if isinstance(contact_inbox, Mapping) else None
            inbox_id = inbox.get("id") if isinstance(inbox, Mapping) else None
            if type(inbox_id) is int and inbox_id >= 1:
                counts[inbox_id] += 1
    if not counts:
        return None
    return min(counts, key=lambda inbox_id: (-counts[inbox_id], inbox_id))


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
        "# Written by `reconciler export`; `reconciler plan` shows what an edit would change.\n"
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


def write_export(export: Export, path: str, *, split: bool) -> tuple[list[str], list[str]]:
    """Write the files; the files written (changed or new) and notes about the others."""
    directory = Path(path) if split else Path(path).parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReconcilerError(f"can't create the directory {directory}: {error.strerror}") from None
    if not split:
        text = render_file(export.contacts, export.inbox_id, schema_reference(directory))
        return ([path] if _write_if_changed(Path(path), text) else []), []
    schema = schema_reference(directory)
    written: list[str] = []
    names: set[str] = set()
    for contact in export.contacts:
        name = split_file_name(contact)
        names.add(name)
        if _write_if_changed(directory / name, render_file([contact], export.inbox_id, schema)):
            written.append(str(directory / name))
    others = sorted(
        str(file.relative_to(directory))
        for file in directory.rglob("*")
        if file.suffix in (".yaml", ".yml")
        and not file.name.startswith(".")
        and file.name not in names
        and file.is_file()
    )
    notes = []
    if others:
        notes.append(
            f"{path} also holds files this export didn't write ({_some(others, 10)}); a "
            "contact declared twice fails validate: delete those that are out of date"
        )
    return written, notes


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
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise ReconcilerError(f"can't write {target}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        Path(temporary).chmod(mode)
        Path(temporary).replace(target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ReconcilerError(f"can't write {target}: {error.strerror}") from None
    return True


def _umask() -> int:
    # Files are written through mkstemp (mode 0600); a new contact file gets the mode an
    # ordinary new file would, like the others in the repository.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
