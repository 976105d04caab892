"""The sandbox's contacts table: its columns and indexes, how an older sandbox database is
brought up to date, and the row a contact record is stored as."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager

from reconciler.sandbox.contacts import JSON, downcase, is_listed
from reconciler.sandbox.search import REBUILD, SEARCH_SCHEMA

SORT_COLUMNS: dict[str, str] = {
    "email": "email",
    "name": "name_key",
    "phone_number": "phone_number",
    "last_activity_at": "last_activity_at",
    "created_at": "created_at",
    "company": "company_key",
    "city": "city_key",
    "country": "country_key",
}
"""The list's ``sort`` keys and the column each sorts on."""

NULLS_FIRST_DESCENDING = frozenset({"email", "phone_number", "name"})
"""Sort keys whose descending order puts nulls first, as the real server's does."""

SCHEMA_VERSION = 4  # 4: the search index (sandbox/search.py)
_MICROSECONDS = "UPDATE contacts SET created_at = created_at * 1000000"
"""Version 3 keeps created_at to the microsecond, as PostgreSQL does (it was seconds)."""
_FOLDED_IDENTIFIER_INDEX = "CREATE INDEX contacts_identifier_folded ON contacts(lower(identifier))"
"""Chatwoot's filter matches identifiers ignoring case: without it, a scan a filter
(version 2 of the schema adds it)."""
_SCHEMA = (
    """CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    data TEXT NOT NULL,
    email TEXT,
    phone_number TEXT,
    identifier TEXT,
    name_key TEXT,
    company_key TEXT,
    city_key TEXT,
    country_key TEXT,
    last_activity_at INTEGER,
    created_at INTEGER NOT NULL,
    listed INTEGER NOT NULL
)""",
    "CREATE UNIQUE INDEX contacts_email ON contacts(email)",
    "CREATE UNIQUE INDEX contacts_identifier ON contacts(identifier)",
    "CREATE INDEX contacts_phone_number ON contacts(phone_number)",
    _FOLDED_IDENTIFIER_INDEX,
)
COLUMNS = (
    "id",
    "data",
    "email",
    "phone_number",
    "identifier",
    "name_key",
    "company_key",
    "city_key",
    "country_key",
    "last_activity_at",
    "created_at",
    "listed",
)


def create_schema(
    db: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
) -> None:
    """Make the tables of a new database, or bring an older sandbox's up to this version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    if version in (1, 2, 3):
        with transaction():
            if version == 1:
                db.execute(_FOLDED_IDENTIFIER_INDEX)
            if version < 3:
                db.execute(_MICROSECONDS)
            for statement in SEARCH_SCHEMA:
                db.execute(statement)
            db.execute(REBUILD)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return
    if version != 0 or db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise sqlite3.DatabaseError("not a sandbox database (or one of another version)")
    with transaction():
        for statement in (*_SCHEMA, *SEARCH_SCHEMA):
            db.execute(statement)
        for _, statement in sort_indexes():
            db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def sort_indexes() -> list[tuple[str, str]]:
    """Name and CREATE statement of the index behind each sort key and direction."""
    indexes = []
    for key, column in SORT_COLUMNS.items():
        for direction in ("ASC", "DESC"):
            name = f"contacts_sort_{key}_{direction.lower()}"
            nulls = "DESC" if direction == "DESC" and key in NULLS_FIRST_DESCENDING else "ASC"
            statement = (
                f"CREATE INDEX {name} ON contacts"
                f"(({column} IS NULL) {nulls}, {column} {direction}) WHERE listed"
            )
            indexes.append((name, statement))
    return indexes


def _folded(value: JSON) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return downcase(text)


def row_of(record: Mapping[str, JSON]) -> tuple[JSON, ...]:
    attributes = record["additional_attributes"]
    return (
        record["id"],
        json.dumps(record, ensure_ascii=False, separators=(",", ":")),
        record["email"],
        record["phone_number"],
        record["identifier"],
        _folded(record["name"]),
        _folded(attributes.get("company_name")),
        _folded(attributes.get("city")),
        _folded(attributes.get("country")),
        record["last_activity_at"],
        record.get("created_at_us", int(record["created_at"]) * 1_000_000),
        int(is_listed(record)),
    )
