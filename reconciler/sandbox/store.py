"""The sandbox's SQLite store: one row a contact, its record as JSON plus indexed columns.

The columns serve uniqueness (email, identifier), search and sorting. One connection, WAL,
guarded by a lock so that a test thread may read while uvicorn's thread serves.

Paging is by page number, so each page of a sorted list would cost an OFFSET scan. Instead
the ordered ids of a listing, in groups of equal sort keys, are computed once and cached
until the next write (ours, or another process's): reading 100,000 contacts 15 at a time
stays linear.

Like the real server (PostgreSQL, ``ORDER BY key LIMIT 15 OFFSET n`` with no tie-breaker),
a listing orders contacts with equal sort keys arbitrarily, and differently for each page
request: a page that falls in a group of ties gets a random few of that group, so a full
walk over ties repeats some contacts and misses others. Without a sort, every contact ties.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path

from reconciler.sandbox.contacts import JSON, Record, downcase, new_record
from reconciler.sandbox.schema import (
    COLUMNS,
    NULLS_FIRST_DESCENDING,
    SORT_COLUMNS,
    create_schema,
    row_of,
    sort_indexes,
)
from reconciler.sandbox.search import narrowed
from reconciler.sandbox.ties import Listing

_SEARCHED_COLUMNS = ("name_key", "email", "phone_number", "company_key", "identifier")
"""Searched by ``q``: lower-cased copies first, then identifier (case-sensitive), last."""
_HAS_A_LABEL = (
    "EXISTS (SELECT 1 FROM json_each(contacts.data, '$.labels') WHERE lower(value) IN ({marks}))"
)
_FILTERED: dict[str, str] = {
    "email": "email = ?",  # stored folded as Ruby folds, and so is the value (not SQLite's ASCII)
    "identifier": "lower(identifier) = lower(?)",
    "name": "name_key = lower(?)",
    "phone_number": "phone_number = ?",
}
"""What an ``equal_to`` filter condition on each key compares, as Chatwoot's filter does."""
Conditions = tuple[tuple[tuple[str, bool, str], ...], ...]
"""A filter: groups joined by OR, each of (key, equal, value) joined by AND."""
_CACHED_LISTINGS = 16


class Store:
    """The contacts of the sandbox's one account."""

    def __init__(self, path: str | PathLike[str]) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._listings: OrderedDict[tuple[JSON, ...], Listing] = OrderedDict()
        self._chance = random.Random()  # not for security: the order of tied rows
        self._data_version = -1
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Search is case-sensitive on identifier: the other columns are stored lower-cased.
            self._db.execute("PRAGMA case_sensitive_like=ON")
            self._create_schema()
        except sqlite3.Error:
            self._db.close()
            raise

    def _create_schema(self) -> None:
        create_schema(self._db, self._transaction)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    @property
    def database(self) -> tuple[sqlite3.Connection, threading.RLock]:
        """The connection and its lock, for the other tables of the account (definitions)."""
        return self._db, self._lock

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Reading

    def get(self, contact_id: int) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM contacts WHERE id = ?", (contact_id,))
            found = row.fetchone()
        return None if found is None else _load(found[0])

    def all(self) -> list[Record]:
        """Every contact, listed or not, by id."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM contacts ORDER BY id").fetchall()
        return [_load(data) for (data,) in rows]

    def count(self) -> int:
        """How many contacts there are, listed or not."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM contacts").fetchone()[0])

    def taken(self, field: str, value: str, *, other_than: int | None = None) -> bool:
        """Whether a contact other than ``other_than`` has ``value`` in ``field``.

        Email compares case-insensitively (both are stored lower-cased), identifier and
        phone_number exactly.
        """
        if field not in {"email", "identifier", "phone_number"}:
            raise ValueError(f"no uniqueness on {field}")
        if field == "email":
            value = downcase(value)
        with self._lock:
            row = self._db.execute(
                f"SELECT 1 FROM contacts WHERE {field} = ? AND id IS NOT ? LIMIT 1",  # noqa: S608
                (value, other_than),
            ).fetchone()
        return row is not None

    def page(
        self,
        number: int,
        size: int,
        *,
        query: str | None = None,
        labels: Sequence[str] = (),
        sort: str | None = None,
        descending: bool = False,
        conditions: Conditions = (),
    ) -> tuple[int, list[Record]]:
        """The total of listed contacts that match, and page ``number`` (from 1) of them.

        ``query`` is a LIKE pattern's inside (``%`` and ``_`` are wildcards, ``\\``
        escapes): case-insensitive on name, email, phone_number and company name,
        case-sensitive on identifier. ``labels`` keeps contacts with any of them. Ties in
        ``sort`` are not broken: each request orders them anew (see the module's docstring).
        ``conditions`` is a filter's (keys in ``_FILTERED``).
        """
        with self._lock:
            listing = self._matching_ids(query, tuple(labels), sort, descending, conditions)
            total = len(listing.ids)
            if number < 1:
                return total, []
            chosen = listing.window((number - 1) * size, min(number * size, total), self._chance)
            if not chosen:
                return total, []
            marks = ",".join("?" * len(chosen))
            rows = self._db.execute(
                f"SELECT id, data FROM contacts WHERE id IN ({marks})",  # noqa: S608
                tuple(chosen),
            ).fetchall()
        by_id = dict(rows)
        return total, [_load(by_id[contact_id]) for contact_id in chosen]

    def _matching_ids(
        self,
        query: str | None,
        labels: tuple[str, ...],
        sort: str | None,
        descending: bool,
        filters: Conditions = (),
    ) -> Listing:
        # data_version moves when another connection (another process) has written.
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:
            self._listings.clear()
            self._data_version = version
        key = (query, labels, sort, descending, filters)
        if key in self._listings:
            self._listings.move_to_end(key)
            return self._listings[key]
        conditions = ["listed"]
        parameters: list[str] = []
        if query:
            narrow = narrowed(query, downcase(query))
            if narrow is not None:
                conditions.append(narrow[0])
                parameters.append(narrow[1])
            pattern = f"%{query}%"
            matches = [f"{column} LIKE ? ESCAPE '\\'" for column in _SEARCHED_COLUMNS]
            conditions.append(f"({' OR '.join(matches)})")
            parameters.extend([downcase(pattern)] * (len(_SEARCHED_COLUMNS) - 1) + [pattern])
        if labels:
            marks = ",".join(["lower(?)"] * len(labels))
            conditions.append(_HAS_A_LABEL.format(marks=marks))
            parameters.extend(labels)
        for group in filters:
            terms = []
            for name, equal, value in group:
                terms.append(_FILTERED[name] if equal else f"NOT ({_FILTERED[name]})")
                parameters.append(downcase(value) if name == "email" else value)
            conditions.append(f"({' AND '.join(terms)})")
        if len(filters) > 1:  # OR binds looser than AND, as in SQL
            grouped = conditions[-len(filters) :]
            conditions[-len(filters) :] = [f"({' OR '.join(grouped)})"]
        direction = "DESC" if descending else "ASC"
        if sort in SORT_COLUMNS:
            column = SORT_COLUMNS[sort]
            nulls = "DESC" if descending and sort in NULLS_FIRST_DESCENDING else "ASC"
            order = f"({column} IS NULL) {nulls}, {column} {direction}"
        else:
            column, order = "NULL", "id"  # no sort: every contact ties with every other
        where = " AND ".join(conditions)
        sql = f"SELECT id, {column} FROM contacts WHERE {where} ORDER BY {order}"  # noqa: S608
        ids: array[int] = array("q")
        group_ends: list[int] = []
        previous: object = object()
        for contact_id, value in self._db.execute(sql, parameters):
            if value != previous and ids:
                group_ends.append(len(ids))
            ids.append(contact_id)
            previous = value
        group_ends.append(len(ids))
        listing = Listing(ids, group_ends)
        self._listings[key] = listing
        if len(self._listings) > _CACHED_LISTINGS:
            self._listings.popitem(last=False)
        return listing

    # Writing

    def insert(self, contact: Mapping[str, JSON]) -> Record:
        """Store a new contact; its id (unless given, as a seed may) and created_at are set.

        Raises ValueError for a value of the wrong type, sqlite3.IntegrityError when the id,
        email or identifier is already there.
        """
        with self._lock, self._transaction():
            return self._insert(contact)

    def _insert(self, contact: Mapping[str, JSON]) -> Record:
        record = new_record(contact)
        if record["id"] is None:
            (last,) = self._db.execute("SELECT max(id) FROM contacts").fetchone()
            record["id"] = (last or 0) + 1
        self._db.execute(
            f"INSERT INTO contacts ({','.join(COLUMNS)})"  # noqa: S608
            f" VALUES ({','.join('?' * len(COLUMNS))})",
            row_of(record),
        )
        self._listings.clear()
        return record

    def seed_if_empty(self, contacts: Iterable[Mapping[str, JSON]]) -> bool:
        """Insert ``contacts`` (all or none) if the store has none; whether it did."""
        with self._lock:
            if self.count():
                return False
            with self._transaction():
                # Building the sort indexes after a bulk load is several times faster.
                for name, _ in sort_indexes():
                    self._db.execute(f"DROP INDEX {name}")
                for contact in contacts:
                    self._insert(contact)
                for _, statement in sort_indexes():
                    self._db.execute(statement)
            return True

    def delete(self, contact_id: int) -> bool:
        """Delete the contact; whether there was one."""
        with self._lock, self._transaction():
            cursor = self._db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
            self._listings.clear()
        return cursor.rowcount > 0

    def replace(self, record: Mapping[str, JSON]) -> Record:
        """Store ``record`` over the contact with its id. Raises sqlite3.IntegrityError."""
        stored = dict(record)
        row = row_of(stored)
        with self._lock, self._transaction():
            before = self._db.execute(
                f"SELECT {','.join(COLUMNS)} FROM contacts WHERE id = ?",  # noqa: S608
                (row[0],),
            ).fetchone()
            # Setting only the columns that changed spares the untouched indexes: a PATCH
            # of custom_attributes costs a tenth of rewriting every column.
            changed = [
                (column, value)
                for column, value, old in zip(COLUMNS, row, before, strict=True)
                if value != old
            ]
            if not changed:  # the same labels again, absent keys destroyed: a 200 as ever
                return stored
            assignments = ",".join(f"{column} = ?" for column, _ in changed)
            self._db.execute(
                f"UPDATE contacts SET {assignments} WHERE id = ?",  # noqa: S608
                (*(value for _, value in changed), row[0]),
            )
            self._listings.clear()
        return stored


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._db.execute("ROLLBACK" if error is not None else "COMMIT")


def _load(data: str) -> Record:
    record: Record = json.loads(data)
    return record
