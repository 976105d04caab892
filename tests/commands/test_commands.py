"""plan and apply end to end: the CLI, over HTTP, against a real uvicorn sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_testing import (
    Desk,
    after_header,
    point_at,
    run,
    snapshot,
    store_of,
    stored,
    write_contacts,
    write_settings,
)

from reconciler.engine.ownership import content_of
from reconciler.input.schemas import load_schema
from reconciler.sandbox.server import RunningSandbox

ADA: dict[str, Any] = {
    "identifier": "cust-1",
    "email": "ada@example.com",
    "name": "Ada L.",
    "phone_number": "+14155550101",
    "additional_attributes": {
        "city": "London",
        "social_profiles": {"github": "ada", "twitter": "ada_t", "linkedin": "ada-l"},
    },
    "custom_attributes": {"vip_level": "gold", "legacy_id": "A-1"},
}


@pytest.fixture
def sandbox(
    live_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, desk: Desk
) -> RunningSandbox:
    """The sandbox, through each target's face in turn: every test here runs against both."""
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    return live_sandbox


MARKER = "managed_by_reconciler"  # the default ownership marker


def seed(sandbox: RunningSandbox, *contacts: dict[str, Any]) -> list[int]:
    return [int(store_of(sandbox).insert(contact)["id"]) for contact in contacts]


def test_plan_apply_plan_converges(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada_id,) = seed(sandbox, ADA)
    files = write_contacts(
        tmp_path / "contacts",
        [
            {
                "id": ada_id,
                "name": "Ada Lovelace",
                "blocked": False,
                "additional_attributes": {"social_profiles": {"github": "ada-lovelace"}},
                "custom_attributes": {"vip_level": "platinum", "seats": 40},
            },
            {
                "identifier": "new-1",
                "email": "New.Person@Example.com",
                "name": "New Person",
                "blocked": True,
                "custom_attributes": {"tier": "bronze"},
            },
        ],
    )

    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 2
    assert f"~ update id {ada_id}" in out
    assert '~ name: "Ada L." -> "Ada Lovelace"' in out
    assert "+ custom_attributes.seats: 40" in out
    assert "+ create identifier new-1" in out
    assert "Plan: 1 to create, 1 to update, 0 unchanged." in out

    code, out, _ = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 0, out
    assert f"id {ada_id}" in out and "updated" in out and "created" in out

    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert (code, out.strip().splitlines()[0]) == (0, "No changes. 2 contacts match the files.")

    ada = stored(sandbox, ada_id)
    # Undeclared social profiles and custom attributes survive; declared ones are set.
    assert ada["additional_attributes"]["social_profiles"] == {
        "github": "ada-lovelace",
        "twitter": "ada_t",
        "linkedin": "ada-l",
    }
    assert ada["additional_attributes"]["city"] == "London"
    # The ownership marker names what reconciler set, and holds no value.
    marker = json.loads(content_of(ada["custom_attributes"].pop(MARKER)))
    assert marker == {
        "by": "reconciler",
        "file": "contacts/c.yaml",  # the declaring file, from the repository's root
        "fields": ["blocked", "name"],
        "additional_attributes": ["social_profiles"],
        "custom_attributes": ["seats", "vip_level"],
    }
    assert ada["custom_attributes"] == {"vip_level": "platinum", "legacy_id": "A-1", "seats": 40}
    assert ada["phone_number"] == "+14155550101"  # not declared: left alone
    (new,) = [c for c in store_of(sandbox).all() if c["identifier"] == "new-1"]
    assert json.loads(content_of(new["custom_attributes"].pop(MARKER)))["custom_attributes"] == [
        "tier"
    ]
    assert (new["email"], new["blocked"], new["custom_attributes"]) == (
        "new.person@example.com",
        True,
        {"tier": "bronze"},
    )


@pytest.mark.parametrize("live", [1, True, 1.0, "1"])
def test_one_true_one_point_oh_and_string_one_differ(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], live: Any
) -> None:
    (contact_id,) = seed(sandbox, {"email": "x@example.com", "custom_attributes": {"v": live}})
    for declared in (1, True, 1.0, "1"):
        files = write_contacts(
            tmp_path / "c", [{"id": contact_id, "custom_attributes": {"v": declared}}]
        )
        code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
        same = type(declared) is type(live)
        assert code == (0 if same else 2), (live, declared, out)
        if not same:
            before, after = json.dumps(live), json.dumps(declared)
            assert f"~ custom_attributes.v: {before} -> {after}" in out


def test_email_case_is_no_change(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sandbox, {"email": "support@example.com", "name": "Support"})
    files = write_contacts(tmp_path / "c", [{"email": "Support@Example.com", "name": "Support"}])
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 0
    assert "No changes." in out


def test_a_stale_saved_plan_is_refused_with_nothing_written(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = seed(
        sandbox,
        {"email": "a@example.com", "name": "A"},
        {"email": "b@example.com", "name": "B"},
    )
    files = write_contacts(
        tmp_path / "c",
        [{"id": first, "name": "A2"}, {"id": second, "name": "B2"}],
    )
    plan_file = tmp_path / "plan.json"
    assert run(capsys, "plan", str(files), "--out", str(plan_file))[0] == 0
    store_of(sandbox).replace({**stored(sandbox, second), "name": "Changed elsewhere"})
    before = snapshot(sandbox)

    code, _out, err = run(capsys, "apply", "--plan", str(plan_file))

    assert code == 1
    assert f"id {second}" in err and "name" in err
    assert f"id {first} " not in err
    assert "nothing was applied" in err.splitlines()[-1]
    assert snapshot(sandbox) == before


def test_a_fresh_saved_plan_is_applied_exactly(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (contact_id,) = seed(sandbox, {"email": "a@example.com", "name": "A"})
    files = write_contacts(tmp_path / "c", [{"id": contact_id, "name": "A2"}])
    plan_file = tmp_path / "plan.json"
    run(capsys, "plan", str(files), "--out", str(plan_file))
    # The files change after the plan: apply --plan applies the plan, not the files.
    write_contacts(tmp_path / "c", [{"id": contact_id, "name": "A3"}])

    code, out, _ = run(capsys, "apply", "--plan", str(plan_file))

    assert code == 0, out
    assert stored(sandbox, contact_id)["name"] == "A2"


def test_one_failing_contact_does_not_stop_the_rest(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A city over 255 characters, stored once, fails every later save of that contact:
    # a refusal no plan can see coming (a uniqueness 422 is found at plan time).
    ids = seed(
        sandbox,
        {"email": "one@example.com", "additional_attributes": {"city": "x" * 300}},
        {"email": "two@example.com"},
    )
    files = write_contacts(
        tmp_path / "c",
        [
            {"id": ids[0], "name": "One"},  # 422: Location is too long
            {"id": ids[1], "name": "Two"},
            {"identifier": "three", "name": "Three"},
        ],
    )

    code, out, _ = run(capsys, "apply", str(files), "--auto-approve", "--force")

    assert code == 1
    failed = [line for line in out.splitlines() if "failed:" in line]
    assert len(failed) == 1
    assert "Location is too long" in failed[0]
    assert "Apply complete: 1 created, 1 updated, 1 failed." in out
    assert stored(sandbox, ids[1])["name"] == "Two"
    assert stored(sandbox, ids[0])["name"] == ""


def test_threshold_refuses_and_force_passes(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed(sandbox, *({"email": f"c{n}@example.com", "name": "old"} for n in range(12)))
    declared = [
        {"id": contact_id, "name": "new" if n < 4 else "old"} for n, contact_id in enumerate(ids)
    ]
    files = write_contacts(tmp_path / "c", declared)
    before = snapshot(sandbox)

    code, out, _ = run(capsys, "plan", str(files))
    assert code == 0
    assert "more than max_changes" in out

    code, _, err = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 1
    assert "--force" in err.splitlines()[-1]
    assert snapshot(sandbox) == before

    code, out, _ = run(capsys, "apply", str(files), "--auto-approve", "--force")
    assert code == 0, out
    assert [stored(sandbox, contact_id)["name"] for contact_id in ids[:5]] == ["new"] * 4 + ["old"]


def test_a_count_threshold_from_the_settings_file(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    ids = seed(sandbox, *({"email": f"c{n}@example.com"} for n in range(3)))
    files = write_contacts(tmp_path / "c", [{"id": i, "name": "x"} for i in ids])
    write_settings(tmp_path, desk, "max_changes: 2\n")
    assert run(capsys, "apply", str(files), "--auto-approve")[0] == 1
    assert run(capsys, "apply", str(files), "--auto-approve", "--force")[0] == 0


def test_redact_leaves_no_personal_data_in_output_or_plan_file(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (contact_id,) = seed(sandbox, {"email": "old-mail@example.com", "name": "Old Name"})
    personal = ["Grace Hopper", "grace@navy.example.org", "+14155550142", "Old Name", "old-mail"]
    files = write_contacts(
        tmp_path / "c",
        [
            {
                "id": contact_id,
                "name": "Grace Hopper",
                "email": "grace@navy.example.org",
                "phone_number": "+14155550142",
            },
            {
                "identifier": "secret-ident-77",
                "name": "Grace Hopper II",
                "email": "g2@navy.example.org",
            },
        ],
    )
    outputs = []
    for output_format in ("text", "json", "markdown"):
        plan_file = tmp_path / f"plan-{output_format}.json"
        code, out, err = run(
            capsys,
            "plan",
            str(files),
            "--redact",
            "--format",
            output_format,
            "--out",
            str(plan_file),
        )
        assert code == 0, err
        outputs += [out, err, plan_file.read_text(encoding="utf-8")]
    text = "\n".join(outputs)
    for value in [*personal, "secret-ident-77", "g2@navy"]:
        assert value.lower() not in text.lower(), value
    assert '~ name: "(redacted)" -> "(redacted)"' in text
    # A redacted plan shows the change but can't be applied.
    code, _, err = run(capsys, "apply", "--plan", str(tmp_path / "plan-text.json"))
    assert code == 1
    assert "redact" in err


def test_apply_redact_names_contacts_without_their_data(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sandbox, {"identifier": "ident-secret-9", "email": "who@example.org", "name": "Old"})
    files = write_contacts(
        tmp_path / "c",
        [
            {"identifier": "ident-secret-9", "name": "Private Person"},
            {"email": "brand-new@example.org", "name": "Another Person"},
        ],
    )
    code, out, err = run(capsys, "apply", str(files), "--auto-approve", "--redact")
    assert code == 0, err
    assert "identifier (redacted)" in out and "email (redacted)" in out
    for value in ("ident-secret-9", "who@example", "Private Person", "brand-new", "Another"):
        assert value not in out + err


def test_the_json_plan_validates_against_its_schema(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    (contact_id,) = seed(sandbox, ADA)
    files = write_contacts(
        tmp_path / "c",
        [
            {"id": contact_id, "name": "Ada", "custom_attributes": {"seats": 3}},
            {"email": "new@example.com", "custom_attributes": {"tier": "gold"}},
        ],
    )
    code, out, _ = run(capsys, "plan", str(files), "--format", "json")
    assert code == 0
    document = json.loads(out)
    jsonschema.validate(document, load_schema("plan"))
    assert document["summary"] == {
        "create": 1,
        "update": 1,
        "remove": 0,
        "release": 0,
        "mark": 0,
        "unchanged": 0,
    }
    assert document["marker_key"] == MARKER
    update, create = document["changes"]
    marker = (
        '{"by":"reconciler","file":"c/c.yaml","fields":["name"],"additional_attributes":[],'
        '"custom_attributes":["seats"]}'
    )
    assert update["marker"] == marker
    # The account is one page: plan read it all, so it didn't ask which contacts have the
    # marker's label (Chatwoot), and labels none but the contact it creates.
    assert update["operations"] == [
        {
            "kind": "update",
            "body": {"name": "Ada", "custom_attributes": {"seats": 3, MARKER: marker}},
        },
    ]
    # LiveDesk documents a create of the keys only, with an inbox: the attributes follow in
    # an update. Chatwoot creates with every field in one request, then labels it.
    kinds = [operation["kind"] for operation in create["operations"]]
    assert kinds == (["create", "add_labels"] if desk.name == "chatwoot" else ["create", "update"])
    assert create["operations"][0]["body"]["email"] == "new@example.com"
    assert document["target"]["kind"] == desk.name
    assert document["target"]["endpoint"] == sandbox.base_url
    account = document["target"]["account"]  # Chatwoot's number; LiveDesk's key's fingerprint
    assert account == "1" if desk.name == "chatwoot" else re.fullmatch("[0-9a-f]{16}", account)
    assert create["id"] is None


def test_validation_errors_stop_before_the_network(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "bad.yaml").write_text(
        "contacts:\n  - email: not-an-email\n    name: X\n", encoding="utf-8"
    )
    before = snapshot(sandbox)
    for command in (["plan"], ["apply", "--auto-approve"]):
        code, _out, err = run(capsys, *command, str(tmp_path / "c"))
        assert code == 1
        assert "bad.yaml:2:" in err
        assert "Traceback" not in err
    assert snapshot(sandbox) == before


def test_apply_without_a_terminal_needs_auto_approve(
    sandbox: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (contact_id,) = seed(sandbox, {"email": "a@example.com"})
    files = write_contacts(tmp_path / "c", [{"id": contact_id, "name": "New"}])
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run(capsys, "apply", str(files))
    assert code == 1
    assert "--auto-approve" in err
    assert stored(sandbox, contact_id)["name"] != "New"


def test_apply_asks_on_a_terminal_and_takes_only_yes(
    sandbox: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (contact_id,) = seed(sandbox, {"email": "a@example.com"})
    files = write_contacts(tmp_path / "c", [{"id": contact_id, "name": "New"}])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert run(capsys, "apply", str(files))[0] == 1
    assert stored(sandbox, contact_id)["name"] != "New"
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert run(capsys, "apply", str(files))[0] == 0
    assert stored(sandbox, contact_id)["name"] == "New"


def test_an_unknown_declared_id_is_a_plan_error(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_contacts(tmp_path / "c", [{"id": 424242, "name": "Ghost"}])
    code, _, err = run(capsys, "plan", "c")
    assert code == 1
    assert (
        after_header(err) == "error: the target has no contact with id 424242 (c/c.yaml:4); "
        "remove `id` to create it\n"
    )
    assert "Traceback" not in err


def test_missing_credentials_are_one_line(
    sandbox: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    desk: Desk,
) -> None:
    files = write_contacts(tmp_path / "c", [{"email": "a@example.com"}])
    variable = desk.credential_variables[-1]
    monkeypatch.delenv(variable)
    code, _, err = run(capsys, "plan", str(files))
    assert code == 1
    assert err.count("\n") == 1 and variable in err


def test_settings_are_found_from_a_subdirectory_and_named_in_the_header(
    sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    (tmp_path / ".git").mkdir()
    write_settings(tmp_path, desk, "sensitive: [date_of_birth]\nignore: [name]\n")
    (contact_id,) = seed(sandbox, {"identifier": "ada", "name": "Ada"})
    files = write_contacts(
        tmp_path / "contacts",
        [
            {
                "identifier": "ada",
                "name": "Ignored by the settings",
                "custom_attributes": {"date_of_birth": "1815-12-10"},
            }
        ],
    )
    monkeypatch.chdir(files)  # run from the contacts' own directory
    code, out, err = run(capsys, "plan", ".", "--redact")
    assert code == 0
    assert err.startswith(f"Settings: ../reconciler.yaml. Target: {desk} at ")
    assert "name" not in out  # the ignore rule applied
    assert "custom_attributes.date_of_birth" in out
    assert "1815-12-10" not in out  # the sensitive key was masked
    assert stored(sandbox, contact_id)["name"] == "Ada"


def test_a_profile_added_while_apply_waits_for_yes_survives(
    sandbox: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profiles = {"github": "ada", "twitter": "ada_t"}
    (contact_id,) = seed(
        sandbox, {"identifier": "ada", "additional_attributes": {"social_profiles": profiles}}
    )
    files = write_contacts(
        tmp_path / "c",
        [{"identifier": "ada", "additional_attributes": {"social_profiles": {"github": "ada-l"}}}],
    )

    def someone_edits_then_yes(prompt: str) -> str:
        # While the prompt waits, a person adds a LinkedIn profile in the LiveDesk UI.
        record = stored(sandbox, contact_id)
        record["additional_attributes"]["social_profiles"]["linkedin"] = "ada-lovelace"
        store_of(sandbox).replace(record)
        return "yes"

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", someone_edits_then_yes)
    code, out, _ = run(capsys, "apply", str(files))
    assert code == 0, out
    assert stored(sandbox, contact_id)["additional_attributes"]["social_profiles"] == {
        "github": "ada-l",
        "twitter": "ada_t",
        "linkedin": "ada-lovelace",
    }
    assert run(capsys, "plan", str(files))[1].startswith("No changes.")


def test_a_declared_value_changed_while_apply_waits_fails_that_contact_only(
    sandbox: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = seed(
        sandbox,
        {"identifier": "ada", "additional_attributes": {"social_profiles": {"github": "a"}}},
        {"identifier": "bob", "name": "Bob"},
    )
    files = write_contacts(
        tmp_path / "c",
        [
            {"identifier": "ada", "additional_attributes": {"social_profiles": {"github": "b"}}},
            {"identifier": "bob", "name": "Robert"},
        ],
    )

    def someone_edits_then_yes(prompt: str) -> str:
        record = stored(sandbox, first)
        record["additional_attributes"]["social_profiles"]["github"] = "someone-else"
        store_of(sandbox).replace(record)
        return "yes"

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", someone_edits_then_yes)
    code, out, _ = run(capsys, "apply", str(files))
    assert code == 1
    assert "changed since the plan: additional_attributes.social_profiles.github" in out
    assert "Apply complete: 0 created, 1 updated, 1 failed." in out
    assert stored(sandbox, first)["additional_attributes"]["social_profiles"] == {
        "github": "someone-else"
    }
    assert stored(sandbox, second)["name"] == "Robert"
