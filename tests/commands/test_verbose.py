"""-v: reconciler's own request records on stderr, before or after the command, nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_testing import store_of, write_contacts

import reconciler
from reconciler.sandbox.server import RunningSandbox

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
PERSONAL = {
    "identifier": "cust-7781",
    "email": "grace.hopper@example.com",
    "name": "Grace Brewster Hopper",
    "phone_number": "+14155550177",
}


def stderr_of(sandbox: RunningSandbox, cwd: Path, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        cwd=cwd,
        env={
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "LIVEDESK_BASE_URL": sandbox.base_url,
            "LIVEDESK_API_KEY": "sandbox",
            "LIVEDESK_API_SECRET": "sandbox",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 2), result.stderr
    return result.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_redacted_logs_requests_and_no_personal_value(
    live_sandbox: RunningSandbox, tmp_path: Path, where: str
) -> None:
    store_of(live_sandbox).insert({**PERSONAL, "name": "Grace H."})
    created = {"identifier": "cust-9912", "email": "ada.king@example.com", "name": "Ada King"}
    files = write_contacts(tmp_path / "contacts", [PERSONAL, created])
    command = ["apply", str(files), "--auto-approve", "--redact"]
    argv = ["-v", *command] if where == "before" else [*command, "-v"]
    err = stderr_of(live_sandbox, tmp_path, *argv)

    records = re.findall(r"^DEBUG reconciler\.\S+: (\w+) (/\S*) -> (\d{3}) in [\d.]+ ms", err, re.M)
    assert ("GET", "/api/v2/accounts/contacts?sort&include_contact_inboxes&page=1", "200") in [
        (method, path, status) for method, path, status in records
    ]
    assert any(method == "POST" for method, _, _ in records)
    assert any(method == "PATCH" for method, _, _ in records)
    assert "HTTP requests sent to" in err  # the count
    assert not re.search(r"^(DEBUG|INFO) (httpx|httpcore|stamina|uvicorn)", err, re.M)
    for value in [*PERSONAL.values(), *created.values(), "Grace H."]:
        assert value.lower() not in err.lower(), value
