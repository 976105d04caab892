"""The sandbox's SQLite store: persistence, seeding, indexes."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sandbox_testing import PATH, api_client, create, fetch

from reconciler.errors import ConfigError
from reconciler.sandbox.app import create_app
from reconciler.sandbox.schema import SORT_COLUMNS
from reconciler.sandbox.server import SandboxOptions
from reconciler.sandbox.store import Store


@pytest.mark.anyio
async def test_state_survives_a_restart(sandbox_options: SandboxOptions) -> None:
    first = create_app(sandbox_options)
    try:
        async with api_client(httpx.ASGITransport(app=first)) as client:
            contact = await create(client, email="kept@example.com", name="Kept")
            await client.patch(f"{PATH}/{contact['id']}", json={"custom_attributes": {"n": 1}})
            before = await fetch(client, contact["id"])
    finally:
        first.state.store.close()
    second = create_app(sandbox_options)
    try:
        async with api_client(httpx.ASGITransport(app=second)) as client:
            assert await fetch(client, contact["id"]) == before
            assert before["custom_attributes"] == {"n": 1}
            again = await create(client, email="next@example.com")
            assert again["id"] == contact["id"] + 1
    finally:
        second.state.store.close()


def test_the_database_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "sandbox.sqlite"
    store = Store(path)
    try:
        store.insert({"email": "a@example.com"})
    finally:
        store.close()
    assert path.is_file()


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    Store(tmp_path / "s.sqlite").close()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_a_sandbox_database_is_a_config_error(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE something (x)")
    with pytest.raises(ConfigError, match="not a sandbox database"):
        create_app(SandboxOptions(db=str(other)))
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is no database" * 100)
    with pytest.raises(ConfigError, match=r"sandbox database .*junk\.sqlite"):
        create_app(SandboxOptions(db=str(junk)))


def test_insert_get_all_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        second = store.insert({"id": 7, "email": "B@example.com", "labels": ["x"]})
        first = store.insert({"id": 3, "name": "no keys"})
        third = store.insert({"email": "c@example.com"})
        assert (first["id"], second["id"], third["id"]) == (3, 7, 8)
        assert second["email"] == "b@example.com"
        assert isinstance(third["created_at"], int)
        assert store.get(7) == second
        assert store.get(99) is None
        assert [record["id"] for record in store.all()] == [3, 7, 8]
        assert store.count() == 3
        with pytest.raises(sqlite3.IntegrityError):
            store.insert({"id": 9, "email": "b@EXAMPLE.com"})
        with pytest.raises(ValueError, match="email must be str"):
            store.insert({"email": 5})
        assert store.count() == 3
    finally:
        store.close()


def test_seed_if_empty_loads_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        with pytest.raises(sqlite3.IntegrityError):
            store.seed_if_empty([{"email": "a@example.com"}, {"email": "A@example.com"}])
        assert store.count() == 0
        assert store.seed_if_empty([{"email": "a@example.com"}, {"identifier": "b"}]) is True
        assert store.seed_if_empty([{"email": "c@example.com"}]) is False
        assert [record["email"] for record in store.all()] == ["a@example.com", None]
        assert store.page(1, 15, sort="email")[0] == 2  # sort indexes rebuilt after the load
    finally:
        store.close()


def _write_seed(tmp_path: Path, contacts: object) -> str:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(contacts), encoding="utf-8")
    return str(path)


@pytest.mark.anyio
async def test_seed_file_is_loaded_into_an_empty_database_only(
    tmp_path: Path, sandbox_options: SandboxOptions
) -> None:
    seed = _write_seed(
        tmp_path,
        [
            {
                "id": 318763,
                "name": "support",
                "email": "Support@Jiguang.cn",
                "identifier": "2222",
                "last_activity_at": 1765441908,
                "created_at": 1765441895,
                "labels": ["vip"],
                "custom_attributes": {"vip_level": "platinum"},
            },
            {"name": "second", "phone_number": "+6590000000"},
        ],
    )
    options = replace(sandbox_options, seed=seed)
    app = create_app(options)
    try:
        assert app.state.seeded is True
        async with api_client(httpx.ASGITransport(app=app)) as client:
            contact = await fetch(client, 318763)
            assert contact["email"] == "support@jiguang.cn"
            assert contact["last_activity_at"] == 1765441908
            assert contact["custom_attributes"] == {"vip_level": "platinum"}
            listed = (await client.get(PATH, params={"labels": "vip"})).json()
            assert [item["id"] for item in listed["payload"]] == [318763]
            created = await create(client, email="new@example.com")
            assert created["id"] == 318765
    finally:
        app.state.store.close()
    again = create_app(options)
    try:
        assert again.state.seeded is False
        assert again.state.store.count() == 3
    finally:
        again.state.store.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        ("{not json", "not valid JSON"),
        ('{"email": "a@example.com"}', "must be a JSON array of contact objects"),
        ('[{"email": 5}]', "email must be str"),
        ('[{"email": "a@example.com"}, {"email": "A@example.com"}]', "share an id, an email"),
    ],
)
def test_a_bad_seed_file_is_one_config_error(
    tmp_path: Path, sandbox_options: SandboxOptions, content: str | None, message: str
) -> None:
    path = tmp_path / "seed.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        create_app(replace(sandbox_options, seed=str(path)))
    store = Store(sandbox_options.db)
    try:
        assert store.count() == 0
    finally:
        store.close()


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", sorted(SORT_COLUMNS))
def test_every_sort_reads_an_index(tmp_path: Path, sort: str, descending: bool) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        store.page(1, 15, sort=sort, descending=descending)
        store._db.set_trace_callback(None)
        (ordered,) = [statement for statement in statements if "ORDER BY" in statement]
        plan = store._db.execute(f"EXPLAIN QUERY PLAN {ordered}").fetchall()
        details = " ".join(row[3] for row in plan)
        # Where descending puts nulls first, the two indexes mirror each other: either serves.
        assert f"USING INDEX contacts_sort_{sort}_" in details
        assert "TEMP B-TREE" not in details
    finally:
        store.close()


def test_paging_a_large_listing_reads_the_order_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        store.seed_if_empty({"email": f"p{n:05d}@example.com"} for n in range(3000))
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        seen = []
        for page in range(1, 202):
            total, records = store.page(page, 15, sort="email", descending=True)
            assert total == 3000
            seen += [record["email"] for record in records]
        assert seen == [f"p{n:05d}@example.com" for n in reversed(range(3000))]
        assert sum("ORDER BY" in statement for statement in statements) == 1
    finally:
        store.close()


def test_a_listing_sees_writes_from_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store, other = Store(path), Store(path)
    try:
        store.insert({"email": "a@example.com"})
        assert store.page(1, 15, sort="email")[0] == 1
        other.insert({"email": "b@example.com"})
        total, records = store.page(1, 15, sort="email")
        assert total == 2
        assert [record["email"] for record in records] == ["a@example.com", "b@example.com"]
    finally:
        store.close()
        other.close()


def test_a_database_of_seconds_is_kept_to_the_microsecond_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = Store(path)
    first = store.insert({"email": "a@example.com", "created_at": 1_700_000_001})
    store.close()
    old = sqlite3.connect(path)  # as version 2 kept it: created_at in seconds
    old.execute("UPDATE contacts SET created_at = created_at / 1000000")
    old.execute("PRAGMA user_version=2")
    old.commit()
    old.close()
    store = Store(path)
    second = store.insert({"email": "b@example.com", "created_at": 1_700_000_000})
    order = [int(row["id"]) for row in store.page(1, 15, sort="created_at")[1]]
    store.close()
    assert order == [second["id"], first["id"]]  # one unit: the older first


def test_search_keeps_to_what_each_contact_holds_now_through_its_index(tmp_path: Path) -> None:
    path = tmp_path / "search.sqlite"
    store = Store(path)
    ann = store.insert({"email": "ann@example.com", "identifier": "Crm-ANN", "name": "Ann"})
    bob = store.insert({"email": "bob@example.com", "name": "Bob"})
    store.close()
    old = sqlite3.connect(path)  # as version 3 kept it: no search index
    old.execute("DROP TABLE contacts_search")
    for name in ("insert", "delete", "update"):
        old.execute(f"DROP TRIGGER contacts_search_{name}")
    old.execute("PRAGMA user_version=3")
    old.commit()
    old.close()
    store = Store(path)  # the index is built from what the database holds

    def found(query: str) -> list[int]:
        return [int(row["id"]) for row in store.page(1, 15, query=query)[1]]

    assert found("ANN@EXAMPLE") == [ann["id"]]  # any case, but identifier's own
    assert found("Crm-ANN") == [ann["id"]] and found("crm-ann") == []
    store.replace({**bob, "email": "robert@example.com"})
    assert found("bob@exa") == [] and found("robert@") == [bob["id"]]
    store.delete(ann["id"])
    assert found("example.com") == [bob["id"]]
    assert found("b") == [bob["id"]]  # under three characters: read, not narrowed
    store.close()
