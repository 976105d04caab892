"""500 changes applied through the CLI to a real sandbox that fails over a fifth of requests,
through each target's face."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from pathlib import Path

import pytest
from cli_testing import Desk, point_at, run, store_of, write_contacts, write_settings
from reliability_testing import QUICK_RETRIES, assert_converged, client_options, workload

from reconciler.sandbox.server import RunningSandbox, SandboxOptions

SERVER_RATE_LIMIT = 150  # requests a second; over it, a 429
SETTINGS = """\
concurrency: 16
rate_limit: 140
max_changes: "100%"
"""


@pytest.fixture
def sandbox_options(sandbox_options: SandboxOptions) -> SandboxOptions:
    return dataclasses.replace(
        sandbox_options,
        fault_rate=0.2,
        fail_after_write=0.1,
        rate_limit=SERVER_RATE_LIMIT,
        rate_window=1.0,  # Chatwoot's windows are a minute: shorter, for 429s in a short run
        fault_seed=6,
    )


def requests_sent(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """HTTP requests and failed attempts of the command just run, from the client's log."""
    messages = [record.getMessage() for record in caplog.records]
    caplog.clear()
    sent = sum(
        int(match.group(1))
        for message in messages
        if (match := re.fullmatch(r"(\d+) HTTP requests sent to .*", message))
    )
    return sent, sum(1 for message in messages if message.startswith("attempt failed"))


def test_500_changes_through_faults_end_as_declared_with_no_duplicate(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    desk: Desk,
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.targets.http.client")
    # The default backoff (0.2 s doubling to 10 s) would make the run's length hang on its
    # unluckiest contact; the same number of attempts with short waits keeps it to seconds.
    client_options(monkeypatch, retry=QUICK_RETRIES)
    # The sandbox's windows are a second here, not Chatwoot's minute: the client waits out
    # a second, then.
    monkeypatch.setattr("reconciler.targets.chatwoot.RATE_WINDOW", 1.0)
    store = store_of(live_sandbox)
    work = workload(store, updates=350, creates=150, unchanged=50, seed=6)
    assert work.changes == 500
    files = write_contacts(tmp_path / "contacts", work.declared)
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    config = write_settings(tmp_path, desk, SETTINGS)
    apply = ("apply", str(files), "--auto-approve", "--config", str(config))

    started = time.monotonic()
    code, out, err = run(capsys, *apply)
    assert "Plan: 150 to create, 350 to update, 50 unchanged." in out
    runs = [(code, out.strip().splitlines()[-1], *requests_sent(caplog))]
    if code != 0:
        # Retries can run out under faults. Each contact that failed says so, the others
        # were done, and the next apply must finish exactly the ones that failed.
        # (A contact whose last attempt failed may still have had an earlier one land.)
        failed = re.findall(r"\(([^()]+:\d+)\): failed: ", out)
        assert failed and f", {len(failed)} failed." in runs[0][1], out
        code, out, err = run(capsys, *apply)
        replanned = re.findall(r"^  [~+] (?:update|create) .* \(([^()]+:\d+)\)$", out, re.M)
        assert set(replanned) <= set(failed), out
        runs.append((code, out.strip().splitlines()[-1], *requests_sent(caplog)))
    elapsed = time.monotonic() - started
    assert code == 0, (out, err)
    assert "Traceback" not in err
    with capsys.disabled():
        print(f"\n  {elapsed:.1f} s; per apply (exit, summary, requests, retries): {runs}")

    assert_converged(store, work)
    code, out, _ = run(capsys, "plan", str(files), "--config", str(config), "--detailed-exitcode")
    assert (code, out.strip().splitlines()[0]) == (0, "No changes. 550 contacts match the files.")
