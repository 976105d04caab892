"""Custom attributes against the account's contact attribute definitions, end to end on the
sandbox's Chatwoot face: plan warns about keys agents can't see, refuses values a
definition wouldn't accept before anything is sent, and validate checks the same offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_testing import after_header, edited, run, snapshot, write_contacts

from reconciler.definitions import AttributeDefinition
from reconciler.sandbox.server import RunningSandbox

TIER = AttributeDefinition("tier", "Support tier", "list", values=("gold", "silver"))
SEATS = AttributeDefinition("seats", "Seats", "number")


def define(sandbox: RunningSandbox, *definitions: AttributeDefinition) -> None:
    for definition in definitions:
        sandbox.app.state.definitions.save(
            {**definition.to_api(), "default_value": None, "created_at": "", "updated_at": ""}
        )


def test_plan_warns_about_a_key_agents_cant_see(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    define(chatwoot, TIER)
    contacts: list[dict[str, Any]] = [
        {"identifier": "ada", "custom_attributes": {"tier": "gold", "vip_level": 3}},
        {"identifier": "bob", "custom_attributes": {"vip_level": 1}},
    ]
    write_contacts(tmp_path / "contacts", contacts)
    code, out, err = run(capsys, "plan", "contacts")
    assert code == 0, err
    assert (
        "Warning: custom_attributes.vip_level has no contact attribute definition: agents "
        "won't see it (contacts/c.yaml:4 and 1 other contact(s))"
    ) in out
    assert "custom_attributes.tier has no" not in out
    # reconciler's own marker key is never asked to have one (agents mustn't see it)
    assert "managed_by_reconciler" not in out


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_value_a_definition_refuses_stops_the_plan_before_anything_is_sent(
    chatwoot: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    define(chatwoot, TIER, SEATS)
    contacts = [
        {"identifier": "ada", "custom_attributes": {"tier": "platinum", "seats": 4}},
        {"identifier": "bob", "custom_attributes": {"seats": "forty"}},
    ]
    write_contacts(tmp_path / "contacts", contacts)
    before = snapshot(chatwoot)
    extra = ["--auto-approve"] if command == "apply" else []
    code, out, err = run(capsys, command, "contacts", *extra)
    assert (code, out) == (1, "")
    assert after_header(err).splitlines()[:2] == [
        "contacts/c.yaml:6:11: error: $.contacts[0].custom_attributes.tier: its contact "
        "attribute definition (Support tier) is a list of gold, silver: use one of them; or "
        "change the definition",
        "contacts/c.yaml:10:12: error: $.contacts[1].custom_attributes.seats: its contact "
        "attribute definition (Seats) is a number: write a number (40, 2.5), not text; or "
        "change the definition",
    ]
    assert "platinum" not in err and "forty" not in err
    assert snapshot(chatwoot) == before


def test_validate_checks_offline_against_what_the_last_plan_read(
    chatwoot: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define(chatwoot, TIER)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada", "custom_attributes": {}}])
    assert run(capsys, "validate", "contacts")[0] == 0  # no plan yet: the schema alone
    assert run(capsys, "plan", "contacts")[0] == 0  # reads and keeps the definitions
    kept = json.loads((tmp_path / ".reconciler" / "attribute-definitions.json").read_text())
    assert [d["attribute_key"] for d in kept["definitions"]] == ["tier"]
    assert kept["target"].startswith("chatwoot at http://127.0.0.1:")

    write_contacts(
        tmp_path / "contacts", [{"identifier": "ada", "custom_attributes": {"tier": "bronze"}}]
    )
    for name in ("CHATWOOT_API_TOKEN", "CHATWOOT_BASE_URL"):
        monkeypatch.delenv(name)  # offline: no credential, no desk
    code, out, err = run(capsys, "validate", "contacts", "--format", "github")
    assert code == 1
    assert out.startswith(
        "::error file=contacts/c.yaml,line=6,col=11::$.contacts[0].custom_attributes.tier: "
        "its contact attribute definition (Support tier) is a list of gold, silver"
    )
    assert "checked against the definitions of chatwoot at http://127.0.0.1:" in err


def test_a_definition_of_the_marker_key_is_named(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    define(chatwoot, AttributeDefinition("managed_by_reconciler", "Managed", "text"))
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    code, out, _ = run(capsys, "plan", "contacts")
    assert code == 0
    assert (
        "custom_attributes.managed_by_reconciler (reconciler's ownership marker) has a "
        "contact attribute definition (id 1): agents see the marker"
    ) in out


# Definitions managed from the files: the second kind -------------------------------------


def write_definitions(directory: Path, *items: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "attributes.yaml").write_text(
        yaml.safe_dump({"attribute_definitions": list(items)}, sort_keys=False), "utf-8"
    )


def stored_definitions(sandbox: RunningSandbox) -> dict[str, dict[str, Any]]:
    return {d["attribute_key"]: d for d in sandbox.app.state.definitions.all()}


TIER_FILE = {"key": "tier", "display_name": "Support tier", "type": "list", "values": ["gold"]}


def test_declared_definitions_are_created_first_then_updated_and_kept(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_definitions(tmp_path / "contacts", TIER_FILE)
    write_contacts(
        tmp_path / "contacts", [{"identifier": "ada", "custom_attributes": {"tier": "gold"}}]
    )
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines.index("  + create attribute definition tier (contacts/attributes.yaml:2)") < (
        lines.index("  + create identifier ada (contacts/c.yaml:4)")
    )
    assert "Attribute definitions: 1 to create." in out
    assert "attribute definition tier (contacts/attributes.yaml:2): created (id 1)" in out
    assert out.rstrip().endswith("Also 1 attribute definition(s) created.")
    tier = stored_definitions(chatwoot)["tier"]
    assert (tier["attribute_model"], tier["attribute_values"]) == ("contact_attribute", ["gold"])
    assert "has no contact attribute definition" not in out

    write_definitions(
        tmp_path / "contacts", {**TIER_FILE, "values": ["gold", "silver"], "description": "SLA"}
    )
    code, out, _ = run(capsys, "plan", "contacts", "--detailed-exitcode")
    assert code == 2
    assert '      ~ values: ["gold"] -> ["gold", "silver"]' in out
    assert '      ~ description: null -> "SLA"' in out
    assert run(capsys, "apply", "contacts", "--auto-approve")[0] == 0
    assert stored_definitions(chatwoot)["tier"]["attribute_values"] == ["gold", "silver"]
    code, out, _ = run(capsys, "plan", "contacts", "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 1 contact matches the files.")


def test_a_value_is_checked_against_the_definition_the_files_declare(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_definitions(tmp_path / "contacts", TIER_FILE)  # not at the desk yet
    write_contacts(
        tmp_path / "contacts", [{"identifier": "ada", "custom_attributes": {"tier": "silver"}}]
    )
    code, _, err = run(capsys, "plan", "contacts")
    assert code == 1
    assert (
        "custom_attributes.tier: its contact attribute definition (Support tier) is a list" in err
    )


@pytest.mark.parametrize("removed", ["keep", "delete"])
def test_a_definition_is_deleted_only_when_declared_absent_under_removed_delete(
    chatwoot: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    removed: str,
) -> None:
    define(chatwoot, TIER, SEATS)
    (tmp_path / "reconciler.yaml").write_text(
        f"target: chatwoot\naccount_id: 1\nremoved: {removed}\n", "utf-8"
    )
    write_definitions(tmp_path / "contacts", {"key": "tier", "absent": True})  # seats: unsaid
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert code == 0, out + err
    if removed == "delete":
        assert "  - delete attribute definition tier (contacts/attributes.yaml:2)" in out
        assert set(stored_definitions(chatwoot)) == {"seats"}
    else:
        assert "but `removed: keep` in reconciler.yaml keeps it" in out
        assert set(stored_definitions(chatwoot)) == {"tier", "seats"}


def test_the_marker_key_can_t_be_declared_and_livedesk_has_no_definitions(
    chatwoot: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_definitions(
        tmp_path / "contacts",
        {"key": "managed_by_reconciler", "display_name": "M", "type": "text"},
    )
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    before = snapshot(chatwoot)
    code, _, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert code == 1
    assert "declares a definition of custom_attributes.managed_by_reconciler" in err
    (tmp_path / "reconciler.yaml").unlink()  # LiveDesk, the default target
    code, _, err = run(capsys, "plan", "contacts")
    assert code == 1
    assert (
        "contacts/attributes.yaml:2: LiveDesk has no contact attribute definitions: leave the "
        "attribute_definitions files out of this target's paths"
    ) in err
    assert snapshot(chatwoot) == before


def test_a_saved_plan_of_definitions_is_checked_before_it_is_applied(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_definitions(tmp_path / "contacts", TIER_FILE)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    assert run(capsys, "plan", "contacts", "--out", "plan.json")[0] == 0
    document = json.loads((tmp_path / "plan.json").read_text("utf-8"))
    assert document["kinds"][0]["kind"] == "attribute_definition"

    def list_of_two(plan: dict[str, Any]) -> None:
        plan["kinds"][0]["body"]["attribute_values"] = ["gold", "platinum"]

    edited(tmp_path / "plan.json", list_of_two)
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert "sends a values its field changes don't call for" in err
    assert not stored_definitions(chatwoot)

    assert run(capsys, "plan", "contacts", "--out", "plan.json")[0] == 0
    define(chatwoot, TIER)  # someone makes it meanwhile
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert "stale: attribute definition tier: it exists now (id 1)" in err
