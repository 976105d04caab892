"""apply --plan: a saved plan goes only to the target it was made for, only as it was made.

Each case runs the CLI over HTTP against real uvicorn sandboxes and checks that nothing
was written when the plan is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_testing import (
    CHATWOOT,
    DESKS,
    LIVEDESK,
    Desk,
    after_header,
    edited,
    point_at,
    run,
    snapshot,
    store_of,
    stored,
    write_contacts,
)

from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread

Document = dict[str, Any]


@pytest.fixture
def other_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    options = SandboxOptions(port=0, db=str(tmp_path / "other.sqlite"))
    with start_in_thread(options) as running:
        yield running


def saved_plan(
    sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk = LIVEDESK,
) -> tuple[Path, int]:
    """An update of one seeded contact and a create, saved to plan.json; the contact's id."""
    point_at(monkeypatch, sandbox, tmp_path, desk)
    contact_id = int(store_of(sandbox).insert({"identifier": "ada", "name": "Ada"})["id"])
    files = write_contacts(
        tmp_path / "contacts",
        [
            {"identifier": "ada", "name": "Ada L.", "custom_attributes": {"tier": "gold"}},
            {"identifier": "bob", "name": "Bob", "custom_attributes": {"seats": 2}},
        ],
    )
    code, _, err = run(capsys, "plan", str(files), "--out", "plan.json")
    assert code == 0
    used = "reconciler.yaml" if desk.settings else "no reconciler.yaml (the defaults)"
    assert err.startswith(f"Settings: {used}. Target: {desk} at")
    return tmp_path / "plan.json", contact_id


def test_the_plan_names_its_target_and_applies_there(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    plan, contact_id = saved_plan(live_sandbox, tmp_path, monkeypatch, capsys, desk)
    target = json.loads(plan.read_text("utf-8"))["target"]
    assert target["kind"] == desk.name
    assert target["endpoint"] == live_sandbox.base_url
    assert "sandbox" not in json.dumps(target)  # no key, secret or token
    if desk is CHATWOOT:
        assert target["account"] == "1"
    code, out, _ = run(capsys, "apply", "--plan", str(plan))
    assert code == 0, out
    assert stored(live_sandbox, contact_id)["name"] == "Ada L."


@pytest.mark.parametrize("change", ["base URL", "account"])
def test_a_plan_for_another_target_is_refused_with_nothing_sent(
    live_sandbox: RunningSandbox,
    other_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: str,
    desk: Desk,
) -> None:
    plan, _ = saved_plan(live_sandbox, tmp_path, monkeypatch, capsys, desk)
    if change == "base URL":
        store_of(other_sandbox).insert({"identifier": "ada", "name": "Ada"})
        point_at(monkeypatch, other_sandbox, tmp_path, desk)
        watched = other_sandbox
    elif desk is CHATWOOT:
        (tmp_path / "reconciler.yaml").write_text("target: chatwoot\naccount_id: 2\n", "utf-8")
        watched = live_sandbox
    else:
        monkeypatch.setenv("LIVEDESK_API_KEY", "another-key")
        watched = live_sandbox
    before = snapshot(watched)
    code, out, err = run(capsys, "apply", "--plan", str(plan))
    assert code == 1
    assert after_header(err).count("\n") == 1
    assert f"was made for {desk} at" in err
    assert "nothing was applied" in err
    assert "another-key" not in err
    assert out == ""
    assert snapshot(watched) == before


@pytest.mark.parametrize("made_on", DESKS, ids=str)
def test_a_plan_made_for_one_target_is_refused_by_the_other(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    made_on: Desk,
) -> None:
    # The same server, the same contacts: only the API the plan was made through differs.
    plan, _ = saved_plan(live_sandbox, tmp_path, monkeypatch, capsys, made_on)
    (tmp_path / "reconciler.yaml").unlink(missing_ok=True)
    other = CHATWOOT if made_on is LIVEDESK else LIVEDESK
    point_at(monkeypatch, live_sandbox, tmp_path, other)
    before = snapshot(live_sandbox)
    code, out, err = run(capsys, "apply", "--plan", str(plan))
    assert (code, out) == (1, "")
    assert f"was made for {made_on} at" in err and f"not for {other} at" in err, err
    assert "nothing was applied" in err
    assert snapshot(live_sandbox) == before


def _set_id(document: Document) -> None:
    document["changes"][0]["id"] = 99999


def _extra_body_key(document: Document) -> None:
    document["changes"][0]["operations"][0]["body"]["blocked"] = True


def _other_value(document: Document) -> None:
    document["changes"][0]["operations"][0]["body"]["name"] = "Mallory"


def _unredact(document: Document) -> None:
    document["redacted"] = False


def _redacted_value(document: Document) -> None:
    document["changes"][1]["operations"][0]["body"]["name"] = "(redacted)"
    document["changes"][1]["fields"][0]["after"] = "(redacted)"


def _create_extra_field(document: Document) -> None:
    document["changes"][1]["operations"][0]["body"]["email"] = "mallory@example.com"


def _create_without_inbox(document: Document) -> None:
    del document["changes"][1]["operations"][0]["body"]["inbox_id"]


def _create_other_attribute(document: Document) -> None:
    document["changes"][1]["operations"][1]["body"]["custom_attributes"]["seats"] = 200


def _old_version(document: Document) -> None:
    document["format_version"] = "7"


@pytest.mark.parametrize(
    ("edit", "rechecksum", "message"),
    [
        (_other_value, False, "signature doesn't verify"),
        (_set_id, True, "changed since"),  # the stale check reads contact 99999: gone
        (_extra_body_key, True, "sends blocked, which its field changes don't call for"),
        (_other_value, True, "sends another value for name"),
        (_redacted_value, True, "holds a redacted value"),
        (_create_extra_field, True, "has operations other than the create"),
        (_create_without_inbox, True, "names no valid inbox_id"),
        (_create_other_attribute, True, "has operations other than the create"),
        (_old_version, True, "format '7'"),
    ],
)
def test_a_tampered_plan_is_refused_with_nothing_written(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[Document], None],
    rechecksum: bool,
    message: str,
) -> None:
    plan, _ = saved_plan(live_sandbox, tmp_path, monkeypatch, capsys)
    edited(plan, edit, rechecksum=rechecksum)
    before = snapshot(live_sandbox)
    code, _, err = run(capsys, "apply", "--plan", str(plan))
    assert code == 1
    assert message in err
    assert snapshot(live_sandbox) == before


def _marker_label_on_livedesk(document: Document) -> None:
    labelled = {"kind": "add_labels", "body": {"labels": ["managed_by_reconciler"]}}
    document["changes"][0]["operations"].append(labelled)


def _another_label_with_the_marker_label(document: Document) -> None:
    (labelled,) = [o for o in document["changes"][1]["operations"] if o["kind"] == "add_labels"]
    labelled["body"]["labels"].append("vip")


def _marker_label_taken_off_a_kept_contact(document: Document) -> None:
    unlabelled = {"kind": "remove_labels", "body": {"labels": ["managed_by_reconciler"]}}
    document["changes"][0]["operations"].append(unlabelled)


def _marker_label_without_the_marker(document: Document) -> None:
    del document["changes"][0]["marker"]
    operations = document["changes"][0]["operations"]
    operations[0]["body"]["custom_attributes"].pop("managed_by_reconciler")


@pytest.mark.parametrize(
    ("desk", "edit", "message"),
    [
        (LIVEDESK, _marker_label_on_livedesk, "where LiveDesk has no labels"),
        (CHATWOOT, _another_label_with_the_marker_label, "has operations other than the create"),
        (CHATWOOT, _marker_label_without_the_marker, "of a contact it doesn't mark"),
        (CHATWOOT, _marker_label_taken_off_a_kept_contact, "has operations other than an update"),
    ],
    ids=["on LiveDesk", "another label", "no marker", "taken off"],
)
def test_a_plan_that_writes_the_marker_label_otherwise_is_refused(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
    edit: Callable[[Document], None],
    message: str,
) -> None:
    plan, _ = saved_plan(live_sandbox, tmp_path, monkeypatch, capsys, desk)
    edited(plan, edit)
    before = snapshot(live_sandbox)
    code, _, err = run(capsys, "apply", "--plan", str(plan))
    assert code == 1
    assert message in err, err
    assert snapshot(live_sandbox) == before


def test_a_redacted_plan_with_its_flag_flipped_is_refused(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    files = write_contacts(tmp_path / "contacts", [{"identifier": "new-1", "name": "New"}])
    assert run(capsys, "plan", str(files), "--redact", "--out", "plan.json")[0] == 0
    edited(tmp_path / "plan.json", _unredact)
    before = snapshot(live_sandbox)
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert "holds a redacted value" in err
    assert snapshot(live_sandbox) == before


def test_apply_plan_warns_when_the_files_changed_since(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan, _ = saved_plan(live_sandbox, tmp_path, monkeypatch, capsys)
    (tmp_path / "contacts" / "c.yaml").write_text("contacts: []\n", "utf-8")
    code, _, err = run(capsys, "apply", "--plan", str(plan))
    assert code == 0
    assert "warning: " in err
    assert "contacts/c.yaml changed" in err
