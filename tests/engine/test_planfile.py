from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.changes import (
    Action,
    Change,
    FieldChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.engine.planfile import (
    checksum,
    plan_from_document,
    plan_to_document,
    read_plan,
    write_plan,
)
from reconciler.engine.redact import redact_plan
from reconciler.errors import PlanError, ReconcilerError
from reconciler.model import ABSENT, ContactKey, Position, SourceFile

SCHEMA_PATH = Path(__file__).parents[2] / "schemas" / "plan.schema.json"

TARGET = TargetIdentity("livedesk", "https://livedesk.example", "0123456789abcdef")


def sample_plan() -> Plan:
    update = Change(
        action=Action.UPDATE,
        key=ContactKey("id", 318763),
        source=Position("contacts/vip.yaml", 4, 1),
        fields=(
            FieldChange("name", "Old", "New"),
            FieldChange("custom_attributes.seats", 1, 1.0),
            FieldChange("custom_attributes.flag", None, True),
            FieldChange("custom_attributes.code", ABSENT, "1"),
        ),
        operations=(
            Operation(
                OperationKind.UPDATE,
                {"name": "New", "custom_attributes": {"seats": 1.0, "flag": True, "code": "1"}},
            ),
        ),
        id=318763,
    )
    create = Change(
        action=Action.CREATE,
        key=ContactKey("identifier", "2222"),
        source=Position("contacts/partners.yaml", 20, 1),
        fields=(FieldChange("identifier", ABSENT, "2222"), FieldChange("blocked", ABSENT, True)),
        operations=(
            Operation(OperationKind.CREATE, {"inbox_id": 1, "identifier": "2222"}),
            Operation(OperationKind.UPDATE, {"blocked": True}),
        ),
    )
    return Plan(
        changes=(update, create),
        unchanged=96,
        warnings=("something to know",),
        sources=(SourceFile("contacts/vip.yaml", "ab" * 32),),
        created_at="2024-05-01T12:00:00Z",
        target=TARGET,
    )


def test_the_document_has_the_documented_shape() -> None:
    document = plan_to_document(sample_plan())
    assert list(document) == [
        "format_version",
        "created_at",
        "redacted",
        "target",
        "sources",
        "summary",
        "warnings",
        "marker_key",
        "changes",
        "checksum",
    ]
    assert document["format_version"] == "2"
    assert document["target"] == {
        "kind": "livedesk",
        "endpoint": "https://livedesk.example",
        "account": "0123456789abcdef",
    }
    assert document["checksum"] == checksum(document)
    assert document["summary"] == {
        "create": 1,
        "update": 1,
        "remove": 0,
        "release": 0,
        "mark": 0,
        "unchanged": 96,
    }
    assert document["sources"] == [{"path": "contacts/vip.yaml", "sha256": "ab" * 32}]
    update, create = document["changes"]
    assert update["id"] == 318763
    assert update["key"] == {"field": "id", "value": 318763}
    assert update["source"] == "contacts/vip.yaml:4"
    assert update["fields"][0] == {"path": "name", "before": "Old", "after": "New"}
    assert update["fields"][2] == {"path": "custom_attributes.flag", "before": None, "after": True}
    assert update["fields"][3] == {"path": "custom_attributes.code", "after": "1"}
    assert create["id"] is None
    assert create["operations"][1] == {
        "kind": "update",
        "body": {"blocked": True},
    }


def test_the_document_validates_against_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(plan_to_document(sample_plan()))
    validator.validate(
        plan_to_document(Plan((), unchanged=0, created_at="2024-05-01T12:00:00Z", target=TARGET))
    )


def test_write_then_read_gives_the_same_plan_json_types_included(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    write_plan(sample_plan(), str(target))
    again = read_plan(str(target))
    assert again == sample_plan()
    seats = again.changes[0].fields[1]
    assert type(seats.before) is int
    assert type(seats.after) is float
    assert again.changes[0].fields[3].before is ABSENT
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_keys_holding_dots_are_kept_exactly(tmp_path: Path) -> None:
    dotted = FieldChange("custom_attributes.a.b", 1, 2, ("custom_attributes", "a.b"))
    nested = FieldChange("custom_attributes.a.b", 3, 4)
    change = Change(
        Action.UPDATE,
        ContactKey("id", 7),
        Position("c.yaml", 2, 5),
        (dotted, nested),
        (Operation(OperationKind.UPDATE, {"custom_attributes": {"a.b": 2}}),),
        id=7,
    )
    plan = Plan((change,), unchanged=0, created_at="2024-05-01T12:00:00Z", target=TARGET)
    document = plan_to_document(plan)
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert [field.get("keys") for field in document["changes"][0]["fields"]] == [
        ["custom_attributes", "a.b"],
        None,
    ]
    write_plan(plan, str(tmp_path / "plan.json"))
    fields = read_plan(str(tmp_path / "plan.json")).changes[0].fields
    assert [field.key_path for field in fields] == [
        ("custom_attributes", "a.b"),
        ("custom_attributes", "a", "b"),
    ]


def test_a_plan_can_be_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old")
    write_plan(sample_plan(), str(target))
    assert json.loads(target.read_text())["format_version"] == "2"


def test_writing_where_it_cannot_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match=r"can't write .*missing/plan.json"):
        write_plan(sample_plan(), str(tmp_path / "missing" / "plan.json"))


def write(tmp_path: Path, content: Any) -> str:
    target = tmp_path / "plan.json"
    target.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(target)


def changed(**overrides: Any) -> dict[str, Any]:
    """The sample plan's document with ``overrides``, its checksum made to match again."""
    document = plan_to_document(sample_plan())
    document.update(overrides)
    document["checksum"] = checksum(document)
    return document


def action_unknown() -> dict[str, Any]:
    document = changed()
    document["changes"][0]["action"] = "destroy"
    return changed(**document)


def create_with_id() -> dict[str, Any]:
    document = changed()
    document["changes"][1]["id"] = 5
    return changed(**document)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"is not a reconciler plan \(not JSON: .* line 1, column 2\)"),
        ([1, 2], r"is not a reconciler plan \(it has no format_version\)"),
        ({"terraform_version": "1.8"}, r"it has no format_version"),
        (changed(format_version="3"), r"in format '3'.*make the plan again"),
        (action_unknown(), r"not a valid plan: \$\.changes\[0\]\.action: 'destroy' is not one of"),
        (create_with_id(), r"is not a valid plan: \$\.changes\[1\]\.id: 5 is not of type 'null'"),
        (changed(summary={"create": 5, "update": 1, "unchanged": 96}), r"summary doesn't match"),
        (changed(extra=1), r"is not a valid plan: \$: Additional properties"),
    ],
)
def test_a_bad_or_foreign_file_is_refused_in_one_line(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(PlanError, match=message) as raised:
        read_plan(path)
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"nope.json: no such plan file"):
        read_plan(str(tmp_path / "nope.json"))


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(PlanError, match=r"not UTF-8"):
        read_plan(str(target))


def test_a_redacted_plan_can_be_shown_but_not_applied(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    write_plan(redact_plan(sample_plan(), ()), str(target))
    with pytest.raises(PlanError, match=r"redacted plan .* can be shown but not applied"):
        read_plan(str(target))
    shown = read_plan(str(target), allow_redacted=True)
    assert shown.redacted
    assert shown.changes[1].key == ContactKey("identifier", "(redacted)")


def test_from_document_needs_no_file() -> None:
    document = plan_to_document(sample_plan())
    assert plan_from_document(document, path="<stdin>") == sample_plan()
