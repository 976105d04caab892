"""The run's deadline (reconciler.yaml): past it, nothing more is sent, and the user is told."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_testing import after_header, point_at, run, store_of, write_contacts

from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread


@pytest.fixture
def slow_sandbox(sandbox_options: SandboxOptions) -> Iterator[RunningSandbox]:
    with start_in_thread(dataclasses.replace(sandbox_options, latency_ms=100)) as running:
        yield running


def test_plan_past_its_deadline_stops_with_one_line(
    slow_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = write_contacts(tmp_path / "c", [{"id": n} for n in range(1, 40)])
    (tmp_path / "reconciler.yaml").write_text("deadline: 0.3\nconcurrency: 2\n", "utf-8")
    point_at(monkeypatch, slow_sandbox, tmp_path)
    code, out, err = run(capsys, "plan", str(files))
    assert (code, out) == (1, "")
    assert after_header(err) == "error: the run passed its deadline: nothing more was sent\n"


def test_apply_past_its_deadline_finishes_what_is_under_way_and_says_what_is_left(
    slow_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = store_of(slow_sandbox)
    for n in range(60):
        store.insert({"identifier": f"c-{n}", "name": "Old", "created_at": 1_700_000_000 + n})
    files = write_contacts(
        tmp_path / "c", [{"identifier": f"c-{n}", "name": "New"} for n in range(60)]
    )
    (tmp_path / "reconciler.yaml").write_text(
        'deadline: 1.5\nconcurrency: 2\nmax_changes: "100%"\n', "utf-8"
    )
    point_at(monkeypatch, slow_sandbox, tmp_path)
    code, out, _ = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 1
    summary = re.search(
        r"Apply stopped at the deadline: 0 created, (\d+) updated, 0 failed, (\d+) not started; "
        r"run apply again to finish\.",
        out,
    )
    assert summary is not None, out
    updated, not_started = map(int, summary.groups())
    assert updated + not_started == 60 and not_started > 0
    assert sum(1 for record in store.all() if record["name"] == "New") == updated


def test_apply_ends_within_its_deadline_and_one_timeout_retries_included(
    sandbox_options: SandboxOptions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every write is answered with a failure: unbounded, its retries (8 attempts, seconds
    # of backoff) would carry the run a long way past the deadline.
    failing = dataclasses.replace(sandbox_options, fail_after_write=1.0, fault_seed=5)
    with start_in_thread(failing) as sandbox:
        for n in range(6):
            store_of(sandbox).insert({"identifier": f"c-{n}", "name": "Old"})
        files = write_contacts(
            tmp_path / "c", [{"identifier": f"c-{n}", "name": "New"} for n in range(6)]
        )
        (tmp_path / "reconciler.yaml").write_text(
            'deadline: 1.5\ntimeout: 1\nconcurrency: 2\nmax_changes: "100%"\nownership: false\n',
            "utf-8",
        )
        point_at(monkeypatch, sandbox, tmp_path)
        started = time.monotonic()
        code, out, _ = run(capsys, "apply", str(files), "--auto-approve")
        took = time.monotonic() - started
    assert code == 1
    summary = re.search(r"Apply stopped at the deadline: .* (\d+) failed, (\d+) not started", out)
    assert summary is not None, out
    assert sum(map(int, summary.groups())) == 6  # each under way failed, the rest unstarted
    # 1.5 s, one timeout (1 s), and room for a loaded machine: far under the retries' 20 s.
    assert took < 6, took
