"""What the commands do differently for target chatwoot: the demo sandbox follows the target,
versions that lack or hide a field, mutes, and plain http said in the header."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_testing import (
    CHATWOOT,
    Desk,
    after_header,
    point_at,
    run,
    snapshot,
    store_of,
    stored,
    write_contacts,
)

from reconciler.commands.connect import context_line
from reconciler.input.settings import default_settings
from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread
from reconciler.targets.chatwoot import Chatwoot


@pytest.fixture
def old_chatwoot(sandbox_options: SandboxOptions) -> Iterator[RunningSandbox]:
    with start_in_thread(dataclasses.replace(sandbox_options, version="3.6.0")) as running:
        yield running


def test_sandbox_follows_the_target_in_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text("target: chatwoot\naccount_id: 7\n", "utf-8")
    examples = Path(__file__).resolve().parents[2] / "examples" / "contacts"
    code, out, err = run(capsys, "plan", str(examples), "--sandbox")
    assert code == 0, err
    assert "Target: chatwoot at sandbox:.reconciler/sandbox.sqlite (account 7)." in err
    assert "Plan: 2 to create, 3 to update, 18 unchanged." in out
    code, out, err = run(capsys, "apply", str(examples), "--sandbox", "--auto-approve")
    assert code == 0, err
    assert out.strip().endswith("Apply complete: 2 created, 3 updated, 0 failed. Also 18 marked.")
    code, out, _ = run(capsys, "plan", str(examples), "--sandbox", "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 23 contacts match the files.")


def test_a_field_an_old_chatwoot_lacks_is_one_plan_error(
    old_chatwoot: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, old_chatwoot, tmp_path, CHATWOOT)
    ada = int(store_of(old_chatwoot).insert({"identifier": "ada", "name": "Ada"})["id"])
    declared = [
        {"identifier": "ada", "name": "Ada L.", "blocked": False},
        {"identifier": "bob", "name": "Bob", "blocked": True},
        {"identifier": "cyd", "name": "Cyd", "blocked": False},
    ]
    files = write_contacts(tmp_path / "contacts", declared)
    before = snapshot(old_chatwoot)
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert (code, out) == (1, "")
    assert after_header(err) == (
        f"error: contacts/c.yaml:4 and 2 other contact(s): Chatwoot 3.6.0 at "
        f"{old_chatwoot.base_url} has no `blocked` on contacts (it came in 3.7.0): upgrade "
        "Chatwoot, or remove `blocked` from the files\n"
    )
    assert snapshot(old_chatwoot) == before

    # Without it, the old server is reconciled as any other.
    for contact in declared:
        del contact["blocked"]
    write_contacts(tmp_path / "contacts", declared)
    code, out, err = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 0, out + err
    code, out, _ = run(capsys, "plan", str(files), "--detailed-exitcode")
    assert (code, out.splitlines()[0]) == (0, "No changes. 3 contacts match the files.")
    assert stored(old_chatwoot, ada)["name"] == "Ada L."


@pytest.fixture
def unseeing_chatwoot(sandbox_options: SandboxOptions) -> Iterator[RunningSandbox]:
    """A Chatwoot that stores ``blocked`` and doesn't show it."""
    with start_in_thread(dataclasses.replace(sandbox_options, version="4.0.1")) as running:
        yield running


def test_blocked_where_chatwoot_stores_it_unseen_is_one_plan_error(
    unseeing_chatwoot: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, unseeing_chatwoot, tmp_path, CHATWOOT)
    write_contacts(tmp_path / "contacts", [{"identifier": "spam", "blocked": True}])
    before = snapshot(unseeing_chatwoot)
    code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert (code, out) == (1, "")
    assert after_header(err) == (
        f"error: contacts/c.yaml:4: Chatwoot 4.0.1 at {unseeing_chatwoot.base_url} stores "
        "`blocked` but never shows it on a contact (versions 3.7.0 to before 4.0.2), so no "
        "plan can see what apply wrote: upgrade Chatwoot to 4.0.2 or later, or remove "
        "`blocked` from the files\n"
    )
    assert snapshot(unseeing_chatwoot) == before

    # Nor is a dropped contact blocked there: `removed: block` names the way out.
    (tmp_path / "reconciler.yaml").write_text(CHATWOOT.settings + "removed: block\n", "utf-8")
    write_contacts(tmp_path / "contacts", [{"identifier": "spam"}, {"identifier": "ham"}])
    assert run(capsys, "apply", "contacts", "--auto-approve")[0] == 0
    write_contacts(tmp_path / "contacts", [{"identifier": "ham"}])
    code, _, err = run(capsys, "plan", "contacts")
    assert code == 1
    assert "the plan blocks id " in err and "set `removed: keep`" in err


def test_a_plan_that_unblocks_says_it_unmutes_where_a_mute_blocks(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    muted = int(store_of(live_sandbox).insert({"identifier": "m", "blocked": True})["id"])
    write_contacts(tmp_path / "contacts", [{"identifier": "m", "blocked": False}])
    code, out, _ = run(capsys, "plan", "contacts", "--format", "markdown")
    assert code == 0
    assert "!     blocked: true -> false" in out
    said = (
        f"the plan unblocks 1 contact(s) (id {muted}): in Chatwoot, muting a conversation "
        "blocks its contact, so apply also unmutes their conversations"
    )
    assert (said in out) is (desk is CHATWOOT)  # LiveDesk documents no mutes


def test_the_header_says_when_plain_http_was_allowed() -> None:
    settings = dataclasses.replace(
        default_settings(), target="chatwoot", account_id=3, allow_plain_http=True
    )
    environ = {"CHATWOOT_API_TOKEN": "t", "CHATWOOT_BASE_URL": "http://10.0.0.5:3000"}
    target = Chatwoot.from_environment(settings, environ)
    header = context_line(settings, target)
    assert header.startswith("Settings: no reconciler.yaml (the defaults). Target: chatwoot at ")
    assert "plain http (allow_plain_http)" in header and "unencrypted" in header
    https = Chatwoot.from_environment(
        settings, {**environ, "CHATWOOT_BASE_URL": "https://chat.example.com"}
    )
    assert "plain http" not in context_line(settings, https)
