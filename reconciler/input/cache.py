"""A content-addressed cache of read and checked contact files, under .reconciler/cache/.

An entry is keyed by the sha256 of the file's bytes, the digest of the schema and the
version of the code that made it, so any change to one of them misses. It holds what
read_declaration needs: the contacts of a valid file as rows (reconciler.input.contactfile), not
its values and position tables, which cost more to read back than the rows themselves; or
the problems of an invalid one (without the file name: two files with the same bytes share
an entry).

Entries are marshal data (fast, and unlike pickle it can't run code when read) behind a
header and an HMAC of the payload under a key of this user's, kept outside the working tree
(``$XDG_CACHE_HOME/reconciler/cache.key``, made on first use, readable by its owner only).
An entry that doesn't carry the right HMAC is ignored, never trusted: a truncated or
altered one, one forged or committed to the repository, and one of this user's own copied
to another entry's name (the HMAC covers the name too), can only make a file slower to
read, never make it pass. Without a key (an unwritable home), nothing is cached.
Writes go to a temporary file renamed into place, so a reader never sees half an entry.
Failing to read or write the cache never fails a command.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import marshal
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from reconciler import __version__
from reconciler.input.contactfile import ContactFile
from reconciler.model import Position, Problem
from reconciler.statedir import ensure_state_dir

DEFAULT_CACHE_DIR: Final = Path(".reconciler") / "cache"
CACHE_FORMAT: Final = 5
_MAGIC: Final = b"reconciler-cache\n"
_DIGEST_SIZE: Final = 32
_KEY_SIZE: Final = 32
UNUSED_FOR: Final = 30 * 86400
"""Seconds after which an entry nobody read is deleted (files and schemas move on)."""
_DAY: Final = 86400

log = logging.getLogger(__name__)


@functools.cache
def code_version() -> str:
    """Changes with the code that shapes entries, so an upgrade never reads stale ones."""
    digest = hashlib.sha256(f"{__version__}:{CACHE_FORMAT}:{sys.version}".encode())
    # Every module of reconciler.input shapes what an entry holds.
    for source in sorted(Path(__file__).resolve().parent.glob("*.py")):
        try:
            digest.update(source.read_bytes())
        except OSError:  # pragma: no cover - an install without sources: the version decides
            digest.update(source.name.encode())
    return digest.hexdigest()


def _key_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler" / "cache.key"


@functools.cache
def user_key() -> bytes | None:
    """This user's secret key for cache entries, made on first use; None if it can't be."""
    path = _key_path()
    try:
        key = path.read_bytes()
        if len(key) == _KEY_SIZE:
            return key
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(secrets.token_bytes(_KEY_SIZE))
        Path(temporary).replace(path)  # mkstemp's file is its owner's alone (0600)
        key = path.read_bytes()
    except OSError as error:
        log.debug("no cache key, so no cache: %s", error)
        return None
    return key if len(key) == _KEY_SIZE else None


class FileCache:
    """Checked contact files by content, for one schema, sealed with this user's key."""

    def __init__(self, directory: Path, schema_digest: str, key: bytes) -> None:
        self.directory = directory
        self.schema_digest = schema_digest
        self._key = key

    def entry_path(self, content_sha256: str) -> Path:
        key = f"{content_sha256}:{self.schema_digest}:{code_version()}"
        return self.directory / hashlib.sha256(key.encode()).hexdigest()

    def get(self, content_sha256: str, file: str) -> ContactFile | list[Problem] | None:
        """The cached result for these bytes, named after ``file``; None when there is none."""
        path = self.entry_path(content_sha256)
        try:
            raw = path.read_bytes()
            if time.time() - path.stat().st_mtime > _DAY:
                os.utime(path)  # used: its age counts from now (at most once a day)
        except OSError:
            return None
        header = len(_MAGIC) + _DIGEST_SIZE
        payload = raw[header:]
        seal = raw[len(_MAGIC) : header]
        expected = self._seal(path.name, payload)
        if raw[: len(_MAGIC)] != _MAGIC or not hmac.compare_digest(seal, expected):
            log.debug("ignoring a damaged cache entry for %s", file)
            return None
        try:
            entry = marshal.loads(payload)  # noqa: S302 - our own entries, digest-checked
            return _decode(entry, file, content_sha256)
        except (ValueError, TypeError, EOFError, KeyError):
            log.debug("ignoring an unreadable cache entry for %s", file)
            return None

    def put(self, content_sha256: str, result: ContactFile | list[Problem]) -> None:
        payload = marshal.dumps(_encode(result), 4)
        target = self.entry_path(content_sha256)
        try:
            ensure_state_dir(self.directory.parent)
            self.directory.mkdir(parents=True, exist_ok=True)
            self.prune()
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(_MAGIC + self._seal(target.name, payload) + payload)
                Path(temporary).replace(target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            log.debug("not caching %s: %s", target, error)

    def prune(self, *, now: float | None = None) -> int:
        """Delete the entries unused for ``UNUSED_FOR``, at most once a day; how many."""
        now = time.time() if now is None else now
        stamp = self.directory / ".pruned"
        try:
            if stamp.exists() and now - stamp.stat().st_mtime < _DAY:
                return 0
            stamp.touch()
            os.utime(stamp, (now, now))
            removed = 0
            for entry in self.directory.iterdir():
                if not entry.name.startswith(".") and now - entry.stat().st_mtime > UNUSED_FOR:
                    entry.unlink(missing_ok=True)
                    removed += 1
        except OSError as error:
            log.debug("cache not pruned: %s", error)
            return 0
        return removed

    def _seal(self, entry: str, payload: bytes) -> bytes:
        """The HMAC of the payload and the entry's name (its content digest, schema and
        code): an entry copied to another's name is another file's, and is ignored."""
        return hmac.digest(self._key, entry.encode() + b"\0" + payload, "sha256")


def _encode(result: ContactFile | list[Problem]) -> tuple[Any, ...]:
    if isinstance(result, ContactFile):
        return ("contacts", result.to_rows(), result.unique_values)
    problems = [(p.position.line, p.position.column, p.path, p.message) for p in result]
    return ("problems", problems)


def _decode(entry: Any, file: str, content_sha256: str) -> ContactFile | list[Problem]:
    if not isinstance(entry, tuple) or not entry:
        raise ValueError("not a cache entry")
    if entry[0] == "contacts" and len(entry) == 3:
        _, rows, unique_values = entry
        if not (isinstance(rows, list) and isinstance(unique_values, tuple)):
            raise TypeError("contacts are not rows")
        return ContactFile.from_rows(file, content_sha256, rows, unique_values)
    if entry[0] == "problems" and len(entry) == 2:
        return [
            Problem(Position(file, int(line), int(column)), str(path), str(message))
            for line, column, path, message in entry[1]
        ]
    raise ValueError("not a cache entry")
