"""Inputs with one meaning and failures in one line: environment flags, global flags after
the command, durations with a unit, outputs that aren't regular files, init where nothing
can be written, a full disk."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cli_testing import Desk, edited, point_at, run, snapshot, store_of, stored, write_contacts
from reliability_testing import client_options

import reconciler
from reconciler.engine.planfile import checksum, signature
from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread
from reconciler.targets.http.connection import RetryPolicy

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
FEW_QUICK_RETRIES = RetryPolicy(
    attempts=3, timeout=10.0, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0
)


@pytest.mark.parametrize("variable", ["RECONCILER_SANDBOX", "RECONCILER_REDACT"])
@pytest.mark.parametrize("value", ["y", "enabled", "2"])
def test_an_environment_flag_takes_only_its_documented_values(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, "validate", ".")
    assert (code, out) == (1, "")
    assert err == (
        f"error: {variable} is neither on (1, true, yes, on) nor off (0, false, no, off): "
        "set it to one of them, or unset it\n"
    )


@pytest.mark.parametrize("value", ["1", "TRUE", "Yes", "on", "0", "false", "NO", "Off", ""])
def test_every_documented_spelling_is_taken(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    value: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    monkeypatch.setenv("RECONCILER_NO_COLOR", value)
    assert run(capsys, "validate", "contacts")[0] == 0


def test_global_flags_go_before_or_after_the_command(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada"}])
    before = run(capsys, "--no-color", "--redact", "-v", "plan", "contacts")
    after = run(capsys, "plan", "contacts", "--no-color", "--redact", "-v")
    assert before[0] == after[0] == 0
    assert before[1] == after[1]
    assert '"(redacted)"' in after[1]  # --redact after the command is --redact
    assert "HTTP requests sent" in after[2]  # and -v is -v


@pytest.mark.parametrize(
    ("written", "seconds"), [("1h", "3600"), ("10m", "600"), ("90s", "90"), ('"30"', "30")]
)
def test_a_duration_with_a_unit_says_the_number_to_write(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    written: str,
    seconds: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(f"deadline: {written}\n", "utf-8")
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    code, _, err = run(capsys, "plan", "contacts")
    assert code == 1
    assert err.splitlines()[0] == (
        f"reconciler.yaml:1:11: error: $.deadline: must be a number of seconds, with no unit "
        f"and no quotes: {seconds}"
    )


def test_a_plan_written_to_a_fifo_or_a_device_never_replaces_it(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada"}])
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, err = run(capsys, "plan", "contacts", "--out", str(fifo))
    reader.join(timeout=10)
    assert code == 0, err
    assert b'"format_version": "2"' in received[0]
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not a file in its place

    code, _, err = run(capsys, "plan", "contacts", "--out", os.devnull)
    assert code == 0, err
    assert stat.S_ISCHR(Path(os.devnull).stat().st_mode)  # as root too


def test_an_export_to_a_fifo_streams_it(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, err = run(capsys, "export", str(fifo))
    reader.join(timeout=10)
    assert code == 0, err
    assert b"# Written by `reconciler export`" in received[0]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_init_where_nothing_can_be_written_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("", "utf-8")
    code, out, err = run(capsys, "init", "a-file/repo")
    assert (code, out) == (1, "")
    assert err == (
        "error: can't write a-file/repo/contacts (Not a directory): nothing was written; run "
        "init where you can create files\n"
    )


def test_output_to_a_full_disk_is_one_line() -> None:
    with Path("/dev/full").open("w", encoding="utf-8") as full:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "schema", "contacts"],
            env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr == "error: can't write the output (No space left on device)\n"


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            "account_id: 3\n",
            "reconciler.yaml:1:13: error: $.account_id: is Chatwoot's (target: chatwoot), and "
            "the target here is LiveDesk",
        ),
        (
            "ownership: false\nremoved: delete\n",
            "reconciler.yaml:2:10: error: $.removed: can remove nothing with ownership: false",
        ),
        (
            "removed: block\ndelete_with_conversations: true\n",
            "reconciler.yaml:2:28: error: $.delete_with_conversations: is for removed: delete",
        ),
    ],
)
def test_contradictory_settings_are_refused_naming_both_halves(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: str,
    line: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(settings, "utf-8")
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    code, out, err = run(capsys, "plan", "contacts")
    assert (code, out) == (1, "")
    assert err.splitlines()[0].startswith(line)


def test_absent_beside_a_value_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_contacts(
        tmp_path / "contacts",
        [{"identifier": "ada", "phone_number": "+15550100", "absent": True, "name": "Ada"}],
    )
    code, out, _ = run(capsys, "validate", "contacts")
    assert code == 1
    assert out.splitlines()[0] == (
        "contacts/c.yaml:7:3: error: $.contacts[0].name: a contact declared absent: true says "
        "how to find it and nothing else (id, identifier, email, phone_number): remove this, "
        "or remove absent"
    )


def test_declaring_the_markers_own_label_is_refused(
    chatwoot: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_contacts(
        tmp_path / "contacts", [{"identifier": "ada", "labels": ["vip", "managed_by_reconciler"]}]
    )
    code, _, err = run(capsys, "plan", "contacts")
    assert code == 1
    assert (
        "contacts/c.yaml:4: the label managed_by_reconciler is reconciler's ownership marker" in err
    )


def test_a_saved_plan_can_t_be_forged_by_whoever_can_edit_it(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada"}])
    assert run(capsys, "plan", "contacts", "--out", "plan.json")[0] == 0
    plan = tmp_path / "plan.json"
    made = json.loads(plan.read_text("utf-8"))
    assert made["checksum"].startswith("hmac-sha256:")
    before = snapshot(live_sandbox)

    def forged(document: dict[str, Any]) -> None:
        document["changes"][0]["fields"][-1]["after"] = "Mallory"
        document["changes"][0]["operations"][0]["body"]["name"] = "Mallory"

    # The three lines of Python: edit, then checksum again as the old format did.
    edited(plan, forged, rechecksum=False)
    document = json.loads(plan.read_text("utf-8"))
    document["checksum"] = checksum(document)
    plan.write_text(json.dumps(document), "utf-8")
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert "plan.json is not signed" in err
    # Or signed with a key of one's own.
    document["checksum"] = signature(document, b"a key of my own")
    plan.write_text(json.dumps(document), "utf-8")
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert "its signature doesn't verify" in err

    # A plan made under one credential doesn't verify under another of the same account.
    plan.write_text(json.dumps(made), "utf-8")
    monkeypatch.setenv("LIVEDESK_API_SECRET", "rotated")
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert "made with another credential (its signature doesn't verify)" in err
    assert snapshot(live_sandbox) == before
    # show needs no credential, and shows it
    assert run(capsys, "show", "plan.json")[0] == 0


def test_a_write_that_landed_is_never_reported_failed(
    sandbox_options: SandboxOptions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    # Every write is stored, then its answer lost (a 500 or a dropped connection), retries
    # included: the values are at the desk all the same.
    lossy = dataclasses.replace(sandbox_options, fail_after_write=1.0, fault_seed=3)
    client_options(monkeypatch, retry=FEW_QUICK_RETRIES)
    with start_in_thread(lossy) as sandbox:
        point_at(monkeypatch, sandbox, tmp_path, desk)
        (tmp_path / "reconciler.yaml").write_text(desk.settings + "ownership: false\n", "utf-8")
        ada = int(store_of(sandbox).insert({"identifier": "ada", "name": "Ada"})["id"])
        write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada L."}])
        code, out, err = run(capsys, "apply", "contacts", "--auto-approve")
        assert code == 0, out + err
        assert "Apply complete: 0 created, 1 updated, 0 failed." in out
        assert stored(sandbox, ada)["name"] == "Ada L."


def test_a_stale_contact_is_named_as_the_desk_knows_it(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    (tmp_path / "reconciler.yaml").write_text("ownership: false\n", "utf-8")
    ada = int(store_of(live_sandbox).insert({"identifier": "ada", "name": "Ada"})["id"])
    write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada L."}])
    assert run(capsys, "plan", "contacts", "--out", "plan.json")[0] == 0
    # Meanwhile the desk's contact became someone else.
    record = stored(live_sandbox, ada)
    store_of(live_sandbox).replace({**record, "identifier": "mallory", "name": "Mallory"})
    code, _, err = run(capsys, "apply", "--plan", "plan.json")
    assert code == 1
    assert (
        f"stale: id {ada}, which the desk no longer knows by the plan's identifier "
        "(contacts/c.yaml:4): changed since the plan was made: name"
    ) in err


def test_sandbox_where_its_state_cant_be_kept_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".reconciler").write_text("", "utf-8")  # a file where its directory goes
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    code, out, err = run(capsys, "plan", "contacts", "--sandbox")
    assert (code, out) == (1, "")
    assert err.startswith("error: --sandbox keeps its database in .reconciler/ under the ")
    assert "Traceback" not in err


def test_a_renamed_marker_is_named_with_the_contacts_that_carry_the_old_one(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}, {"identifier": "bob"}])
    assert run(capsys, "apply", "contacts", "--auto-approve")[0] == 0  # marked
    (tmp_path / "reconciler.yaml").write_text(desk.settings + "marker: managed_by_ops\n", "utf-8")
    code, out, _ = run(capsys, "plan", "contacts")
    assert code == 0
    ids = sorted(int(record["id"]) for record in store_of(live_sandbox).all())
    assert (
        f"2 contact(s) carry reconciler's ownership marker under "
        f"custom_attributes.managed_by_reconciler, and the `marker` setting now says "
        f"managed_by_ops (ids {', '.join(map(str, ids))})"
    ) in out
    assert "put `marker: managed_by_reconciler` back" in out


def test_without_the_sandbox_stack_sandbox_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the GitHub Action installs reconciler: its lock leaves the server stack out.
    monkeypatch.delitem(sys.modules, "reconciler.sandbox.server", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.chdir(tmp_path)
    write_contacts(tmp_path / "contacts", [{"identifier": "ada"}])
    for argv in (["plan", "contacts", "--sandbox"], ["sandbox", "--port", "0"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, "")
        assert err == (
            "error: the sandbox needs its server stack (uvicorn), which this install leaves "
            "out: pip install 'contacts-reconciler[sandbox]'\n"
        )
