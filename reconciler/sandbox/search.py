"""The contacts' search index: trigrams of the searched columns, as the real server's
pg_trgm GIN index on name, email, phone number and identifier (Chatwoot's db/schema.rb),
so that a substring search reads its few candidate rows, not the whole account.

The index only narrows: the search's own LIKE conditions still decide each row. Where it
can't narrow (a query under three characters, or holding LIKE's wildcards or escape), the
search scans, as PostgreSQL would.
"""

from __future__ import annotations

SEARCH_SCHEMA = (
    # Case-sensitive: identifier is searched as it is, the other columns are lower-cased.
    """CREATE VIRTUAL TABLE IF NOT EXISTS contacts_search USING fts5(
        name_key, email, phone_number, company_key, identifier,
        content='contacts', content_rowid='id', tokenize='trigram case_sensitive 1'
    )""",
    """CREATE TRIGGER IF NOT EXISTS contacts_search_insert AFTER INSERT ON contacts BEGIN
        INSERT INTO contacts_search(rowid, name_key, email, phone_number, company_key, identifier)
        VALUES (new.id, new.name_key, new.email, new.phone_number, new.company_key,
            new.identifier);
    END""",
    """CREATE TRIGGER IF NOT EXISTS contacts_search_delete AFTER DELETE ON contacts BEGIN
        INSERT INTO contacts_search(
            contacts_search, rowid, name_key, email, phone_number, company_key, identifier
        ) VALUES ('delete', old.id, old.name_key, old.email, old.phone_number,
            old.company_key, old.identifier);
    END""",
    # Only when a searched column changes: a PATCH of custom attributes leaves it be.
    """CREATE TRIGGER IF NOT EXISTS contacts_search_update
    AFTER UPDATE OF name_key, email, phone_number, company_key, identifier ON contacts BEGIN
        INSERT INTO contacts_search(
            contacts_search, rowid, name_key, email, phone_number, company_key, identifier
        ) VALUES ('delete', old.id, old.name_key, old.email, old.phone_number,
            old.company_key, old.identifier);
        INSERT INTO contacts_search(rowid, name_key, email, phone_number, company_key, identifier)
        VALUES (new.id, new.name_key, new.email, new.phone_number, new.company_key,
            new.identifier);
    END""",
)
REBUILD = "INSERT INTO contacts_search(contacts_search) VALUES ('rebuild')"
"""Index the contacts a database held before it had the index."""

_NOT_NARROWED = ("%", "_", "\\")


def narrowed(query: str, folded: str) -> tuple[str, str] | None:
    """A condition on ``contacts.id`` keeping the rows whose lower-cased columns hold
    ``folded`` or whose identifier holds ``query``, and its parameter; None where the
    index can't say (the search then reads every row)."""
    if min(len(query), len(folded)) < 3 or any(c in query for c in _NOT_NARROWED):
        return None
    # Any column may hold either phrase: the wider net costs a false candidate at most,
    # and a match with no column filter reads half as much of the index.
    match = _phrase(folded) if folded == query else f"{_phrase(folded)} OR {_phrase(query)}"
    return "id IN (SELECT rowid FROM contacts_search WHERE contacts_search MATCH ?)", match


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
