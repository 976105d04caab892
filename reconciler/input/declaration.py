"""Contact files -> Declaration: find the files, read and check each (or take it from the
cache), and gather their contacts, checking what spans files (unique values)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import InputError
from reconciler.input.cache import DEFAULT_CACHE_DIR, FileCache, user_key
from reconciler.input.check import CONTACTS_SCHEMA, check_document
from reconciler.input.contactfile import ContactFile, FirstPlaces, contact_file
from reconciler.input.document import (
    MAX_FILE_BYTES,
    NotAFile,
    load_document,
    oversize_problem,
    read_regular_file,
)
from reconciler.input.kinds import FILE_KINDS, KindFile, file_kind
from reconciler.input.schemas import load_schema, schema_digest
from reconciler.model import (
    Declaration,
    DeclaredContact,
    Position,
    Problem,
    Scope,
    SourceFile,
)

YAML_SUFFIXES = (".yaml", ".yml")
SETTINGS_FILE_NAMES = frozenset(("reconciler.yaml", "reconciler.yml"))


def read_declaration(paths: Sequence[str], *, use_cache: bool = True) -> Declaration:
    """Read, check and gather every contact of every file; InputError lists every problem."""
    problems: list[Problem] = []
    files = _contact_files(paths, problems)
    key = user_key() if use_cache else None
    cache = (
        None if key is None else FileCache(DEFAULT_CACHE_DIR, schema_digest(CONTACTS_SCHEMA), key)
    )
    unique = unique_fields()
    first_places = FirstPlaces()
    contacts: list[DeclaredContact] = []
    sources: list[SourceFile] = []
    resources: dict[str, list[Any]] = {}
    for file in files:
        result = _read_file(file, cache, unique)
        if isinstance(result, ContactFile):
            problems.extend(result.declare(unique, first_places, contacts))
            sources.append(SourceFile(result.path, result.sha256))
        elif isinstance(result, KindFile):
            resources.setdefault(result.kind.name, []).extend(result.declared)
            sources.append(SourceFile(result.path, result.sha256))
        else:
            problems.extend(result)
    for kind in FILE_KINDS:
        problems += kind.repeated(resources.get(kind.name, ()))
    if problems:
        order = {file: index for index, file in enumerate(files)}
        problems.sort(
            key=lambda p: (order.get(p.position.file, -1), p.position.line, p.position.column)
        )
        raise InputError(problems)
    return Declaration(
        contacts=tuple(contacts),
        sources=tuple(sources),
        scope=_scope(paths, sources),
        resources={name: tuple(declared) for name, declared in resources.items()},
    )


def repository_root(start: Path | None = None) -> Path:
    """The root of the repository the current directory is in (the nearest directory
    holding ``.git``), else the current directory itself."""
    here = (start or Path.cwd()).absolute()
    return next((d for d in (here, *here.parents) if (d / ".git").exists()), here)


def _scope(paths: Sequence[str], sources: Sequence[SourceFile]) -> Scope:
    root = repository_root()

    def relative(path: str) -> str:
        text = Path(os.path.relpath(Path(path).absolute(), root)).as_posix()
        return "" if text == "." else text

    return Scope(
        files={source.path: relative(source.path) for source in sources},
        directories=frozenset(relative(path) for path in paths if Path(path).is_dir()),
    )


def _contact_files(paths: Sequence[str], problems: list[Problem]) -> list[str]:
    """The YAML files the paths name, each once: directories recursively, in sorted order."""
    files: list[str] = []
    seen: set[str] = set()
    for given in paths:
        if Path(given).is_dir():
            found = yaml_files_under(given)
            if not found:
                message = "holds no .yaml or .yml files; give the directory of the contact files"
                problems.append(Problem(Position(given, 1, 1), "$", message))
        elif Path(given).exists():
            found = [given]
        else:
            message = "no such file or directory; check the path"
            problems.append(Problem(Position(given, 1, 1), "$", message))
            continue
        for file in found:
            real = os.path.realpath(file)
            if real not in seen:
                seen.add(real)
                files.append(file)
    return files


def yaml_files_under(directory: str) -> list[str]:
    """The contact files below ``directory``, in sorted order."""
    # Hidden entries (.github, .reconciler, ...) and the settings file are never contacts.
    found: list[str] = []
    for parent, subdirectories, names in os.walk(directory):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        found.extend(
            str(Path(parent, name))
            for name in names
            if name.endswith(YAML_SUFFIXES)
            and not name.startswith(".")
            and name not in SETTINGS_FILE_NAMES
        )
    return sorted(found, key=lambda file: Path(file).parts)


def _read_file(
    file: str, cache: FileCache | None, unique_fields: Mapping[str, str]
) -> ContactFile | KindFile | list[Problem]:
    try:
        content = read_regular_file(file)
    except NotAFile as error:
        message = f"is {error}; contact files must be plain files: remove it or point it at one"
        return [Problem(Position(file, 1, 1), "$", message)]
    except OSError as error:
        message = f"can't be read ({error.strerror}); check that it exists and is readable"
        return [Problem(Position(file, 1, 1), "$", message)]
    if len(content) > MAX_FILE_BYTES:
        return [oversize_problem(file, Path(file).stat().st_size)]
    digest = hashlib.sha256(content).hexdigest()
    if cache is not None:
        cached = cache.get(digest, file)
        if cached is not None:
            return cached
    try:
        document = load_document(file, content)
    except InputError as error:
        result: ContactFile | list[Problem] = list(error.problems)
    else:
        kind = file_kind(document.data)
        if kind is not None:  # a few small files: never cached
            problems = check_document(document, kind.schema)
            return problems or KindFile(kind, file, document.sha256, kind.read(document))
        # Gathered now, so that each document (values and position tables) is freed before
        # the next file is read: a third of a large run's memory otherwise.
        result = check_document(document, CONTACTS_SCHEMA) or contact_file(document, unique_fields)
    if cache is not None:
        cache.put(digest, result)
    return result


def unique_fields() -> dict[str, str]:
    """Contact fields no two contacts may share, from the schema's ``x-unique``."""
    contact = load_schema(CONTACTS_SCHEMA)["properties"]["contacts"]["items"]
    return {
        name: subschema["x-unique"]
        for name, subschema in contact["properties"].items()
        if isinstance(subschema, dict) and "x-unique" in subschema
    }
