"""Partial plans end to end, on both faces of a real sandbox: --target and --exclude (each
form, together), what they never do (release, block, delete), how they say so in every
format, saved partial plans, and --changed-since in a real git repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_testing import (
    CHATWOOT,
    Desk,
    edited,
    point_at,
    run,
    snapshot,
    store_of,
    stored,
    write_contacts,
)

from reconciler.sandbox.server import RunningSandbox

PEOPLE = {
    "ada": {"identifier": "ada", "email": "ada@example.com", "name": "Ada"},
    "grace": {"identifier": "grace", "phone_number": "+15550100", "name": "Grace"},
    "bob": {"identifier": "bob", "name": "Bob"},
}
LABELS = {"ada": ["vip"], "bob": ["partner"]}  # on Chatwoot alone: LiveDesk has no labels
REQUEST = re.compile(r"\b(GET|POST|PATCH|PUT|DELETE) (\S+) -> ")


def git(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def requests(err: str) -> list[tuple[str, str]]:
    """The requests a ``-v`` run logged: (method, path)."""
    return [(match[1], match[2]) for match in REQUEST.finditer(err)]


def scanned(err: str) -> list[str]:
    """The pages of the whole listing a ``-v`` run read (a search or filter is a lookup)."""
    return [
        path
        for method, path in requests(err)
        if method == "GET" and "page=" in path and not re.search(r"[?&]q([&=]|$)", path)
    ]


def ids(sandbox: RunningSandbox) -> dict[str, int]:
    return {str(contact["identifier"]): int(contact["id"]) for contact in store_of(sandbox).all()}


@pytest.fixture
def tree(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> RunningSandbox:
    """Ada and Grace in contacts/vip.yaml, Bob in contacts/partners.yaml, applied (so
    managed), with removal on (delete on Chatwoot, block on LiveDesk), in a git repository
    whose one commit holds them."""
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    policy = "delete" if desk is CHATWOOT else "block"
    (tmp_path / "reconciler.yaml").write_text(desk.settings + f"removed: {policy}\n", "utf-8")
    write_files(tmp_path, desk)
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert code == 0, out + err
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / ".gitignore").write_text(".reconciler/\n", encoding="utf-8")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "contacts")
    return live_sandbox


def person(who: str, desk: Desk, **changes: Any) -> dict[str, Any]:
    labels = {"labels": LABELS[who]} if desk is CHATWOOT and who in LABELS else {}
    return {**PEOPLE[who], **labels, **changes}


def write_files(
    tmp_path: Path, desk: Desk, suffix: str = "", *, vip: tuple[str, ...] = ("ada", "grace")
) -> None:
    """contacts/vip.yaml (Ada and Grace) and contacts/partners.yaml (Bob), each name with
    ``suffix``: with one, a whole plan would update all three."""

    def named(who: str) -> dict[str, Any]:
        return person(who, desk, name=who.capitalize() + suffix)

    write_contacts(tmp_path / "contacts", [named(who) for who in vip], name="vip.yaml")
    write_contacts(tmp_path / "contacts", [named("bob")], name="partners.yaml")


def updated(out: str) -> list[str]:
    return re.findall(r"~ update id \d+, identifier (\w+)", out)


# --target and --exclude -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "chosen"),
    [
        (["--target", "identifier:ada"], ["ada"]),
        (["--target", "email:ADA@example.com"], ["ada"]),
        (["--target", "phone:+15550100"], ["grace"]),
        (["--target", "label:vip"], ["ada"]),
        (["--target", "contacts/partners.yaml"], ["bob"]),
        (["--target", "contacts/v*.yaml"], ["ada", "grace"]),
        (["--target", "contacts"], ["ada", "grace", "bob"]),
        (["--target", "label:vip", "--target", "identifier:bob"], ["ada", "bob"]),
        (["--exclude", "contacts/vip.yaml"], ["bob"]),
        (["--target", "contacts/vip.yaml", "--exclude", "phone:+15550100"], ["ada"]),
    ],
)
def test_a_selection_plans_and_applies_its_contacts_alone(
    tree: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    selectors: list[str],
    chosen: list[str],
    desk: Desk,
) -> None:
    if desk is not CHATWOOT and any(text.startswith("label:") for text in selectors):
        pytest.skip("LiveDesk has no labels")
    for number in range(300):  # a listing of this account is pages long
        store_of(tree).insert({"identifier": f"other-{number}", "name": "Other"})
    write_files(tmp_path, desk, " II")
    code, out, err = run(capsys, "-v", "plan", "contacts", *selectors)
    assert code == 0, err
    assert sorted(updated(out)) == sorted(chosen)
    assert f"Partial plan: {len(chosen)} of 3 declared contacts ({' '.join(selectors)})" in out
    assert "it releases and removes nothing" in out
    # Found by lookups (and, on Chatwoot, each one's labels read): the 300 others unread.
    contacts = [path for _, path in requests(err) if "/contacts" in path]
    assert len(contacts) <= 2 * len(chosen), contacts

    code, out, err = run(capsys, "apply", "contacts", "--auto-approve", *selectors)
    assert code == 0, out + err
    names = {who: stored(tree, ids(tree)[who])["name"] for who in PEOPLE}
    assert names == {
        name: name.capitalize() + (" II" if name in chosen else "")
        for name in ("ada", "grace", "bob")
    }


def test_a_targeted_plan_releases_blocks_and_deletes_nothing(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    (tmp_path / "contacts" / "partners.yaml").unlink()  # Bob is dropped
    write_contacts(
        tmp_path / "contacts",
        [person("ada", desk), {"identifier": "grace", "absent": True}],
        name="vip.yaml",
    )
    before = snapshot(tree)

    code, out, err = run(
        capsys,
        "apply",
        "contacts",
        "--target",
        "contacts/vip.yaml",
        "--auto-approve",
        "--allow-removal",
        "--force",
    )

    assert code == 0, out + err
    assert "No changes." in out
    assert "absent: true, but a plan with --target or --exclude removes nothing" in out
    assert snapshot(tree) == before
    code, out, _ = run(capsys, "plan", "contacts")  # the whole tree removes both
    assert len(re.findall(r"^  - (?:block|delete) ", out, re.MULTILINE)) == 2


def test_a_selector_that_cant_be_used_is_one_line_and_sends_nothing(
    tree: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "-v", "plan", "contacts", "--target", "email:nobody@example.com", "--exclude", "x:y"
    )
    assert code == 1
    assert not requests(err)
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "--target email:nobody@example.com: no contact the files declare matches it" in line
    assert "--exclude x:y: x: is no selector" in line


def test_a_partial_plan_says_so_in_every_format(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    write_files(tmp_path, desk, " II")
    selectors = ["--target", "email:ada@example.com", "--exclude", "contacts/partners.yaml"]
    code, out, _ = run(capsys, "plan", "contacts", *selectors, "--format", "markdown")
    assert code == 0
    assert (
        "> Partial plan: 1 of 3 declared contacts "
        "(` --target email:ada@example.com --exclude contacts/partners.yaml `)"
    ) in out
    code, out, _ = run(capsys, "plan", "contacts", *selectors, "--format", "json")
    selection = json.loads(out)["selection"]
    assert selection == {
        "target": ["email:ada@example.com"],
        "exclude": ["contacts/partners.yaml"],
        "changed_since": None,
        "declared": 3,
        "contacts": [{"field": "identifier", "value": "ada"}],
    }
    code, _, _ = run(capsys, "plan", "contacts", *selectors, "--redact", "--out", "plan.json")
    assert code == 0
    text = (tmp_path / "plan.json").read_text(encoding="utf-8")
    # Not "ada" alone: the plan's hex digests hold those letters now and then.
    assert "ada@example.com" not in text and '"ada"' not in text
    assert json.loads(text)["selection"]["target"] == ["email:(redacted)"]
    code, out, _ = run(capsys, "show", "plan.json")
    assert code == 0
    assert "Partial plan: 1 of 3 declared contacts (--target email:(redacted)" in out


# Saved partial plans ---------------------------------------------------------------------


def test_a_saved_partial_plan_applies_exactly_its_contacts(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    write_files(tmp_path, desk, " II")
    code, _, err = run(
        capsys, "plan", "contacts", "--target", "identifier:ada", "--out", "plan.json"
    )
    assert code == 0, err
    code, out, err = run(capsys, "apply", "--plan", "plan.json", "--auto-approve")
    assert code == 0, out + err
    assert "Apply complete: 0 created, 1 updated, 0 failed." in out
    assert stored(tree, ids(tree)["grace"])["name"] == "Grace"

    code, _, err = run(capsys, "apply", "--plan", "plan.json", "--target", "id:1")
    assert code == 1
    assert "apply --plan applies the saved plan's own selection" in err


def test_a_saved_partial_plan_widened_by_editing_is_refused(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    write_files(tmp_path, desk, " II")
    assert run(capsys, "plan", "contacts", "--out", "whole.json")[0] == 0
    whole = json.loads((tmp_path / "whole.json").read_text(encoding="utf-8"))
    bob_change = next(c for c in whole["changes"] if c["key"]["value"] == "bob")
    plan = tmp_path / "plan.json"
    assert (
        run(capsys, "plan", "contacts", "--target", "identifier:ada", "--out", "plan.json")[0] == 0
    )
    before = snapshot(tree)

    def add_bob(document: dict[str, Any]) -> None:
        document["changes"].append(bob_change)
        document["summary"]["update"] += 1

    edited(plan, add_bob)
    code, _, err = run(capsys, "apply", "--plan", "plan.json", "--auto-approve")
    assert code == 1
    assert "is to a contact its selection (--target identifier:ada) doesn't hold" in err
    assert "the plan was widened by editing; nothing was applied" in err

    bob = ids(tree)["bob"]
    marker = stored(tree, bob)["custom_attributes"]
    marker_key = next(iter(marker))

    def add_removal(document: dict[str, Any]) -> None:
        document["changes"].append(
            {
                "action": "block",
                "id": bob,
                "key": {"field": "identifier", "value": "bob"},
                "source": None,
                "fields": [{"path": "blocked", "before": False, "after": True}],
                "operations": [{"kind": "update", "body": {"blocked": True}}],
                "marker": marker[marker_key],
            }
        )
        document["summary"]["remove"] = 1

    assert (
        run(capsys, "plan", "contacts", "--target", "identifier:ada", "--out", "plan.json")[0] == 0
    )
    edited(plan, add_removal)
    code, _, err = run(capsys, "apply", "--plan", "plan.json", "--auto-approve", "--allow-removal")
    assert code == 1
    assert "would block it, which a plan with --target identifier:ada never does" in err
    assert snapshot(tree) == before


# --changed-since ----------------------------------------------------------------------


def test_changed_since_plans_the_changed_and_removes_the_dropped_by_lookups_alone(
    tree: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    write_contacts(
        tmp_path / "contacts",
        [person("ada", desk, name="Ada II"), person("grace", desk)],
        name="vip.yaml",
    )
    (tmp_path / "contacts" / "partners.yaml").unlink()
    write_contacts(tmp_path / "contacts", [{"identifier": "lin", "name": "Lin"}], name="new.yaml")
    bob = ids(tree)["bob"]
    for number in range(300):  # a listing of this account is pages long
        store_of(tree).insert({"identifier": f"other-{number}", "name": "Other"})

    code, out, err = run(capsys, "-v", "plan", "contacts", "--changed-since", "HEAD")

    assert code == 0, err
    commit = git(tmp_path, "rev-parse", "HEAD")[:12]
    assert (
        f"Partial plan: 2 of 3 declared contacts, and 1 the files dropped "
        f"(--changed-since HEAD ({commit}))"
    ) in out
    action = "delete" if desk is CHATWOOT else "block"
    assert f"- {action} id {bob}, identifier bob (no longer in the files)" in out
    assert updated(out) == ["ada"]
    assert "+ create identifier lin" in out
    assert "Plan: 1 to remove, 1 to create, 1 to update" in out
    assert len(scanned(err)) <= 1  # the first page tells the count: no walk, no scan

    code, out, err = run(
        capsys, "apply", "contacts", "--changed-since", "HEAD", "--auto-approve", "--allow-removal"
    )
    assert code == 0, out + err
    if desk is CHATWOOT:
        assert store_of(tree).get(bob) is None
    else:
        assert stored(tree, bob)["blocked"] is True


def test_changed_since_follows_a_renamed_file_and_removes_nothing(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "contacts" / "vip").mkdir()
    git(tmp_path, "mv", "contacts/vip.yaml", "contacts/vip/all.yaml")
    before = {number: stored(tree, number)["blocked"] for number in ids(tree).values()}

    code, out, err = run(
        capsys, "apply", "contacts", "--changed-since", "HEAD", "--auto-approve", "--allow-removal"
    )

    assert code == 0, out + err
    assert "Partial plan: 2 of 3 declared contacts (--changed-since HEAD" in out
    assert "Also 2 marked." in out  # their markers name the new file
    marker = json.dumps(stored(tree, ids(tree)["ada"])["custom_attributes"])
    assert "contacts/vip/all.yaml" in marker
    assert {number: stored(tree, number)["blocked"] for number in ids(tree).values()} == before


def test_changed_since_with_a_target_removes_nothing(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], desk: Desk
) -> None:
    (tmp_path / "contacts" / "partners.yaml").unlink()
    write_contacts(
        tmp_path / "contacts",
        [person("ada", desk, name="Ada II"), person("grace", desk)],
        name="vip.yaml",
    )
    code, out, _ = run(
        capsys, "plan", "contacts", "--changed-since", "HEAD", "--target", "identifier:ada"
    )
    assert code == 0
    assert updated(out) == ["ada"]
    assert "to remove" not in out
    assert "it releases and removes nothing" in out


def test_changed_since_plans_everything_when_the_settings_changed(
    tree: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "reconciler.yaml"
    settings.write_text(settings.read_text("utf-8") + "max_changes: 100\n", "utf-8")
    code, out, _ = run(capsys, "plan", "contacts", "--changed-since", "HEAD")
    assert code == 0
    assert "Partial plan: 3 of 3 declared contacts" in out
    assert "reconciler.yaml changed since HEAD: every contact may plan otherwise" in out


def test_changed_since_an_unknown_or_unfetched_commit_says_how_to_fetch_it(
    tree: RunningSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(capsys, "plan", "contacts", "--changed-since", "no-such-branch")
    assert code == 1
    assert "--changed-since no-such-branch: git doesn't know it here; fetch it first" in err

    base = git(tmp_path, "rev-parse", "HEAD")
    write_contacts(
        tmp_path / "contacts",
        [person("ada", desk, name="Ada II"), person("grace", desk)],
        name="vip.yaml",
    )
    git(tmp_path, "commit", "-qam", "Ada II")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{tmp_path}", str(shallow))
    (shallow / "reconciler.yaml").write_text(
        (tmp_path / "reconciler.yaml").read_text("utf-8"), "utf-8"
    )
    monkeypatch.chdir(shallow)
    code, _, err = run(capsys, "plan", "contacts", "--changed-since", base)
    assert code == 1
    assert "this checkout is shallow and doesn't have it; fetch it first" in err
    assert f"git fetch --depth=1 origin {base}" in err
    git(shallow, "fetch", "-q", "--depth=1", "origin", base)
    code, out, err = run(capsys, "plan", "contacts", "--changed-since", base)
    assert code == 0, err
    assert updated(out) == ["ada"]


def test_changed_since_outside_a_git_repository_is_one_line(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    write_contacts(tmp_path / "contacts", [PEOPLE["ada"]])
    code, _, err = run(capsys, "plan", "contacts", "--changed-since", "main")
    assert code == 1
    assert "--changed-since needs a git repository" in err
