"""Nothing a person did since the plan is undone: end to end against the Chatwoot face of a
real sandbox (labels are Chatwoot's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_testing import CHATWOOT, point_at, run, store_of, stored, write_contacts

import reconciler.commands.apply as apply_command
from reconciler.sandbox.server import RunningSandbox

MARK = "managed_by_reconciler"  # the marker's label


@pytest.fixture
def chatwoot(
    live_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RunningSandbox:
    point_at(monkeypatch, live_sandbox, tmp_path, CHATWOOT)
    return live_sandbox


def seed(sandbox: RunningSandbox, *contacts: dict[str, Any]) -> list[int]:
    return [int(store_of(sandbox).insert(contact)["id"]) for contact in contacts]


def add_label(sandbox: RunningSandbox, contact_id: int, label: str) -> None:
    """What an agent does in the dashboard meanwhile."""
    record = stored(sandbox, contact_id)
    store_of(sandbox).replace({**record, "labels": [*record["labels"], label]})


def test_a_label_added_after_a_saved_plan_survives_its_exact_write(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, bob = seed(
        chatwoot,
        {"identifier": "ada", "labels": ["vip", "trial"]},
        {"identifier": "bob", "labels": ["vip"]},
    )
    write_contacts(
        tmp_path / "c",
        [
            {"identifier": "ada", "labels": ["vip", "partner"]},
            {"identifier": "bob", "labels": ["partner"]},
        ],
    )
    plan_file = str(tmp_path / "plan.json")
    code, out, _ = run(capsys, "plan", "c", "--out", plan_file)
    assert code == 0 and '- labels: "trial"' in out
    add_label(chatwoot, ada, "urgent")  # not in the plan: the exact set would take it off

    code, out, err = run(capsys, "apply", "--plan", plan_file)

    assert code == 1, out + err
    assert (
        f"id {ada}, identifier ada (c/c.yaml:4): failed: changed since the plan: labels "
        "'urgent' added since, which the exact set would take off; nothing was written"
    ) in out
    assert sorted(stored(chatwoot, ada)["labels"]) == ["trial", "urgent", "vip"]
    assert sorted(stored(chatwoot, bob)["labels"]) == [MARK, "partner"]  # the others go on
    # Planned again, the label shows as what the exact set takes off.
    code, out, _ = run(capsys, "plan", "c")
    assert '- labels: "urgent"' in out


def test_a_label_added_while_apply_waits_for_yes_survives(
    chatwoot: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (ada,) = seed(chatwoot, {"identifier": "ada", "labels": ["vip"]})
    write_contacts(tmp_path / "c", [{"identifier": "ada", "labels": ["vip", "partner"]}])

    def agent_labels_then_yes() -> bool:
        add_label(chatwoot, ada, "urgent")
        return True

    monkeypatch.setattr(apply_command, "_confirmed", agent_labels_then_yes)
    code, out, _ = run(capsys, "apply", "c")

    assert code == 1
    assert "failed: changed since the plan: labels 'urgent' added since" in out
    assert sorted(stored(chatwoot, ada)["labels"]) == ["urgent", "vip"]


def test_a_planned_removal_of_a_label_still_goes(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada,) = seed(chatwoot, {"identifier": "ada", "labels": ["vip", "trial"]})
    write_contacts(tmp_path / "c", [{"identifier": "ada", "labels": ["vip"]}])
    code, out, err = run(capsys, "apply", "c", "--auto-approve")
    assert code == 0, out + err
    assert sorted(stored(chatwoot, ada)["labels"]) == [MARK, "vip"]
