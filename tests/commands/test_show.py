"""reconciler show: a saved plan rendered again, with a warning once its files have changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testing import run

from reconciler.changes import (
    Action,
    Change,
    FieldChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.engine.planfile import write_plan
from reconciler.input.declaration import read_declaration
from reconciler.model import ABSENT, ContactKey

CONTACTS = """\
contacts:
  - id: 5
    name: Ada Lovelace
    custom_attributes:
      vip_level: platinum
"""

TARGET = TargetIdentity("livedesk", "https://livedesk.example", "0123456789abcdef")


@pytest.fixture
def saved_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """plan.json for contacts/vip.yaml, as `plan --out` saves it (made here, offline)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "contacts").mkdir()
    (tmp_path / "contacts" / "vip.yaml").write_text(CONTACTS, encoding="utf-8")
    declaration = read_declaration(["contacts"], use_cache=False)
    change = Change(
        action=Action.UPDATE,
        key=ContactKey("id", 5),
        source=declaration.contacts[0].source,
        fields=(
            FieldChange("name", "Ada L.", "Ada Lovelace"),
            FieldChange("custom_attributes.vip_level", ABSENT, "platinum"),
        ),
        operations=(
            Operation(
                OperationKind.UPDATE,
                {"name": "Ada Lovelace", "custom_attributes": {"vip_level": "platinum"}},
            ),
        ),
        id=5,
    )
    plan = Plan(
        changes=(change,),
        unchanged=3,
        sources=declaration.sources,
        created_at="2025-01-01T00:00:00Z",
        target=TARGET,
    )
    write_plan(plan, "plan.json")
    return tmp_path / "plan.json"


def test_show_renders_text(saved_plan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(saved_plan))
    assert (code, err) == (0, "")
    assert out == (
        "  ~ update id 5 (contacts/vip.yaml:2)\n"
        '      ~ name: "Ada L." -> "Ada Lovelace"\n'
        '      + custom_attributes.vip_level: "platinum"\n'
        "\n"
        "Plan: 0 to create, 1 to update, 3 unchanged.\n"
    )


def test_show_renders_json_as_saved(saved_plan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(saved_plan), "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == json.loads(saved_plan.read_text(encoding="utf-8"))


def test_show_renders_markdown(saved_plan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(saved_plan), "--format", "markdown")
    assert (code, err) == (0, "")
    assert out.startswith("**Plan: 0 to create, 1 to update, 3 unchanged.**\n")
    assert "<details><summary>Changes to 1 contact</summary>" in out
    assert '!     name: "Ada L." -> "Ada Lovelace"' in out


def test_show_accepts_a_redacted_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_plan(Plan(changes=(), unchanged=2, redacted=True, target=TARGET), "redacted.json")
    code, out, err = run(capsys, "show", "redacted.json", "--format", "markdown")
    assert (code, err) == (0, "")
    assert out.startswith("**No changes. 2 contacts match the files.**")
    assert "_Personal values are redacted._" in out
    for name, value in (("API_KEY", "k"), ("API_SECRET", "s"), ("BASE_URL", "http://127.0.0.1:9")):
        monkeypatch.setenv(f"LIVEDESK_{name}", value)
    code, _, err = run(capsys, "apply", "--plan", "redacted.json", "--auto-approve")
    assert code == 1
    assert "redacted plan" in err  # shown, never applied


def test_show_warns_when_a_source_file_changed(
    saved_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (tmp_path / "contacts" / "vip.yaml").open("a", encoding="utf-8") as file:
        file.write("  - email: new@example.com\n")
    code, out, err = run(capsys, "show", str(saved_plan))
    assert code == 0
    assert "Plan: 0 to create, 1 to update, 3 unchanged." in out
    assert err == (
        f"warning: {saved_plan} is older than the files it came from "
        "(contacts/vip.yaml changed); run plan again to see what apply would do now\n"
    )


def test_show_warns_when_a_source_file_is_gone(
    saved_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "contacts" / "vip.yaml").unlink()
    code, _, err = run(capsys, "show", str(saved_plan), "--format", "json")
    assert code == 0
    assert "older than the files it came from (contacts/vip.yaml is gone)" in err


def test_show_refuses_what_is_not_a_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    code, out, err = run(capsys, "show", "notes.json")
    assert (code, out) == (1, "")
    assert err == "error: notes.json is not a reconciler plan (it has no format_version)\n"
    code, _, err = run(capsys, "show", "missing.json")
    assert (code, err) == (1, "error: missing.json: no such plan file\n")


V1_PLAN = {
    "format_version": "1",
    "created_at": "2024-05-01T12:00:00Z",
    "redacted": False,
    "sources": [],
    "summary": {"create": 0, "update": 1, "unchanged": 0},
    "warnings": [],
    "changes": [
        {
            "action": "update",
            "id": 7,
            "key": {"field": "id", "value": 7},
            "source": "c.yaml:3",
            "fields": [{"path": "name", "before": "Old", "after": "New"}],
            "requests": [
                {"method": "PATCH", "path": "/api/v2/accounts/contacts/7", "body": {"name": "New"}}
            ],
        }
    ],
}


def test_show_renders_a_plan_of_format_1_that_apply_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.json").write_text(json.dumps(V1_PLAN), "utf-8")
    code, out, err = run(capsys, "show", "old.json")
    assert (code, err) == (0, "")
    assert '~ name: "Old" -> "New"' in out
    for name, value in (("API_KEY", "k"), ("API_SECRET", "s"), ("BASE_URL", "http://127.0.0.1:9")):
        monkeypatch.setenv(f"LIVEDESK_{name}", value)
    code, _, err = run(capsys, "apply", "--plan", "old.json", "--auto-approve")
    assert code == 1
    assert "format '1'" in err
    assert "make the plan again" in err
