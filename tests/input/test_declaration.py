from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.input import schemas
from reconciler.input.check import check_document
from reconciler.input.declaration import read_declaration
from reconciler.input.document import load_document
from reconciler.input.schemas import fast_validator_for, validator_for
from reconciler.model import Position

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "contacts"
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "invalid"
EXPECTED: dict[str, list[str]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
API_EMAIL = r"^[^@\s]+@[^@\s]+$"
API_PHONE = r"^\+[1-9][0-9]{1,14}$"


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def problem_lines(paths: list[str]) -> list[str]:
    with pytest.raises(InputError) as caught:
        read_declaration(paths, use_cache=False)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the corpus of invalid files: every one gives exactly its expected lines ------------


def test_the_corpus_has_at_least_30_files_each_with_expectations() -> None:
    files = sorted(path.name for path in CORPUS.glob("*.yaml"))
    assert len(files) >= 30
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_exactly_its_expected_lines(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CORPUS)
    assert problem_lines([name]) == EXPECTED[name]


def test_no_message_repeats_a_declared_personal_value() -> None:
    personal = ("ada@", "Ada", "Lovelace", "4155550101", "2222", "Grace", "Zo")
    for lines in EXPECTED.values():
        for line in lines:
            message = line.split(": error: ", 1)[1]
            assert not any(value in message for value in personal), line


# --- the examples -----------------------------------------------------------------------


def test_examples_validate_clean_through_jsonschema_itself() -> None:
    validator = validator_for("contacts")
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        data = load_document(str(path), path.read_bytes()).data
        assert list(validator.iter_errors(data)) == [], path


def test_examples_are_a_realistic_declaration() -> None:
    declaration = read_declaration([str(EXAMPLES)], use_cache=False)
    assert len(declaration.sources) >= 4
    assert len(declaration.contacts) >= 20
    assert len({Path(source.path).parent for source in declaration.sources}) >= 3
    used = {key for contact in declaration.contacts for key in contact.fields}
    properties = schemas.load_schema("contacts")["properties"]["contacts"]["items"]["properties"]
    managed = {name for name, rule in properties.items() if rule.get("not") != {}}
    # Labels are Chatwoot's (the examples target LiveDesk); `absent` removes a contact.
    assert used == managed - {"id", "inbox_id", "labels", "labels_mode", "absent"}
    assert any(contact.id is not None for contact in declaration.contacts)
    assert any(c.key.field == "identifier" for c in declaration.contacts)
    assert any(c.key.field == "email" for c in declaration.contacts)
    assert any(c.fields.get("blocked") is True for c in declaration.contacts)
    assert all(contact.inbox_id == 1 for contact in declaration.contacts)


def test_declared_contacts_carry_source_fields_id_and_inbox(in_tmp: Path) -> None:
    path = write(
        in_tmp,
        "team.yaml",
        "defaults:\n  inbox_id: 4\ncontacts:\n"
        "  - id: 12\n    email: Ada@Example.com\n    name: Ada\n"
        "  - identifier: u-1\n    inbox_id: 9\n    custom_attributes: {seats: 1.0}\n",
    )
    declaration = read_declaration([path], use_cache=False)
    first, second = declaration.contacts
    assert first.source == Position(path, 4, 5)
    assert first.fields == {"email": "Ada@Example.com", "name": "Ada"}
    assert (first.id, first.inbox_id) == (12, 4)
    assert str(first.key) == "id 12"
    assert second.fields == {"identifier": "u-1", "custom_attributes": {"seats": 1.0}}
    assert (second.id, second.inbox_id) == (None, 9)
    assert [source.path for source in declaration.sources] == [path]


def test_without_defaults_the_inbox_is_none(in_tmp: Path) -> None:
    path = write(in_tmp, "a.yaml", "contacts:\n  - email: a@example.com\n")
    assert read_declaration([path], use_cache=False).contacts[0].inbox_id is None


def test_every_example_file_points_editors_at_the_schema() -> None:
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        first_line = path.read_text("utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first_line)
        assert match, path
        # The copy beside the examples (copied with them), the same as reconciler's own.
        resolved = (path.parent / match[1]).resolve()
        assert resolved == EXAMPLES.parent / "schemas" / "contacts.schema.json"
        assert resolved.read_bytes() == (ROOT / "schemas" / "contacts.schema.json").read_bytes()


# --- the schema -------------------------------------------------------------------------


def schema_properties(schema: dict[str, Any], path: str = "$") -> Iterator[tuple[str, Any]]:
    for name, subschema in schema.get("properties", {}).items():
        yield f"{path}.{name}", subschema
        yield from schema_properties(subschema, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from schema_properties(schema["items"], f"{path}[]")


def test_schema_is_draft_2020_12_and_valid() -> None:
    schema = schemas.load_schema("contacts")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description_and_valid_examples() -> None:
    schema = schemas.load_schema("contacts")
    for path, subschema in schema_properties(schema):
        assert subschema.get("description"), path
        if subschema.get("not") == {}:  # refused fields say why instead of an example
            assert subschema["x-error"] and subschema["doNotSuggest"], path
            continue
        assert subschema.get("examples"), path
        for example in subschema["examples"]:
            with_defs = {**subschema, "$defs": schema.get("$defs", {})}  # where $ref points
            assert Draft202012Validator(with_defs).is_valid(example), (path, example)


def test_email_and_phone_rules_are_the_apis() -> None:
    contact = schemas.load_schema("contacts")["properties"]["contacts"]["items"]["properties"]
    assert contact["email"]["pattern"] == API_EMAIL
    assert contact["phone_number"]["pattern"] == API_PHONE
    for name in ("name", "email", "phone_number", "identifier"):
        assert contact[name]["maxLength"] == 255


def test_validator_is_built_once() -> None:
    assert validator_for("contacts") is validator_for("contacts")


# --- reading paths ----------------------------------------------------------------------


def test_directories_are_read_recursively_in_sorted_order(in_tmp: Path) -> None:
    contact = "contacts:\n  - email: {}@example.com\n"
    for name in ("b/z.yaml", "a.yml", "b/a.yaml", "c/.hidden.yaml", ".git/x.yaml"):
        write(in_tmp, f"root/{name}", contact.format(name.replace("/", "-").replace(".", "")))
    write(in_tmp, "root/reconciler.yaml", "concurrency: 8\n")
    write(in_tmp, "root/notes.txt", "not yaml")
    declaration = read_declaration(["root", "root/a.yml"], use_cache=False)
    assert [source.path for source in declaration.sources] == [
        "root/a.yml",
        "root/b/a.yaml",
        "root/b/z.yaml",
    ]


def test_missing_paths_and_directories_without_yaml_are_errors(in_tmp: Path) -> None:
    (in_tmp / "empty").mkdir()
    write(in_tmp, "ok.yaml", "contacts: []\n")
    assert problem_lines(["missing.yaml", "empty", "ok.yaml"]) == [
        "missing.yaml:1:1: error: $: no such file or directory; check the path",
        "empty:1:1: error: $: holds no .yaml or .yml files; give the directory of the "
        "contact files",
    ]


def test_every_problem_of_every_file_at_once(in_tmp: Path) -> None:
    first = write(in_tmp, "a.yaml", "contacts:\n  - id: 1\n    emial: x@example.com\n")
    write(in_tmp, "b.yaml", "contacts:\n  - id: 2\n")
    third = write(in_tmp, "c.yaml", "contacts: [\n")
    lines = problem_lines([first, "b.yaml", third])
    assert [line.split(": error: ")[0] for line in lines] == [f"{first}:3:5", f"{third}:2:1"]


def test_the_same_contact_in_two_files_names_both_places(in_tmp: Path) -> None:
    write(in_tmp, "a.yaml", "contacts:\n  - email: Ada@Example.com\n  - id: 3\n")
    write(in_tmp, "b.yaml", "contacts:\n  - id: 3\n    email: ada@example.COM\n")
    assert problem_lines(["a.yaml", "b.yaml"]) == [
        "b.yaml:2:9: error: $.contacts[0].id: this id is also declared at a.yaml:3:9; "
        "one id can belong to one contact only: merge the two contacts or correct one",
        "b.yaml:3:12: error: $.contacts[0].email: this email is also declared at a.yaml:2:12 "
        "(ignoring case); one email can belong to one contact only: merge the two contacts "
        "or correct one",
    ]


def test_identifiers_differing_in_case_are_different_contacts(in_tmp: Path) -> None:
    path = write(in_tmp, "a.yaml", "contacts:\n  - identifier: ab\n  - identifier: AB\n")
    assert len(read_declaration([path], use_cache=False).contacts) == 2


# --- messages built from a schema's own words -------------------------------------------


@pytest.fixture
def widget_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A schema without x-error: the default messages, in the place another engineer's
    schema (settings.schema.json) would be."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 3},
            "size": {"type": "integer", "minimum": 2, "maximum": 5},
            "kind": {"enum": ["a", "b"]},
            "tags": {"type": "array", "minItems": 1},
            "enabled": {"type": "boolean"},
        },
    }
    (tmp_path / "widget.schema.json").write_text(json.dumps(schema), "utf-8")
    monkeypatch.setattr(schemas, "SCHEMA_DIRS", (tmp_path,))
    clear_schema_caches()
    yield "widget"
    clear_schema_caches()


def clear_schema_caches() -> None:
    for cached in (schemas.schema_bytes, schemas.load_schema, validator_for, fast_validator_for):
        cached.cache_clear()


def test_default_messages_for_a_schema_without_x_error(widget_schema: str) -> None:
    text = "naem: x\nsize: 9\nkind: c\ntags: []\nenabled: 'yes'\n"
    document = load_document("w.yaml", text.encode())
    assert [str(problem) for problem in check_document(document, widget_schema)] == [
        "w.yaml:1:1: error: $: 'name' is missing; add it",
        "w.yaml:1:1: error: $.naem: 'naem' is not allowed here (did you mean 'name'?)",
        "w.yaml:2:7: error: $.size: must be at most 5; correct it",
        'w.yaml:3:7: error: $.kind: must be one of "a", "b"; correct it',
        "w.yaml:4:7: error: $.tags: must have at least 1 item(s); add some",
        "w.yaml:5:10: error: $.enabled: is text but must be true or false; write it without quotes",
    ]


def test_one_problem_per_value_the_most_basic_first(widget_schema: str) -> None:
    document = load_document("w.yaml", b"name: 12345\nsize: null\n")
    assert [str(problem) for problem in check_document(document, widget_schema)] == [
        "w.yaml:1:7: error: $.name: YAML reads this unquoted value as a number; quote it to "
        "keep it as text",
        "w.yaml:2:7: error: $.size: is empty (null) but must be a whole number; write a value "
        "or remove the key",
    ]


# --- the validate command ---------------------------------------------------------------


def test_validate_command_valid_text(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert out == "5 files, 23 contacts: valid.\n"


def test_validate_command_one_file_one_contact(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp, "a.yaml", "contacts:\n  - id: 1\n")
    assert main(["validate", "a.yaml"]) == 0
    assert capsys.readouterr().out == "1 file, 1 contact: valid.\n"


def test_validate_command_text_problems(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(in_tmp, "contacts/vip.yaml", "contacts:\n  - id: 1\n    emial: a@example.com\n")
    assert main(["validate", "contacts"]) == 1
    captured = capsys.readouterr()
    assert captured.out == (
        "contacts/vip.yaml:3:5: error: $.contacts[0].emial: 'emial' is not a contact field "
        "(did you mean 'email'?)\n1 problem in 1 file.\n"
    )
    assert "Traceback" not in captured.err


def test_validate_command_github_annotations(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp, "vip.yaml", "contacts:\n  - id: 0\n")
    assert main(["validate", "--format", "github", "--no-cache", "vip.yaml"]) == 1
    assert capsys.readouterr().out == (
        "::error file=vip.yaml,line=2,col=9::$.contacts[0].id: must be a LiveDesk contact id, "
        "a whole number of 1 or more\n"
    )


def test_validate_command_json(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(in_tmp, "vip.yaml", "contacts:\n  - id: 1\n    blocked: null\n")
    assert main(["validate", "--format", "json", "vip.yaml"]) == 1
    assert json.loads(capsys.readouterr().out) == [
        {
            "file": "vip.yaml",
            "line": 3,
            "column": 14,
            "path": "$.contacts[0].blocked",
            "message": "must be true or false, unquoted; leave the key out to leave it alone",
        }
    ]
    write(in_tmp, "vip.yaml", "contacts:\n  - id: 1\n")
    assert main(["validate", "--format", "json", "vip.yaml"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_validate_command_no_cache_writes_nothing(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp, "a.yaml", "contacts: []\n")
    assert main(["validate", "--no-cache", "a.yaml"]) == 0
    assert not (in_tmp / ".reconciler").exists()
    assert main(["validate", "a.yaml"]) == 0
    assert any((in_tmp / ".reconciler" / "cache").iterdir())
