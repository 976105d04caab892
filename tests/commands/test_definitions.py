"""Custom attributes against the account's contact attribute definitions, end to end on the
sandbox's Chatwoot face: plan warns about keys agents can't see, refuses values a
definition wouldn't accept before anything is sent, and validate checks the same offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_testing import run, snapshot, write_contacts

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
    assert err.splitlines()[:2] == [
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
