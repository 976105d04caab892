"""Labels, the ownership marker and removal, end to end: the CLI over HTTP against both
faces of a real sandbox. What reconciler never set, it never removes."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_testing import (
    CHATWOOT,
    LIVEDESK,
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
from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread

MARKER = "managed_by_reconciler"
MARK = MARKER  # on Chatwoot, also the label of every managed contact


@pytest.fixture
def sandbox(
    live_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, desk: Desk
) -> RunningSandbox:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    return live_sandbox


def seed(sandbox: RunningSandbox, *contacts: dict[str, Any]) -> list[int]:
    return [int(store_of(sandbox).insert(contact)["id"]) for contact in contacts]


def converges(capsys: pytest.CaptureFixture[str], files: Path, *flags: str) -> str:
    """Apply, then plan: No changes. The apply's output."""
    code, out, err = run(capsys, "apply", str(files), "--auto-approve", *flags)
    assert code == 0, out + err
    code, again, err = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 0, again + err
    assert again.startswith("No changes."), again
    return out


def marker_of(sandbox: RunningSandbox, contact_id: int) -> dict[str, Any] | None:
    text = stored(sandbox, contact_id)["custom_attributes"].get(MARKER)
    return None if text is None else dict(json.loads(content_of(text)))


# Labels ---------------------------------------------------------------------------------


def test_labels_converge_to_the_exact_set(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada,) = seed(chatwoot, {"identifier": "ada", "labels": ["trial", "vip"]})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada", "labels": ["vip", "partner"]}])
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 2
    assert '+ labels: "partner"' in out and '- labels: "trial"' in out
    assert "vip" not in out  # kept: not a change
    assert MARK not in out  # the marker's label is written, never shown
    converges(capsys, files)
    assert sorted(stored(chatwoot, ada)["labels"]) == [MARK, "partner", "vip"]


def test_additive_labels_are_a_minimum(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, bob = seed(
        chatwoot,
        {"identifier": "ada", "labels": ["trial"]},
        {"identifier": "bob", "labels": ["trial"]},
    )
    files = write_contacts(
        tmp_path / "c",
        [
            {"identifier": "ada", "labels": ["vip"]},  # the settings make it additive
            {"identifier": "bob", "labels": ["vip"], "labels_mode": "exact"},  # not this one
        ],
    )
    write_settings(tmp_path, CHATWOOT, "labels: additive\n")
    code, out, _ = run(capsys, "plan", str(files))
    assert out.count('+ labels: "vip"') == 2 and out.count('- labels: "trial"') == 1
    converges(capsys, files)
    assert sorted(stored(chatwoot, ada)["labels"]) == [MARK, "trial", "vip"]
    assert stored(chatwoot, bob)["labels"] == ["vip", MARK]
    # A label someone adds stays: additive leaves it, and plan still sees nothing to do.
    labels = ["trial", "vip", MARK, "new"]
    store_of(chatwoot).replace({**stored(chatwoot, ada), "labels": labels})
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 2 contacts match the files.")


def test_a_new_contact_is_created_with_its_labels(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_contacts(tmp_path / "c", [{"identifier": "new", "labels": ["vip"]}])
    converges(capsys, files)
    (created,) = store_of(chatwoot).all()
    assert created["labels"] == ["vip", MARK]


def test_labels_on_livedesk_are_one_plan_error(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, LIVEDESK)
    seed(live_sandbox, {"identifier": "ada"}, {"identifier": "bob"})
    files = write_contacts(
        tmp_path / "c",
        [{"identifier": "ada", "labels": ["vip"]}, {"identifier": "bob", "labels": ["x1"]}],
    )
    before = snapshot(live_sandbox)
    code, out, err = run(capsys, "apply", str(files), "--auto-approve")
    assert (code, out) == (1, "")
    assert after_header(err).count("\n") == 1
    assert "and 1 other contact(s): LiveDesk has no endpoint that writes a contact's labels" in err
    assert snapshot(live_sandbox) == before


# The marker and dropped keys -------------------------------------------------------------


def test_a_key_reconciler_set_and_the_files_dropped(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    (ada,) = seed(sandbox, {"identifier": "ada", "custom_attributes": {"theirs": 1}})
    attributes = {"tier": "gold", "seats": 3}
    files = write_contacts(tmp_path / "c", [{"identifier": "ada", "custom_attributes": attributes}])
    converges(capsys, files)
    assert marker_of(sandbox, ada) == {
        "by": "reconciler",
        "file": "c/c.yaml",
        "fields": ["identifier"],
        "additional_attributes": [],
        "custom_attributes": ["seats", "tier"],
    }
    # The files drop `tier`; `theirs` was never reconciler's.
    write_contacts(tmp_path / "c", [{"identifier": "ada", "custom_attributes": {"seats": 3}}])
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    if desk is CHATWOOT:
        assert code == 2
        assert '- custom_attributes.tier: "gold"' in out
        converges(capsys, files)
        assert stored(sandbox, ada)["custom_attributes"].keys() == {"seats", "theirs", MARKER}
    else:
        assert "custom_attributes.tier is no longer declared, but LiveDesk has no way" in out
        converges(capsys, files)
        assert stored(sandbox, ada)["custom_attributes"]["tier"] == "gold"  # kept, and said
        code, out, _ = run(capsys, "plan", str(files))
        assert "tier" not in out  # said once: the marker no longer lists it
    assert marker_of(sandbox, ada)["custom_attributes"] == ["seats"]  # type: ignore[index]


def test_the_marker_is_never_a_change_nor_exported(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada,) = seed(sandbox, {"identifier": "ada", "name": "Ada"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada", "name": "Ada"}])
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 0  # a marker alone changes nothing a person sees
    assert out.splitlines()[:2] == [
        "No changes. 1 contact matches the files.",
        "Apply also records reconciler's ownership marker on 1 unchanged contact.",
    ]
    code, out, _ = run(capsys, "apply", str(files))  # no question asked for a marker alone
    assert code == 0 and out.strip().endswith("Also 1 marked.")
    assert marker_of(sandbox, ada) is not None
    code, out, _ = run(capsys, "export")
    assert MARKER not in out and "Ada" in out
    (tmp_path / "c" / "c.yaml").write_text(
        f"contacts:\n  - identifier: ada\n    custom_attributes:\n      {MARKER}: x\n", "utf-8"
    )
    code, _, err = run(capsys, "plan", str(files))
    assert code == 1 and f"custom_attributes.{MARKER} is where reconciler keeps" in err


# Removal ----------------------------------------------------------------------------------


def test_a_dropped_contact_is_released_by_default(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, bob = seed(sandbox, {"identifier": "ada"}, {"identifier": "bob"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    converges(capsys, files)
    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 2
    assert f"~ release id {bob}, identifier bob (no longer in the files)" in out
    converges(capsys, files)
    assert marker_of(sandbox, bob) is None and marker_of(sandbox, ada) is not None
    assert stored(sandbox, bob)["blocked"] is False  # released, nothing else


@pytest.mark.parametrize("policy", ["keep", "block", "delete"])
def test_a_contact_never_managed_is_untouched_by_every_policy(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str
) -> None:
    seed(chatwoot, {"identifier": "theirs"}, {"identifier": "absent-one"})
    write_settings(tmp_path, CHATWOOT, f"removed: {policy}\n")
    files = write_contacts(tmp_path / "c", [{"identifier": "absent-one", "absent": True}])
    before = snapshot(chatwoot)
    code, out, _ = run(capsys, "apply", str(files), "--auto-approve", "--allow-removal")
    assert code == 0, out
    assert "doesn't manage that contact" in out or "removed: keep" in out
    assert "remove" not in out.splitlines()[-1]
    assert snapshot(chatwoot) == before


def test_delete_removes_only_marked_contacts_with_allow_removal_within_the_threshold(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed(chatwoot, *({"identifier": f"m{n}"} for n in range(4)), {"identifier": "theirs"})
    files = write_contacts(tmp_path / "c", [{"identifier": f"m{n}"} for n in range(4)])
    write_settings(tmp_path, CHATWOOT, "removed: delete\nmax_removals: 2\n")
    converges(capsys, files)
    # Three drop out of the files, one is declared absent: four removals, over max_removals.
    write_contacts(tmp_path / "c", [{"identifier": "m0", "absent": True}])
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 2
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert [line.split(" (")[0] for line in lines] == [
        f"  - delete id {ids[0]}, identifier m0",
        f"  - delete id {ids[1]}, identifier m1",
        f"  - delete id {ids[2]}, identifier m2",
        f"  - delete id {ids[3]}, identifier m3",
    ]
    assert "Plan: 4 to remove, 0 to create, 0 to update, 0 unchanged." in out
    assert "Warning: the plan removes 4 contact(s): apply needs --allow-removal" in out
    assert "more than max_removals (2) allows: apply will refuse without --force" in out
    before = snapshot(chatwoot)
    code, _, err = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 1 and "--allow-removal" in err
    code, _, err = run(capsys, "apply", str(files), "--auto-approve", "--allow-removal")
    assert code == 1 and "more than max_removals (2)" in err
    assert snapshot(chatwoot) == before  # nothing was sent
    out = converges(capsys, files, "--allow-removal", "--force")
    assert "Also 4 deleted." in out
    remaining = [record["identifier"] for record in store_of(chatwoot).all()]
    assert remaining == ["theirs"]


def test_block_on_livedesk_blocks_marked_contacts_once(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, LIVEDESK)
    ada, bob = seed(live_sandbox, {"identifier": "ada"}, {"identifier": "bob"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    converges(capsys, files)
    write_settings(tmp_path, LIVEDESK, "removed: block\n")
    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    code, out, _ = run(capsys, "plan", str(files))
    assert f"- block id {bob}, identifier bob (no longer in the files)" in out
    assert "~ blocked: false -> true" in out
    converges(capsys, files, "--allow-removal")
    assert stored(live_sandbox, bob)["blocked"] is True
    assert stored(live_sandbox, ada)["blocked"] is False
    # Delete is Chatwoot's: on LiveDesk it is one plan error.
    write_settings(tmp_path, LIVEDESK, "removed: delete\n")
    code, _, err = run(capsys, "plan", str(files))
    assert code == 1 and "LiveDesk can't delete a contact" in err


def test_removing_the_marker_releases_the_contact(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, bob = seed(chatwoot, {"identifier": "ada"}, {"identifier": "bob"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    write_settings(tmp_path, CHATWOOT, "removed: delete\n")
    converges(capsys, files)
    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    plan_file = tmp_path / "plan.json"
    assert run(capsys, "plan", str(files), "--out", str(plan_file))[0] == 0
    # Someone takes reconciler's marker off bob in the desk, after the plan was saved.
    record = stored(chatwoot, bob)
    del record["custom_attributes"][MARKER]
    store_of(chatwoot).replace(record)
    code, _, err = run(capsys, "apply", "--plan", str(plan_file), "--allow-removal")
    assert code == 1 and "ownership marker was removed or changed" in err
    # Released by hand: the next plan takes off the marker's label the person left, no more.
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert code == 2
    assert f"~ release id {bob}, identifier bob (no longer in the files)" in out
    assert "- delete" not in out
    assert run(capsys, "apply", str(files), "--auto-approve")[0] == 0
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 1 contact matches the files.")
    assert stored(chatwoot, bob)["identifier"] == "bob"  # released: never deleted
    assert MARKER not in stored(chatwoot, bob)["labels"]
    assert marker_of(chatwoot, ada) is not None


def test_removals_come_first_in_every_format(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed(chatwoot, {"identifier": "gone", "name": "G"}, {"identifier": "kept", "name": "K"})
    files = write_contacts(
        tmp_path / "c", [{"identifier": "gone", "name": "G"}, {"identifier": "kept", "name": "K"}]
    )
    write_settings(tmp_path, CHATWOOT, "removed: block\n")
    converges(capsys, files)
    write_contacts(tmp_path / "c", [{"identifier": "kept", "name": "K2"}])
    _, text, _ = run(capsys, "plan", str(files))
    assert re.search(rf"- block id {ids[0]}, .*\n.*\n\n  ~ update id {ids[1]}", text), text
    _, markdown, _ = run(capsys, "plan", str(files), "--format", "markdown")
    assert markdown.index(f"- block id {ids[0]}") < markdown.index(f"! update id {ids[1]}")
    _, document, _ = run(capsys, "plan", str(files), "--format", "json")
    actions = [change["action"] for change in json.loads(document)["changes"]]
    assert actions == ["block", "update"]
    assert json.loads(document)["summary"]["remove"] == 1


def test_ownership_off_writes_no_marker_and_removes_nothing(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    ada, bob = seed(sandbox, {"identifier": "ada"}, {"identifier": "bob"})
    write_settings(tmp_path, desk, "ownership: false\n")  # with removed: block, refused
    files = write_contacts(tmp_path / "c", [{"identifier": "ada", "name": "A"}])
    before_bob = stored(sandbox, bob)
    converges(capsys, files)
    assert marker_of(sandbox, ada) is None
    assert stored(sandbox, bob) == before_bob


def test_an_agents_token_cant_delete_and_plan_says_so_first(
    sandbox_options: SandboxOptions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with start_in_thread(dataclasses.replace(sandbox_options, role="agent")) as agent:
        point_at(monkeypatch, agent, tmp_path, CHATWOOT)
        seed(agent, {"identifier": "ada"}, {"identifier": "bob"})
        files = write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
        converges(capsys, files)  # an agent may write contacts
        write_settings(tmp_path, CHATWOOT, "removed: delete\n")
        write_contacts(tmp_path / "c", [{"identifier": "ada"}])
        before = snapshot(agent)
        code, out, err = run(capsys, "apply", str(files), "--auto-approve", "--allow-removal")
        assert (code, out) == (1, "")
        assert "is an agent of Chatwoot account 1, and only administrators may delete" in err
        assert snapshot(agent) == before


def test_absent_with_delete_on_livedesk_is_a_plan_error(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, LIVEDESK)
    seed(live_sandbox, {"identifier": "ada"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    converges(capsys, files)
    write_settings(tmp_path, LIVEDESK, "removed: delete\n")
    write_contacts(tmp_path / "c", [{"identifier": "ada", "absent": True}])
    code, _, err = run(capsys, "plan", str(files))
    assert code == 1 and "LiveDesk can't delete a contact: use `removed: block`" in err


# The marker's label (Chatwoot) ------------------------------------------------------------

LISTING = "GET /api/v1/accounts/1/contacts?sort&include_contact_inboxes"


def whole_listing_pages(err: str) -> int:
    """Pages of the whole listing a `-v` run read (the labelled listing's aren't these)."""
    return len(re.findall(re.escape(LISTING) + r"&page=\d+ ->", err))


def test_plan_finds_a_dropped_contact_by_the_marker_label_not_by_reading_everyone(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(chatwoot, *({"identifier": f"other-{n}"} for n in range(60)))  # 4 pages of others
    ada, bob = seed(chatwoot, {"identifier": "ada", "labels": ["vip"]}, {"identifier": "bob"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    converges(capsys, files)
    assert sorted(stored(chatwoot, ada)["labels"]) == [MARK, "vip"]  # added to the others
    assert stored(chatwoot, bob)["labels"] == [MARK]

    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    code, out, err = run(capsys, "-v", "plan", str(files), "--detailed-exitcode")
    assert code == 2
    assert f"~ release id {bob}, identifier bob (no longer in the files)" in out
    assert MARK not in out
    assert f"{LISTING}&labels&page=1 -> 200" in err
    assert whole_listing_pages(err) == 0  # 62 contacts, and not one page of them read

    plan = str(tmp_path / "plan.json")
    assert run(capsys, "plan", str(files), "--out", plan)[0] == 0
    code, out, err = run(capsys, "apply", "--plan", plan, "--auto-approve")
    assert code == 0, out + err  # a saved plan may take the label off the contact it releases
    assert marker_of(chatwoot, bob) is None and stored(chatwoot, bob)["labels"] == []
    assert marker_of(chatwoot, ada) is not None
    assert sorted(stored(chatwoot, ada)["labels"]) == [MARK, "vip"]


def test_marked_contacts_without_the_label_get_it_and_meanwhile_everyone_is_read(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(chatwoot, *({"identifier": f"other-{n}"} for n in range(20)))
    ada, old = seed(chatwoot, {"identifier": "ada"}, {"identifier": "old"})
    files = write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "old"}])
    write_settings(tmp_path, CHATWOOT, "marker_label: false\n")
    converges(capsys, files)  # as an older reconciler left them: marked, no label
    assert stored(chatwoot, ada)["labels"] == [] and marker_of(chatwoot, old) is not None

    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    write_settings(tmp_path, CHATWOOT, "")
    code, out, err = run(capsys, "-v", "plan", str(files), "--detailed-exitcode")
    assert code == 2
    assert "1 managed contact(s) lack the label 'managed_by_reconciler'" in err
    assert whole_listing_pages(err) >= 2  # old is found the only way it can be (ties: walks)
    assert f"~ release id {old}, identifier old (no longer in the files)" in out
    assert "Apply also records reconciler's ownership marker on 1 unchanged contact." in out

    plan = str(tmp_path / "plan.json")
    assert run(capsys, "plan", str(files), "--out", plan)[0] == 0
    code, out, err = run(capsys, "apply", "--plan", plan, "--auto-approve")
    assert code == 0, out + err  # a saved plan may label the contacts it marks
    assert stored(chatwoot, ada)["labels"] == [MARK]
    assert marker_of(chatwoot, old) is None and stored(chatwoot, old)["labels"] == []
    code, _, err = run(capsys, "-v", "plan", str(files), "--detailed-exitcode")
    assert code == 0
    assert whole_listing_pages(err) == 0  # every managed contact is labelled now


def test_no_marker_label_where_the_setting_says_so(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada,) = seed(chatwoot, {"identifier": "ada", "labels": ["vip"]})
    write_settings(tmp_path, CHATWOOT, "marker_label: false\n")
    files = write_contacts(tmp_path / "c", [{"identifier": "ada", "labels": ["vip", "gold"]}])
    converges(capsys, files)
    assert sorted(stored(chatwoot, ada)["labels"]) == ["gold", "vip"]
    assert marker_of(chatwoot, ada) is not None
