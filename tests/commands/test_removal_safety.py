"""Nothing a person did since the plan is undone: end to end against the Chatwoot face of a
real sandbox (labels are Chatwoot's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_testing import (
    CHATWOOT,
    Desk,
    point_at,
    run,
    signed_marker,
    snapshot,
    store_of,
    stored,
    write_contacts,
)

import reconciler.commands.apply as apply_command
from reconciler.sandbox.server import RunningSandbox

MARK = "managed_by_reconciler"  # the marker's label


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


def test_a_nested_object_and_a_label_removal_go_in_one_update(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles = {"github": "ada", "twitter": "ada_l"}
    (ada,) = seed(
        chatwoot,
        {
            "identifier": "ada",
            "labels": ["vip", "trial"],
            "additional_attributes": {"social_profiles": profiles},
        },
    )
    declared = {
        "identifier": "ada",
        "labels": ["vip"],
        "additional_attributes": {"social_profiles": {"github": "ada-l"}},
    }
    write_contacts(tmp_path / "c", [declared])
    code, out, err = run(capsys, "apply", "c", "--auto-approve")
    assert code == 0, out + err
    assert "Apply complete: 0 created, 1 updated, 0 failed." in out
    record = stored(chatwoot, ada)
    assert sorted(record["labels"]) == [MARK, "vip"]
    assert record["additional_attributes"]["social_profiles"] == {
        "github": "ada-l",
        "twitter": "ada_l",
    }
    code, out, _ = run(capsys, "plan", "c", "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 1 contact matches the files.")


def test_the_label_a_failed_release_left_is_taken_off_by_the_next_apply(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    assert run(capsys, "apply", "c", "--auto-approve")[0] == 0  # both marked and labelled
    bob = int(store_of(chatwoot).page(1, 15, query="bob")[1][0]["id"])
    # A release whose label write failed: the marker is gone, its label stays.
    record = stored(chatwoot, bob)
    store_of(chatwoot).replace({**record, "custom_attributes": {}})
    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    code, out, _ = run(capsys, "plan", "c")
    assert code == 0
    assert f"~ release id {bob}, identifier bob (no longer in the files)" in out
    assert "1 no longer managed, to release" in out
    assert run(capsys, "apply", "c", "--auto-approve")[0] == 0
    assert stored(chatwoot, bob)["labels"] == []
    code, out, _ = run(capsys, "plan", "c", "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 1 contact matches the files.")


# A delete takes the contact's conversations with it ----------------------------------------


def managed_pair(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: str
) -> tuple[int, int]:
    """Ada and Bob, created and marked by an apply; then the files keep Ada alone."""
    (tmp_path / "reconciler.yaml").write_text(CHATWOOT.settings + settings, encoding="utf-8")
    write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    code, out, err = run(capsys, "apply", "c", "--auto-approve")
    assert code == 0, out + err
    ada, bob = (
        int(store_of(sandbox).page(1, 15, query=name)[1][0]["id"]) for name in ("ada", "bob")
    )
    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    return ada, bob


def talk(sandbox: RunningSandbox, contact_id: int, count: int) -> None:
    """``count`` conversations with the contact, as the widget makes them."""
    record = stored(sandbox, contact_id)
    conversations = [{"id": n, "last_activity_at": 1_700_000_000 + n} for n in range(count)]
    store_of(sandbox).replace({**record, "conversations": conversations})


def test_a_contact_with_conversations_is_blocked_not_deleted_by_default(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, bob = managed_pair(chatwoot, tmp_path, capsys, "removed: delete\n")
    talk(chatwoot, bob, 3)

    code, out, _ = run(capsys, "plan", "c")

    assert code == 0
    assert (
        f"- block id {bob}, identifier bob (no longer in the files): not deleted, for its 3 "
        "conversations (delete_with_conversations)"
    ) in out
    assert "- delete" not in out
    code, out, err = run(capsys, "apply", "c", "--auto-approve", "--allow-removal")
    assert code == 0, out + err
    assert stored(chatwoot, bob)["blocked"] is True
    assert len(stored(chatwoot, bob)["conversations"]) == 3
    # Blocked already: nothing more to do, and the plan says why it stays.
    code, out, _ = run(capsys, "plan", "c")
    assert f"id {bob} (no longer in the files) is not deleted: it has conversations" in out


def test_the_plan_counts_what_a_delete_destroys_when_the_settings_allow_it(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = "removed: delete\ndelete_with_conversations: true\n"
    _, bob = managed_pair(chatwoot, tmp_path, capsys, settings)
    talk(chatwoot, bob, 25)

    code, out, _ = run(capsys, "plan", "c")

    assert code == 0
    assert (
        f"- delete id {bob}, identifier bob (no longer in the files), and its 20 or more "
        "conversations"
    ) in out
    code, out, err = run(capsys, "apply", "c", "--auto-approve", "--allow-removal")
    assert code == 0, out + err
    assert store_of(chatwoot).get(bob) is None


def test_a_contact_without_conversations_is_deleted_as_before(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, bob = managed_pair(chatwoot, tmp_path, capsys, "removed: delete\n")
    code, out, _ = run(capsys, "plan", "c")
    assert (
        f"- delete id {bob}, identifier bob (no longer in the files), which has no conversations\n"
    ) in out
    code, out, err = run(capsys, "apply", "c", "--auto-approve", "--allow-removal")
    assert code == 0, out + err
    assert store_of(chatwoot).get(bob) is None


def test_a_conversation_since_the_plan_stops_the_delete(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, bob = managed_pair(chatwoot, tmp_path, capsys, "removed: delete\n")
    plan_file = str(tmp_path / "plan.json")
    assert run(capsys, "plan", "c", "--out", plan_file)[0] == 0
    talk(chatwoot, bob, 1)  # Bob writes in before the apply

    code, out, _ = run(capsys, "apply", "--plan", plan_file, "--allow-removal")

    assert code == 1
    assert (
        "failed: not deleted: it has 1 conversation(s) now, which a delete destroys with it, "
        "and the plan counted 0"
    ) in out
    assert store_of(chatwoot).get(bob) is not None


def test_absent_true_with_conversations_is_blocked_not_deleted(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, bob = managed_pair(chatwoot, tmp_path, capsys, "removed: delete\n")
    talk(chatwoot, bob, 2)
    write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob", "absent": True}])
    code, out, _ = run(capsys, "plan", "c")
    assert code == 0
    assert (
        f"- block id {bob}, identifier bob (c/c.yaml:5): not deleted, for its 2 conversations"
        in out
    )


# Partial trees remove nothing outside them; a block reconciler made is undone ----------


@pytest.fixture
def desk_tree(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
) -> tuple[RunningSandbox, int, int]:
    """Ada in contacts/vip.yaml and Bob in contacts/partners.yaml, applied and managed, with
    removal on (block on LiveDesk, delete on Chatwoot): the sandbox and their ids."""
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    policy = "delete" if desk is CHATWOOT else "block"
    (tmp_path / "reconciler.yaml").write_text(desk.settings + f"removed: {policy}\n", "utf-8")
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}], name="vip.yaml")
    write_contacts(tmp_path / "contacts", [{"identifier": "bob"}], name="partners.yaml")
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert code == 0, out + err
    ada, bob = (
        int(store_of(live_sandbox).page(1, 15, query=name)[1][0]["id"]) for name in ("ada", "bob")
    )
    return live_sandbox, ada, bob


def test_a_plan_of_one_file_removes_nothing_another_file_declares(
    desk_tree: tuple[RunningSandbox, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, _, bob = desk_tree
    before = stored(sandbox, bob)

    code, out, err = run(
        capsys, "apply", "contacts/vip.yaml", "--auto-approve", "--allow-removal", "--force"
    )

    assert code == 0, out + err
    assert "No changes." in out
    assert "1 managed contact(s) no file here declares were declared in files outside" in out
    assert stored(sandbox, bob) == before


def test_a_file_deleted_from_a_covered_directory_drops_its_contacts(
    desk_tree: tuple[RunningSandbox, int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    sandbox, _, bob = desk_tree
    (tmp_path / "contacts" / "partners.yaml").unlink()
    code, out, _ = run(capsys, "plan", "contacts")
    assert code == 0
    action = "delete" if desk is CHATWOOT else "block"
    assert f"- {action} id {bob}, identifier bob (no longer in the files)" in out
    assert run(capsys, "apply", "contacts", "--auto-approve", "--allow-removal")[0] == 0
    if desk is CHATWOOT:
        assert store_of(sandbox).get(bob) is None
    else:
        assert stored(sandbox, bob)["blocked"] is True


def test_a_file_moved_within_the_tree_declares_its_contacts_again(
    desk_tree: tuple[RunningSandbox, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, _, bob = desk_tree
    (tmp_path / "contacts" / "partners").mkdir()
    (tmp_path / "contacts" / "partners.yaml").rename(tmp_path / "contacts/partners/all.yaml")
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve", "--allow-removal")
    assert code == 0, out + err
    assert "Also 1 marked." in out  # its marker names the new file
    marker = stored(sandbox, bob)["custom_attributes"][MARK]
    assert '"file":"contacts/partners/all.yaml"' in marker
    assert stored(sandbox, bob)["blocked"] is False


def test_a_marker_that_names_no_file_is_only_a_whole_plans_to_remove(
    desk_tree: tuple[RunningSandbox, int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    sandbox, _, bob = desk_tree
    content = (  # reconciler's, but naming no file
        '{"by":"reconciler","fields":["identifier"],"additional_attributes":[],'
        '"custom_attributes":[]}'
    )
    marker = signed_marker(content, bob, desk)
    store_of(sandbox).replace({**stored(sandbox, bob), "custom_attributes": {MARK: marker}})
    (tmp_path / "contacts" / "partners.yaml").unlink()

    code, out, _ = run(capsys, "plan", "contacts")
    assert code == 0
    assert "- " not in out and "or before markers named their file" in out
    code, out, _ = run(capsys, "plan", ".")  # the whole repository: its root
    action = "delete" if desk is CHATWOOT else "block"
    assert f"- {action} id {bob}" in out


@pytest.mark.parametrize(
    "marker",
    [
        # written before markers were signed
        '{"by":"reconciler","fields":["identifier"],"additional_attributes":[],'
        '"custom_attributes":[]}',
        # copied from another contact (signed for that one)
        "copied",
    ],
)
def test_a_marker_reconciler_cant_verify_is_named_and_never_acted_on(
    desk_tree: tuple[RunningSandbox, int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    marker: str,
) -> None:
    sandbox, ada, bob = desk_tree
    if marker == "copied":  # a person copies Ada's marker onto Bob, who has none now
        marker = stored(sandbox, ada)["custom_attributes"][MARK]
    store_of(sandbox).replace({**stored(sandbox, bob), "custom_attributes": {MARK: marker}})
    (tmp_path / "contacts" / "partners.yaml").unlink()
    before = stored(sandbox, bob)

    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--allow-removal", "--force")

    assert code == 0, out + err
    assert (
        f"1 contact(s) no file declares carry an ownership marker reconciler can't verify "
        f"(id {bob}):"
    ) in out
    assert stored(sandbox, bob) == before


def test_a_declared_contact_with_a_marker_reconciler_cant_verify_is_marked_anew(
    desk_tree: tuple[RunningSandbox, int, int],
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    sandbox, ada, bob = desk_tree
    # Bob's marker, copied onto Ada: it lists a key Ada's file never declared.
    content = '{"by":"reconciler","fields":[],"additional_attributes":[],"custom_attributes":["x"]}'
    copied = signed_marker(content, bob, desk)
    record = stored(sandbox, ada)
    store_of(sandbox).replace({**record, "custom_attributes": {MARK: copied, "x": "Ada's own"}})

    code, out, err = run(capsys, "apply", "contacts", "--auto-approve", "--allow-removal")

    assert code == 0, out + err
    assert "custom_attributes.x" not in out  # not reconciler's to remove
    assert stored(sandbox, ada)["custom_attributes"]["x"] == "Ada's own"
    assert stored(sandbox, ada)["custom_attributes"][MARK] != copied  # marked anew, signed


def test_a_contact_reconciler_blocked_is_unblocked_when_declared_again(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    (tmp_path / "reconciler.yaml").write_text(desk.settings + "removed: block\n", "utf-8")
    write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])
    assert run(capsys, "apply", "c", "--auto-approve")[0] == 0
    (bob,) = (r["id"] for r in store_of(live_sandbox).all() if r["identifier"] == "bob")
    write_contacts(tmp_path / "c", [{"identifier": "ada"}])
    assert run(capsys, "apply", "c", "--auto-approve", "--allow-removal")[0] == 0
    assert stored(live_sandbox, bob)["blocked"] is True

    write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "bob"}])  # put back
    code, out, _ = run(capsys, "plan", "c", "--detailed-exitcode")
    assert code == 2
    assert f"~ update id {bob}, identifier bob (c/c.yaml:5)\n      ~ blocked: true -> false" in out
    assert run(capsys, "apply", "c", "--auto-approve")[0] == 0
    assert stored(live_sandbox, bob)["blocked"] is False
    assert '"blocked"' not in stored(live_sandbox, bob)["custom_attributes"][MARK]


def test_a_block_a_person_made_or_a_file_declares_stays(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    (tmp_path / "reconciler.yaml").write_text(desk.settings + "removed: block\n", "utf-8")
    write_contacts(tmp_path / "c", [{"identifier": "ada"}, {"identifier": "spam", "blocked": True}])
    assert run(capsys, "apply", "c", "--auto-approve")[0] == 0
    ada, spam = (
        next(r["id"] for r in store_of(live_sandbox).all() if r["identifier"] == name)
        for name in ("ada", "spam")
    )
    store_of(live_sandbox).replace({**stored(live_sandbox, ada), "blocked": True})  # an agent
    code, out, _ = run(capsys, "plan", "c", "--detailed-exitcode")
    assert code == 0, out
    assert stored(live_sandbox, ada)["blocked"] is True
    assert stored(live_sandbox, spam)["blocked"] is True


def test_an_only_key_changed_in_place_is_refused_not_removed_and_created(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    policy = "delete" if desk is CHATWOOT else "block"
    (tmp_path / "reconciler.yaml").write_text(desk.settings + f"removed: {policy}\n", "utf-8")
    write_contacts(tmp_path / "c", [{"email": "ada@old.example", "name": "Ada"}])
    assert run(capsys, "apply", "c", "--auto-approve")[0] == 0
    (ada,) = (r["id"] for r in store_of(live_sandbox).all())
    # The email fixed in place: nothing else links the new declaration to contact `ada`.
    write_contacts(tmp_path / "c", [{"email": "ada@new.example", "name": "Ada"}])
    before = snapshot(live_sandbox)

    code, _, err = run(capsys, "apply", "c", "--auto-approve", "--allow-removal", "--force")

    assert code == 1
    assert (
        f"c/c.yaml:4: the contact this creates may be contact id {ada}, which c/c.yaml declared "
        f"and no longer does, and which the plan would {policy}: if it is the same contact "
        f"with a new key, declare `id: {ada}` on it"
    ) in err
    assert "ada@" not in err  # no personal value in the line
    assert snapshot(live_sandbox) == before
    # The way out the line names: the contact follows its id.
    write_contacts(tmp_path / "c", [{"id": ada, "email": "ada@new.example", "name": "Ada"}])
    code, out, err = run(capsys, "apply", "c", "--auto-approve", "--allow-removal")
    assert code == 0, out + err
    assert stored(live_sandbox, ada)["email"] == "ada@new.example"
    assert stored(live_sandbox, ada)["blocked"] is False
