"""Paths that aren't regular files are refused by name, at once, with bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import reconciler

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
MEMORY_BOUND = 300 * 2**20  # bytes of peak RSS the refusing process may reach


# Runs argv[2:] and writes its peak RSS (KiB) to argv[1]. The run is measured from this
# small process: a child forked from the test process starts with the test process's own
# resident size as its peak, whatever the child does after exec.
MEASURED = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:], check=False).returncode
with open(sys.argv[1], "w") as peak:
    peak.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_reconciler(cwd: Path, *argv: str) -> tuple[int, str, float, int]:
    """Exit code, stderr+stdout, seconds, and the child's peak RSS in bytes."""
    peak_file = cwd / ".peak-rss"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, str(peak_file), sys.executable, "-m", "reconciler", *argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=30,  # a FIFO or /dev/zero read would hang or grow: the test fails here
        check=False,
    )
    seconds = time.monotonic() - started
    peak = int(peak_file.read_text()) * 1024
    assert peak < MEMORY_BOUND
    return result.returncode, result.stdout + result.stderr, seconds, peak


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("zero.yaml", lambda path: path.symlink_to("/dev/zero"), "a character device"),
        ("random.yml", lambda path: path.symlink_to("/dev/urandom"), "a character device"),
        ("pipe.yaml", os.mkfifo, "a FIFO (named pipe)"),
    ],
    ids=["dev-zero", "dev-urandom", "fifo"],
)
def test_a_contact_path_that_is_not_a_file_is_refused_by_name(
    tmp_path: Path, name: str, make: object, kind: str
) -> None:
    contacts = tmp_path / "contacts"
    contacts.mkdir()
    (contacts / "real.yaml").write_text("contacts:\n  - identifier: a\n", "utf-8")
    make(contacts / name)  # type: ignore[operator]
    for target in (f"contacts/{name}", "contacts"):  # named, or found in a directory
        code, output, seconds, _ = run_reconciler(tmp_path, "validate", "--no-cache", target)
        assert code == 1
        assert f"contacts/{name}:1:1: error: $: is {kind}, not a regular file" in output
        assert "Traceback" not in output
        assert seconds < 10


def test_a_settings_file_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").symlink_to("/dev/zero")
    (tmp_path / "c.yaml").write_text("contacts:\n  - identifier: a\n", "utf-8")
    code, output, _, _ = run_reconciler(tmp_path, "plan", "c.yaml")
    assert code == 1
    assert "error: the settings file reconciler.yaml is a character device" in output
