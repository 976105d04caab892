"""The run's deadline (reconciler.yaml): past it, nothing more is sent, and the user is told."""

from __future__ import annotations

import dataclasses
import re
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
