from __future__ import annotations

import hashlib
import marshal
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.input import cache as cache_module
from reconciler.input import declaration as validate
from reconciler.input import schemas
from reconciler.input.cache import DEFAULT_CACHE_DIR, FileCache
from reconciler.input.contactfile import ContactFile, contact_file
from reconciler.input.document import Document, load_document
from reconciler.input.schemas import schema_digest
from reconciler.model import Declaration, Position, Problem

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CONTACT = "contacts:\n  - email: {}@example.com\n    name: Someone\n"
KEY = b"k" * 32


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(CONTACT.format("a"), "utf-8")
    (tmp_path / "b.yaml").write_text(CONTACT.format("b"), "utf-8")
    return tmp_path


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files read_declaration parses: a cache hit parses nothing."""
    calls: list[str] = []

    def counting_load_document(path: str, content: bytes) -> Document:
        calls.append(path)
        return load_document(path, content)

    monkeypatch.setattr(validate, "load_document", counting_load_document)
    return calls


@pytest.fixture
def own_schema_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "schema-copy"
    shutil.copytree(SCHEMAS, directory)
    monkeypatch.setattr(schemas, "SCHEMA_DIRS", (directory,))
    clear_schema_caches()
    yield directory
    clear_schema_caches()


def clear_schema_caches() -> None:
    schemas.schema_bytes.cache_clear()
    schemas.load_schema.cache_clear()
    schemas.validator_for.cache_clear()
    schemas.fast_validator_for.cache_clear()


def read(*paths: str) -> Declaration:
    return validate.read_declaration(paths)


def entries(workdir: Path) -> list[Path]:
    """The cache's entries (and any temporary file), not its `.pruned` stamp."""
    return sorted(p for p in (workdir / DEFAULT_CACHE_DIR).iterdir() if p.name != ".pruned")


def test_an_unchanged_file_is_not_read_again(workdir: Path, loads: list[str]) -> None:
    cold = read("a.yaml", "b.yaml")
    assert loads == ["a.yaml", "b.yaml"]
    loads.clear()
    warm = read("a.yaml", "b.yaml")
    assert loads == []
    assert warm == cold


def test_a_changed_file_is_read_again(workdir: Path, loads: list[str]) -> None:
    read("a.yaml", "b.yaml")
    loads.clear()
    (workdir / "a.yaml").write_text(CONTACT.format("changed"), "utf-8")
    declaration = read("a.yaml", "b.yaml")
    assert loads == ["a.yaml"]
    assert declaration.contacts[0].fields["email"] == "changed@example.com"


def test_a_schema_change_invalidates_every_entry(
    workdir: Path, loads: list[str], own_schema_dir: Path
) -> None:
    read("a.yaml", "b.yaml")
    loads.clear()
    read("a.yaml", "b.yaml")
    assert loads == []
    schema_file = own_schema_dir / "contacts.schema.json"
    schema_file.write_text(
        schema_file.read_text("utf-8").replace('"title": "contact"', '"title": "a contact"'),
        "utf-8",
    )
    clear_schema_caches()
    read("a.yaml", "b.yaml")
    assert loads == ["a.yaml", "b.yaml"]


def test_problems_are_cached_too(workdir: Path, loads: list[str]) -> None:
    (workdir / "bad.yaml").write_text("contacts:\n  - id: 1\n    emial: x\n", "utf-8")
    with pytest.raises(InputError) as cold:
        read("bad.yaml")
    loads.clear()
    with pytest.raises(InputError) as warm:
        read("bad.yaml")
    assert loads == []
    assert warm.value.problems == cold.value.problems
    assert len(warm.value.problems) == 1


def test_entries_are_keyed_by_content_not_by_name(workdir: Path, loads: list[str]) -> None:
    read("a.yaml")
    (workdir / "copy").mkdir()
    shutil.copy(workdir / "a.yaml", workdir / "copy" / "a.yaml")
    loads.clear()
    declaration = read("copy/a.yaml")
    assert loads == []
    assert declaration.contacts[0].source.file == "copy/a.yaml"
    assert declaration.sources[0].path == "copy/a.yaml"
    assert len(entries(workdir)) == 1


def test_use_cache_false_neither_reads_nor_writes(workdir: Path, loads: list[str]) -> None:
    read("a.yaml")
    loads.clear()
    validate.read_declaration(["a.yaml"], use_cache=False)
    assert loads == ["a.yaml"]
    assert len(entries(workdir)) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-1],  # truncated
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # a flipped bit
        lambda raw: b"",  # empty
        lambda raw: b"not a cache entry at all",
    ],
)
def test_a_damaged_entry_is_ignored(
    workdir: Path, loads: list[str], damage: Callable[[bytes], bytes]
) -> None:
    cold = read("a.yaml")
    (entry,) = entries(workdir)
    entry.write_bytes(damage(entry.read_bytes()))
    loads.clear()
    assert read("a.yaml") == cold
    assert loads == ["a.yaml"]
    assert read("a.yaml") == cold  # and the entry was written again


def test_a_well_sealed_entry_of_the_wrong_shape_is_ignored(tmp_path: Path) -> None:
    file_cache = FileCache(tmp_path, "schema", KEY)
    for payload in (b"\xff\xfe garbage", marshal.dumps(("document", 1)), marshal.dumps([1])):
        entry = file_cache.entry_path("0" * 64)
        sealed = cache_module._MAGIC + file_cache._seal(entry.name, payload) + payload
        entry.write_bytes(sealed)
        assert file_cache.get("0" * 64, "a.yaml") is None


def test_writes_are_atomic_and_leave_no_temporary_files(workdir: Path) -> None:
    read("a.yaml", "b.yaml")
    assert [path.name.startswith(".tmp-") for path in entries(workdir)] == [False, False]


def test_an_unwritable_cache_never_fails_the_command(workdir: Path) -> None:
    (workdir / ".reconciler").write_text("a file where the directory should be", "utf-8")
    assert len(read("a.yaml").contacts) == 1


def test_the_key_depends_on_the_schema_digest(tmp_path: Path) -> None:
    digest = "1" * 64
    one = FileCache(tmp_path, schema_digest("contacts"), KEY).entry_path(digest)
    other = FileCache(tmp_path, "another schema", KEY).entry_path(digest)
    assert one != other


def test_a_cached_contact_file_round_trips(tmp_path: Path) -> None:
    content = (
        b"defaults:\n  inbox_id: 2\ncontacts:\n"
        b"  - id: 1\n    name: 'NO'\n    custom_attributes: {x: false, y: 1.0, z: [1, '1']}\n"
        b"  - email: Ada@Example.com\n    inbox_id: 3\n"
    )
    document = load_document("a.yaml", content)
    read_file = contact_file(document, {"id": "exact", "email": "case-insensitive"})
    file_cache = FileCache(tmp_path, "schema", KEY)
    file_cache.put(document.sha256, read_file)
    cached = file_cache.get(document.sha256, "renamed.yaml")
    assert isinstance(cached, ContactFile)
    assert (cached.path, cached.sha256) == ("renamed.yaml", document.sha256)
    assert cached.unique_values == read_file.unique_values
    renamed = [
        replace(c, source=replace(c.source, file="renamed.yaml")) for c in read_file.contacts
    ]
    assert list(cached.contacts) == renamed
    first = cached.contacts[0].fields["custom_attributes"]
    assert [type(value) for value in first.values()] == [bool, float, list]
    assert cached.contacts[0].source == Position("renamed.yaml", 4, 5)
    assert [(c.id, c.inbox_id) for c in cached.contacts] == [(1, 2), (None, 3)]


def test_duplicates_are_found_alike_in_cached_files(workdir: Path, loads: list[str]) -> None:
    (workdir / "c.yaml").write_text(
        "contacts:\n  - id: 7\n    email: C@example.com\n  - id: 7\n", "utf-8"
    )
    (workdir / "d.yaml").write_text("contacts:\n  - email: c@EXAMPLE.com\n", "utf-8")
    with pytest.raises(InputError) as cold:
        read("a.yaml", "c.yaml", "d.yaml", "b.yaml")
    loads.clear()
    with pytest.raises(InputError) as warm:
        read("a.yaml", "c.yaml", "d.yaml", "b.yaml")
    assert loads == []
    assert warm.value.problems == cold.value.problems
    assert [str(problem) for problem in warm.value.problems] == [
        "c.yaml:4:9: error: $.contacts[1].id: this id is also declared at c.yaml:2:9; "
        "one id can belong to one contact only: merge the two contacts or correct one",
        "d.yaml:2:12: error: $.contacts[0].email: this email is also declared at c.yaml:3:12 "
        "(ignoring case); one email can belong to one contact only: merge the two contacts "
        "or correct one",
    ]


def test_cached_problems_round_trip(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_document("a.yaml", b"a: 1\na: 2\n")
    problems = list(caught.value.problems)
    file_cache = FileCache(tmp_path, "schema", KEY)
    file_cache.put("f" * 64, problems)
    cached = file_cache.get("f" * 64, "a.yaml")
    assert cached == problems
    assert all(isinstance(problem, Problem) for problem in problems)


def test_a_forged_entry_cannot_make_an_invalid_file_pass(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = workdir / "a.yaml"
    invalid.write_text("contacts:\n  - email: not-an-email\n", "utf-8")
    forged_contacts = contact_file(load_document("a.yaml", CONTACT.format("forged").encode()), {})
    content = invalid.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    # Sealed with another key (as someone who can write the tree but not read our key) ...
    FileCache(DEFAULT_CACHE_DIR, schema_digest("contacts"), b"x" * 32).put(
        digest, replace(forged_contacts, sha256=digest)
    )
    # ... and with no key at all, as a plain digest of the payload.
    entry = FileCache(DEFAULT_CACHE_DIR, schema_digest("contacts"), b"x" * 32).entry_path(digest)
    payload = entry.read_bytes()[len(cache_module._MAGIC) + 32 :]
    for seal in (b"", hashlib.sha256(payload).digest()):
        if seal:
            entry.write_bytes(cache_module._MAGIC + seal + payload)
        assert main(["validate", str(invalid)]) == 1
        out = capsys.readouterr().out
        assert "1 problem in 1 file." in out
        assert "is not an email address" in out


def test_an_entry_of_this_users_copied_to_another_files_entry_is_ignored(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "a.yaml"]) == 0  # a valid file's entry, sealed with our key
    (valid,) = entries(workdir)
    invalid = workdir / "b.yaml"
    invalid.write_text("contacts:\n  - email: not-an-email\n", "utf-8")
    digest = hashlib.sha256(invalid.read_bytes()).hexdigest()
    cache = FileCache(DEFAULT_CACHE_DIR, schema_digest("contacts"), cache_module.user_key() or b"")
    cache.entry_path(digest).write_bytes(valid.read_bytes())  # the copy, under b.yaml's name
    capsys.readouterr()
    assert main(["validate", "b.yaml"]) == 1
    assert "is not an email address" in capsys.readouterr().out


def test_values_a_file_repeats_are_one_object_and_stay_so_through_the_cache(
    workdir: Path,
) -> None:
    (workdir / "c.yaml").write_text(
        "contacts:\n"
        "  - {email: a@x.io, custom_attributes: {tier: gold, seats: 1}, additional_attributes:"
        " {city: Oslo, social_profiles: {github: a}}}\n"
        "  - {email: b@x.io, custom_attributes: {tier: gold, seats: 1}, additional_attributes:"
        " {city: Oslo, social_profiles: {github: a}}}\n"
        "  - {email: c@x.io, custom_attributes: {tier: gold, seats: 1.0}}\n"
        "  - {email: d@x.io, custom_attributes: {tier: gold, seats: true}}\n"
        "  - {email: e@x.io, custom_attributes: {seats: 1, tier: gold}}\n",
        encoding="utf-8",
    )
    for _ in range(2):  # read, then from the cache
        first, second, *others = (contact.fields for contact in read("c.yaml").contacts)
        assert first["custom_attributes"] is second["custom_attributes"]
        assert first["additional_attributes"] is second["additional_attributes"]
        assert first["additional_attributes"]["city"] is second["additional_attributes"]["city"]
        # 1.0 and true are other JSON values than 1, and key order is kept as declared
        attributes = [
            first["custom_attributes"],
            *(fields["custom_attributes"] for fields in others),
        ]
        assert len({id(value) for value in attributes}) == 4
        assert [type(value["seats"]) for value in attributes] == [int, float, bool, int]
        assert list(attributes[3]) == ["seats", "tier"]
    assert len(entries(workdir)) == 1
