"""Declaration -> the part of it a partial plan covers: ``--target`` and ``--exclude``
selectors, and ``--changed-since`` (reconciler.input.gitbase), offline.

A selector is ``id:N``, ``identifier:X``, ``email:Y`` or ``phone:+N`` (compared as the
desk's unique index compares them), ``label:L`` (the contacts declaring that label, in any
case), or a file, directory or glob among the files read. Targets add up; excludes take
away. A selector that matches nothing, or that is none of these, is an error naming it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.fields import fold_case, indexed
from reconciler.input.declaration import repository_root, unique_fields
from reconciler.input.gitbase import changed_since, lookup_keys
from reconciler.model import ContactKey, Declaration, DeclaredContact, Selection

SELECTOR_FIELDS = {
    "id": "id",
    "identifier": "identifier",
    "email": "email",
    "phone": "phone_number",
    "label": "labels",
}
FORMS = "id:N, identifier:X, email:Y, phone:+N, label:L, or a file, directory or glob"

Matcher = Callable[[DeclaredContact], bool]


@dataclass(frozen=True, slots=True)
class Selectors:
    """What the command line asks a partial plan for."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    changed_since: str | None = None

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes or self.changed_since is not None)


def select(declaration: Declaration, selectors: Selectors) -> Declaration:
    """``declaration`` narrowed to what the selectors choose; itself when none is given.

    ConfigError (one line) names every selector that is malformed or matches nothing.
    """
    if not selectors:
        return declaration
    targets, excludes, since = selectors.targets, selectors.excludes, selectors.changed_since
    problems: list[str] = []
    chosen = [_matcher(text, "--target", declaration, problems) for text in targets]
    left_out = [_matcher(text, "--exclude", declaration, problems) for text in excludes]
    if problems:
        raise ConfigError("; ".join(problems))
    contacts = declaration.contacts
    picked = [
        index
        for index, declared in enumerate(contacts)
        if (not chosen or any(match(declared) for match in chosen))
        and not any(match(declared) for match in left_out)
    ]
    notes: tuple[str, ...] = ()
    dropped: tuple[ContactKey, ...] = ()
    commit = None
    files: frozenset[str] = frozenset()
    dropped_count = 0
    if since is not None:
        found = changed_since(since, declaration, repository_root(), unique_fields())
        commit, files, notes = found.commit, found.files, found.notes
        if found.settings_changed:
            notes += (
                f"reconciler.yaml changed since {since}: every contact may plan otherwise, so "
                "every one is planned",
            )
        else:
            picked = [index for index in picked if index in found.changed]
        if not targets and not excludes:
            dropped_count = len(found.dropped)
            dropped = tuple(
                dict.fromkeys(key for contact in found.dropped for key in lookup_keys(contact))
            )
    kept = frozenset(picked)
    selection = Selection(
        targets=tuple(targets),
        excludes=tuple(excludes),
        changed_since=since,
        commit=commit,
        declared=len(contacts),
        keys=tuple(contacts[index].key for index in picked),
        dropped=dropped_count,
        files=files,
    )
    elsewhere = frozenset(
        key
        for index, declared in enumerate(contacts)
        if dropped and index not in kept
        for key in lookup_keys(declared)
    )
    return replace(
        declaration,
        contacts=tuple(contacts[index] for index in picked),
        selection=selection,
        dropped=dropped,
        elsewhere=elsewhere,
        notes=(*declaration.notes, *notes),
    )


def _matcher(text: str, option: str, declaration: Declaration, problems: list[str]) -> Matcher:
    """What ``text`` selects; a problem (and a matcher of nothing) when it can't be used."""
    kind, colon, value = text.partition(":")
    if colon and kind in SELECTOR_FIELDS:
        match = _key_matcher(SELECTOR_FIELDS[kind], value)
        if match is None:
            problems.append(f"{option} {text}: {_bad_value(kind)}")
            return _nothing
    else:
        match = _path_matcher(text, declaration)
        if match is None:
            if colon and not Path(text).exists():
                problems.append(f"{option} {text}: {kind}: is no selector; give {FORMS}")
            else:
                problems.append(
                    f"{option} {text}: matches none of the files this plan reads; give a file, "
                    "directory or glob under the paths planned"
                )
            return _nothing
    if not any(match(declared) for declared in declaration.contacts):
        problems.append(
            f"{option} {text}: no contact the files declare matches it; check the value "
            "(keys compare as the desk compares them; id: matches a declared `id`)"
        )
    return match


def _nothing(_declared: DeclaredContact) -> bool:
    return False


def _bad_value(kind: str) -> str:
    if kind == "id":
        return "an id is a positive whole number (id:42)"
    if kind == "phone":
        return "a phone number is + and its digits, as the files write it (phone:+15550100)"
    return f"give a value after {kind}:"


def _key_matcher(field: str, value: str) -> Matcher | None:
    if not value:
        return None
    if field == "id":
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            return None
        number = int(value)
        return lambda declared: declared.id == number
    if field == "labels":
        label = fold_case(value)
        return lambda declared: label in _labels(declared)
    if field == "phone_number" and not (value.startswith("+") and value[1:].isdigit()):
        return None
    key = ContactKey(field, indexed(field, value))  # type: ignore[arg-type]
    return lambda declared: key in lookup_keys(declared)


def _labels(declared: DeclaredContact) -> frozenset[str]:
    labels = declared.fields.get("labels")
    if not isinstance(labels, list):
        return frozenset()
    return frozenset(fold_case(label) for label in labels if isinstance(label, str))


def _path_matcher(text: str, declaration: Declaration) -> Matcher | None:
    """The contacts of the files read that ``text`` names (a file, a directory or a glob);
    None if it names none of them."""
    # glob.glob, not Path.glob: the pattern may be absolute, or climb with "..".
    named = [text] if Path(text).exists() else glob.glob(text, recursive=True)  # noqa: PTH207
    real = [os.path.realpath(path) for path in named]
    if not real:
        return None
    files = frozenset(path for path in real if not Path(path).is_dir())
    directories = tuple(path.rstrip(os.sep) + os.sep for path in real if Path(path).is_dir())
    read = {declared.source.file for declared in declaration.contacts}
    if declaration.scope is not None:
        read.update(declaration.scope.files)
    chosen = frozenset(
        file
        for file in read
        if (path := os.path.realpath(file)) in files or path.startswith(directories)
    )
    if not chosen:
        return None
    return lambda declared: declared.source.file in chosen
