"""Git as the state of a partial plan: what the contact files added, changed and dropped
between a commit and the working tree (``--changed-since REF``), offline.

A contact is changed when its file declares it otherwise than the file did at the commit
(its values, its id or inbox, or the file's path: a moved file re-marks its contacts), and
dropped when the files declared it at the commit and no file declares it now, by any of
its keys. Only ``git`` itself is run: ``rev-parse``, ``diff``, ``ls-files`` and one
``cat-file --batch`` for every old version at once.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.errors import ConfigError, InputError
from reconciler.input.check import CONTACTS_SCHEMA, check_document
from reconciler.input.contactfile import contact_file
from reconciler.input.declaration import SETTINGS_FILE_NAMES, YAML_SUFFIXES
from reconciler.input.document import MAX_FILE_BYTES, load_document
from reconciler.model import ContactKey, Declaration, DeclaredContact

GIT_TIMEOUT = 120.0  # seconds for one git command: a huge diff, a slow disk


@dataclass(frozen=True, slots=True)
class Since:
    """What the contact files changed since ``commit`` (``ref`` as given)."""

    ref: str
    commit: str
    changed: frozenset[int]  # indexes into the declaration's contacts: added or changed
    dropped: tuple[DeclaredContact, ...]  # as the files declared them at the commit
    files: frozenset[str]  # contact files added, changed, moved or deleted, from the root
    settings_changed: bool  # a reconciler.yaml changed: every contact may plan otherwise
    notes: tuple[str, ...] = ()


def changed_since(
    ref: str, declaration: Declaration, root: Path, unique_fields: Mapping[str, str]
) -> Since:
    """The contacts of ``declaration`` added or changed since the commit ``ref`` names in the
    git repository at ``root``, and those dropped since; ConfigError (one line) when git
    can't tell."""
    if ref.startswith("-") or not ref.strip():
        raise ConfigError(f"--changed-since {ref!r} is not a git revision: give a commit or ref")
    if not (root / ".git").exists():
        raise ConfigError(
            f"--changed-since needs a git repository, and {root} is in none: run it in the "
            "repository's checkout, or plan the whole tree"
        )
    commit = _commit(ref, root)
    entries = _diff(commit, root)
    scope = declaration.scope
    read = {} if scope is None else {rel: given for given, rel in scope.files.items()}

    def covered(path: str) -> bool:
        return scope is None or scope.covers(path)

    settings_changed = any(
        PurePosixPath(path).name in SETTINGS_FILE_NAMES
        for old, new in entries
        for path in (old, new)
        if path is not None
    )
    contact_entries = [
        (old, new)
        for old, new in entries
        if (new is not None and new in read) or (old is not None and _contact_path(old))
    ]
    olds = _old_versions(
        commit, root, [old for old, new in contact_entries if old is not None and covered(old)]
    )
    by_file: dict[str, list[int]] = {}
    for index, declared in enumerate(declaration.contacts):
        by_file.setdefault(declaration.file_of(declared) or "", []).append(index)
    index_of = _key_index(declaration.contacts)
    changed: set[int] = set()
    dropped: dict[ContactKey, DeclaredContact] = {}
    files: set[str] = set()
    notes: list[str] = []
    for old, new in contact_entries:
        now = by_file.get(new, []) if new is not None and new in read else []
        before: list[DeclaredContact] | None = []
        if old is not None and covered(old):
            before = _contacts_at(old, olds.get(old), unique_fields)
            if before is None:
                notes.append(
                    f"{old} as of {ref} isn't a valid contact file: the contacts it dropped "
                    "since are unknown to this plan (a plan of the whole tree removes them)"
                )
        if not now and not before:
            continue
        files.update(path for path in (old, new) if path is not None)
        kept = {declaration.contacts[index].key: index for index in now}
        earlier = {contact.key: contact for contact in before or ()}
        for key, index in kept.items():
            if old != new or not _same(earlier.get(key), declaration.contacts[index]):
                changed.add(index)
        for key, contact in earlier.items():
            if key in kept:
                continue
            declared_now = _declared_by(contact, index_of)
            if declared_now is None:
                dropped.setdefault(key, contact)
            elif new is not None and declaration.file_of(declaration.contacts[declared_now]) != new:
                changed.add(declared_now)  # moved to another file: re-marked there
    return Since(
        ref=ref,
        commit=commit,
        changed=frozenset(changed),
        dropped=tuple(dropped.values()),
        files=frozenset(files),
        settings_changed=settings_changed,
        notes=tuple(notes),
    )


def lookup_keys(contact: DeclaredContact) -> tuple[ContactKey, ...]:
    """Every value that finds ``contact``: its id, and each unique value it declares."""
    keys = contact.unique_keys()
    return keys if contact.id is None else (ContactKey("id", contact.id), *keys)


def _key_index(contacts: Sequence[DeclaredContact]) -> dict[ContactKey, int]:
    index: dict[ContactKey, int] = {}
    for position, contact in enumerate(contacts):
        for key in lookup_keys(contact):
            index.setdefault(key, position)
    return index


def _declared_by(contact: DeclaredContact, index_of: Mapping[ContactKey, int]) -> int | None:
    """The contact the files declare now that one of ``contact``'s values finds, if any."""
    return next((index_of[key] for key in lookup_keys(contact) if key in index_of), None)


def _same(before: DeclaredContact | None, now: DeclaredContact) -> bool:
    return (
        before is not None
        and before.id == now.id
        and before.inbox_id == now.inbox_id
        and before.fields == now.fields
    )


def _contact_path(path: str) -> bool:
    name = PurePosixPath(path).name
    parts = PurePosixPath(path).parts
    return (
        name.endswith(YAML_SUFFIXES)
        and name not in SETTINGS_FILE_NAMES
        and not any(part.startswith(".") for part in parts)
    )


def _contacts_at(
    path: str, content: bytes | None, unique_fields: Mapping[str, str]
) -> list[DeclaredContact] | None:
    """The contacts ``content`` (a file as of the commit) declares; None if it is no valid
    contact file."""
    if content is None:
        return None
    try:
        document = load_document(path, content)
    except InputError:
        return None
    if check_document(document, CONTACTS_SCHEMA):
        return None
    return list(contact_file(document, unique_fields).contacts)


# git ------------------------------------------------------------------------------------


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise ConfigError("--changed-since needs git, and there is no `git` on PATH: install it")
    try:
        # Our own arguments; the one the user gives (a revision) can't start with "-".
        return subprocess.run(  # noqa: S603
            [git, "-c", "core.quotepath=off", *args],
            cwd=root,
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"--changed-since: `git {args[0]}` took over {GIT_TIMEOUT:.0f} s; plan the whole "
            "tree instead"
        ) from None


def _commit(ref: str, root: Path) -> str:
    found = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode == 0:
        return found.stdout.decode().strip()
    shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
    why = "this checkout is shallow and doesn't have it" if shallow else "git doesn't know it here"
    raise ConfigError(
        f"--changed-since {ref}: {why}; fetch it first (git fetch --depth=1 origin {ref}), "
        "or check out with more history (actions/checkout: fetch-depth: 0)"
    )


def _diff(commit: str, root: Path) -> list[tuple[str | None, str | None]]:
    """(path at the commit, path now) of each file changed since the commit, untracked
    files included; None where the file wasn't there (added) or isn't now (deleted)."""
    diff = _git(root, "diff", "--name-status", "-z", "-M", "--no-ext-diff", commit, "--")
    if diff.returncode != 0:
        message = diff.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"--changed-since: git diff failed: {message[-1] if message else ''}")
    fields = diff.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    entries: list[tuple[str | None, str | None]] = []
    position = 0
    while position < len(fields) and fields[position]:
        status = fields[position][0]
        if status in "RC":
            old, new = fields[position + 1], fields[position + 2]
            entries.append((old if status == "R" else None, new))
            position += 3
            continue
        path = fields[position + 1]
        entries.append((None if status == "A" else path, None if status == "D" else path))
        position += 2
    untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    entries += [
        (None, path)
        for path in untracked.stdout.decode("utf-8", errors="surrogateescape").split("\0")
        if path
    ]
    return entries


def _old_versions(commit: str, root: Path, paths: Iterable[str]) -> dict[str, bytes | None]:
    """Each path's content at the commit (None where it is too big to be a contact file),
    read by one ``git cat-file --batch``."""
    wanted = [path for path in dict.fromkeys(paths) if "\n" not in path]
    if not wanted:
        return {}
    request = "".join(f"{commit}:{path}\n" for path in wanted).encode("utf-8", "surrogateescape")
    batch = _git(root, "cat-file", "--batch", stdin=request)
    output = batch.stdout
    found: dict[str, bytes | None] = {}
    offset = 0
    for path in wanted:
        end = output.index(b"\n", offset)
        header = output[offset:end].split()
        offset = end + 1
        if len(header) != 3 or header[1] != b"blob":
            found[path] = None  # missing: no file there at the commit
            continue
        size = int(header[2])
        found[path] = output[offset : offset + size] if size <= MAX_FILE_BYTES else None
        offset += size + 1
    return found
