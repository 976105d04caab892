"""An apply killed with SIGKILL while it writes: the next apply finishes the job, no duplicate.

The sandbox runs in this process and outlives the apply, which runs as its own process.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_testing import point_at, run, store_of, write_contacts
from reliability_testing import assert_converged, workload

import reconciler
from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
UPDATES, CREATES, UNCHANGED = 40, 20, 5
SETTINGS = 'concurrency: 4\nmax_changes: "100%"\n'
OUTCOME = re.compile(r"\): (updated|created \(id \d+\)|failed: .*)$")


@pytest.fixture
def slow_sandbox(sandbox_options: SandboxOptions) -> Iterator[RunningSandbox]:
    """A sandbox slow enough (50 ms a request) that apply takes about a second to write."""
    with start_in_thread(dataclasses.replace(sandbox_options, latency_ms=50)) as running:
        yield running


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's stdout, line by line as it comes; None at the end."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def apply_killed_midway(
    argv: list[str], env: dict[str, str], cwd: Path, after_outcomes: int, then_sleep: float
) -> list[str]:
    """Start an apply, SIGKILL it ``then_sleep`` s after its ``after_outcomes``-th result.

    Returns the lines it printed. Fails if the apply ended by itself first.
    """
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = lines_of(process)
        printed: list[str] = []
        applying, outcomes = False, 0
        deadline = time.monotonic() + 60
        while not applying or outcomes < after_outcomes:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, "apply ended before it was killed:\n" + "\n".join(printed)
            printed.append(line)
            applying = applying or line.startswith("Plan: ")
            outcomes += bool(applying and OUTCOME.search(line))
        time.sleep(then_sleep)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL, "\n".join(printed)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return printed


@pytest.mark.parametrize("kill_seed", [1, 2, 3])
def test_an_apply_killed_while_writing_is_finished_by_the_next(
    slow_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kill_seed: int,
) -> None:
    rng = random.Random(kill_seed)
    store = store_of(slow_sandbox)
    work = workload(store, updates=UPDATES, creates=CREATES, unchanged=UNCHANGED, seed=kill_seed)
    files = write_contacts(tmp_path / "contacts", work.declared)
    config = tmp_path / "reconciler.yaml"
    config.write_text(SETTINGS, encoding="utf-8")
    point_at(monkeypatch, slow_sandbox, tmp_path)
    apply = ["apply", str(files), "--auto-approve", "--config", str(config)]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "PYTHONUNBUFFERED": "1",
    }

    # Somewhere in the first three quarters of the writes, between two results.
    after_outcomes = rng.randrange(0, (UPDATES + CREATES) * 3 // 4)
    then_sleep = rng.uniform(0.0, 0.1)
    printed = apply_killed_midway(
        [sys.executable, "-m", "reconciler", *apply], env, tmp_path, after_outcomes, then_sleep
    )
    done = sum(1 for line in printed if OUTCOME.search(line))
    assert done < UPDATES + CREATES

    code, out, err = run(capsys, *apply)
    assert code == 0, (out, err)
    replanned = re.search(r"Plan: (\d+) to create, (\d+) to update", out)
    assert replanned is not None, out
    left = sum(map(int, replanned.groups()))
    # What the killed apply reported done is not planned again.
    assert left <= UPDATES + CREATES - done, (done, out)
    with capsys.disabled():
        print(f"\n  killed after {done} results (+{then_sleep * 1000:.0f} ms); {left} left")

    assert_converged(store, work)
    code, out, _ = run(capsys, "plan", str(files), "--config", str(config), "--detailed-exitcode")
    assert code == 0, out
    assert out.startswith("No changes.")


def test_ctrl_c_during_apply_finishes_the_writes_under_way_and_says_what_is_left(
    slow_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = store_of(slow_sandbox)
    work = workload(store, updates=UPDATES, creates=CREATES, unchanged=UNCHANGED, seed=7)
    files = write_contacts(tmp_path / "contacts", work.declared)
    config = tmp_path / "reconciler.yaml"
    config.write_text(SETTINGS, encoding="utf-8")
    point_at(monkeypatch, slow_sandbox, tmp_path)
    apply = ["apply", str(files), "--auto-approve", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *apply],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = lines_of(process)
        printed: list[str] = []
        outcomes = 0
        while outcomes < 10:
            line = lines.get(timeout=60)
            assert line is not None, "\n".join(printed)
            printed.append(line)
            outcomes += bool(OUTCOME.search(line))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        while (line := lines.get(timeout=10)) is not None:
            printed.append(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    done = sum(1 for line in printed if OUTCOME.search(line))
    summary = re.fullmatch(
        r"Apply interrupted: (\d+) created, (\d+) updated, 0 failed, (\d+) not started; "
        r"run apply again to finish\.(?: Also (\d+) marked\.)?",
        printed[-1],
    )
    assert summary is not None, printed[-5:]
    created, updated, not_started, marked = (int(group or 0) for group in summary.groups())
    assert created + updated == done  # every write under way was finished and reported
    # The unchanged contacts get their ownership marker alone: counted, not listed.
    assert done + marked + not_started == UPDATES + CREATES + UNCHANGED
    assert not_started > 0

    code, out, _ = run(capsys, *apply)
    assert code == 0, out
    replanned = re.search(r"Plan: (\d+) to create, (\d+) to update", out)
    assert replanned is not None, out
    marks = re.search(r"ownership marker on (\d+) unchanged", out)
    left = sum(map(int, replanned.groups())) + (int(marks.group(1)) if marks else 0)
    assert left == not_started  # exactly what was left
    assert_converged(store, work)


def test_ctrl_c_twice_aborts_at_once_in_one_line(
    slow_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = store_of(slow_sandbox)
    work = workload(store, updates=UPDATES, creates=CREATES, unchanged=UNCHANGED, seed=8)
    files = write_contacts(tmp_path / "contacts", work.declared)
    config = tmp_path / "reconciler.yaml"
    config.write_text(SETTINGS, encoding="utf-8")
    point_at(monkeypatch, slow_sandbox, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1"}
    apply = ["apply", str(files), "--auto-approve", "--config", str(config)]
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *apply],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if OUTCOME.search(line):  # writing
                break
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert err.rstrip().endswith("interrupted")
    assert "Traceback" not in err and "never retrieved" not in err
