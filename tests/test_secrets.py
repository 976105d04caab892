"""Every command, with -v, against a sandbox that knows a distinctive secret: the secret and
the Authorization header never reach stdout, stderr, a log record or a file written.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_testing import Desk, run, store_of, stored, write_contacts, write_settings
from reliability_testing import QUICK_RETRIES, client_options

import reconciler
from reconciler.sandbox.server import RunningSandbox, SandboxOptions

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
API_KEY = "reconciler-key"
SECRET = "Zx9-s3cr3t-Qw7-never-shown"
WRONG_SECRET = "Wr0ng-s3cr3t-Pk4-also-never-shown"
TOKEN = "Cw7-t0k3n-Hj2-never-shown"  # Chatwoot's; its profile answer echoes it back
WRONG_TOKEN = "Wr0ng-t0k3n-Lm5-also-never-shown"


def leaks(secret: str) -> list[str]:
    """What must never appear: the secret, and the header value built from it."""
    token = base64.b64encode(f"{API_KEY}:{secret}".encode()).decode()
    return [secret, token, f"Basic {token}"]


FORBIDDEN = [*leaks(SECRET), *leaks(WRONG_SECRET), TOKEN, WRONG_TOKEN]


@pytest.fixture
def sandbox_options(sandbox_options: SandboxOptions) -> SandboxOptions:
    # Some failed requests too, so that the retry and error paths log as well.
    return dataclasses.replace(
        sandbox_options,
        api_key=API_KEY,
        api_secret=SECRET,
        chatwoot_token=TOKEN,
        fault_rate=0.15,
        fault_seed=3,
    )


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every log record: as formatted, its message, its arguments and all its attributes."""
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    return texts


def written_files(root: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def assert_nothing_leaked(texts: list[str], files: dict[str, bytes]) -> None:
    for needle in FORBIDDEN:
        for text in texts:
            assert needle not in text
        for name, content in files.items():
            assert needle.encode() not in content, name


def test_no_command_shows_the_secret(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    desk: Desk,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="stamina")  # main() quiets it without -v
    client_options(monkeypatch, retry=QUICK_RETRIES)
    store = store_of(live_sandbox)
    ada = int(store.insert({"identifier": "ada", "email": "ada@example.com", "name": "Ada"})["id"])
    bob = int(store.insert({"identifier": "bob", "email": "bob@example.com", "name": "Bob"})["id"])
    store.insert({"email": "dan@example.com", "name": "Dan"})  # never declared
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVEDESK_BASE_URL", live_sandbox.base_url)
    monkeypatch.setenv("LIVEDESK_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEDESK_API_SECRET", SECRET)
    monkeypatch.setenv("CHATWOOT_BASE_URL", live_sandbox.base_url)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", TOKEN)
    if desk.settings:
        write_settings(tmp_path, desk)
    declared: list[dict[str, Any]] = [
        {"id": ada, "name": "Ada Lovelace", "custom_attributes": {"tier": "gold"}},
        {"identifier": "cyd", "email": "cyd@example.com", "name": "Cyd"},
    ]
    files = str(write_contacts(tmp_path / "contacts", declared))
    plan_file = str(tmp_path / "plan.json")
    printed: list[str] = []

    def cli(*argv: str, expect: int = 0) -> str:
        code, out, err = run(capsys, "-v", *argv)
        printed.extend([out, err])
        assert code == expect, (argv, out, err)
        return out + err

    cli("validate", files)
    cli("plan", files)
    cli("plan", files, "--out", plan_file, "--detailed-exitcode", expect=2)
    cli("plan", files, "--format", "json")
    cli("plan", files, "--format", "markdown", "--redact")
    cli("show", plan_file)
    cli("show", plan_file, "--format", "json")
    assert "Apply complete: 1 created, 1 updated, 0 failed." in cli("apply", "--plan", plan_file)

    # apply with the files; a value another contact holds is refused at plan time.
    declared[0]["custom_attributes"] = {"tier": "platinum"}
    declared.append({"id": bob, "email": "dan@example.com"})
    write_contacts(tmp_path / "contacts", declared)
    assert "has already been taken" in cli("apply", files, "--auto-approve", expect=1)
    assert "has already been taken" in cli("apply", files, "--auto-approve", "--redact", expect=1)
    declared.pop()

    # A stale saved plan is refused.
    declared[0]["name"] = "Ada King"
    write_contacts(tmp_path / "contacts", declared)
    cli("plan", files, "--out", plan_file)
    store.replace({**stored(live_sandbox, ada), "name": "Changed elsewhere"})
    assert "nothing was applied" in cli("apply", "--plan", plan_file, expect=1)

    cli("export")
    cli("export", str(tmp_path / "exported" / "contacts.yaml"))
    cli("export", str(tmp_path / "split"), "--split")
    cli("export", "--query", "example.com")

    # The wrong secret or token: 401 on every command that talks to the desk.
    monkeypatch.setenv("LIVEDESK_API_SECRET", WRONG_SECRET)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", WRONG_TOKEN)
    service = "Chatwoot" if desk.name == "chatwoot" else "LiveDesk"
    for argv in (["plan", files], ["apply", files, "--auto-approve"], ["export"]):
        assert f"{service} answered 401" in cli(*argv, expect=1)

    logs = logged(caplog)
    assert "attempt failed" in caplog.text  # the retry path logged too
    assert "send_request_headers.complete" in caplog.text  # and the HTTP stack's own log
    assert_nothing_leaked(printed + logs, written_files(tmp_path))
    assert json.loads(Path(plan_file).read_text(encoding="utf-8"))["changes"]


@pytest.mark.parametrize(
    ("secret", "expect"),
    [(SECRET, 2), (WRONG_SECRET, 1)],
    ids=["right secret", "wrong secret"],
)
def test_the_real_process_logs_no_secret_with_verbose(
    live_sandbox: RunningSandbox, tmp_path: Path, secret: str, expect: int
) -> None:
    """``python -m reconciler -v``: the real stderr, with httpx's and httpcore's debug logs."""
    store_of(live_sandbox).insert({"identifier": "ada", "name": "Ada"})
    files = write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada L."}])
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "-v", "plan", str(files), "--detailed-exitcode"],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "LIVEDESK_BASE_URL": live_sandbox.base_url,
            "LIVEDESK_API_KEY": API_KEY,
            "LIVEDESK_API_SECRET": secret,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == expect, result.stderr
    assert "DEBUG" in result.stderr  # the debug log was on
    assert_nothing_leaked([result.stdout, result.stderr], written_files(tmp_path))
