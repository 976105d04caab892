"""The CI path: from a cold runner (a fresh Python, empty download caches) to a plan of
1,000 contacts in markdown, beside the 40-line script a team would write instead
(benchmarks/ci_script.py: requests and PyYAML, the listing), and the install reconciler had
before (pip reading the same lock, compiling bytecode).

Each run is one shell, timed whole: the install, then the plan against the sandbox 50 ms
away (its own process, 16 workers). Each gets a fresh virtual environment made before the
clock starts (a runner's Python comes with pip), and downloads from PyPI: the network's
pace is in every figure alike. Runs alternate within each repeat.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.common import (
    CREDENTIALS,
    REPO,
    Context,
    Section,
    paired_ratios,
    run_child,
    sandbox_process,
    say,
    seconds,
    table,
    verdict,
)

CONTACTS = 1_000
LATENCY_MS = 50.0
WORKERS = 16
INSTALL = 'RECONCILER_SOURCE="$SOURCE" bash "$SOURCE/examples/ci/install.sh" >/dev/null'
PLAN = 'reconciler plan "$FILES" --config "$CONFIG" --format markdown > plan.md'
PIP = "python3 -m pip install --disable-pip-version-check --quiet"
# setup-uv's step, as far as it can be timed here: the same uv build downloaded (PyPI's
# wheel of it; the Action's GitHub release is out of reach), its sha256 checked, unpacked and
# put on PATH.
SETUP_UV = (
    'curl -sSfL -o uv.whl "$UV_URL" && echo "$UV_SHA256  uv.whl" | sha256sum --check --quiet - '
    "&& python3 -m zipfile -e uv.whl uv-tool && chmod +x uv-tool/*.data/scripts/* "
    '&& PATH="$(echo "$PWD"/uv-tool/*.data/scripts):$PATH"'
)
RUNS = {
    "reconciler, the Action (setup-uv fetches uv, install.sh uses it)": (
        f"{SETUP_UV} && {INSTALL} && {PLAN}"
    ),
    "reconciler, no uv at hand (pip installs it from requirements/uv.lock)": (
        f"{INSTALL} && {PLAN}"
    ),
    "reconciler, as before (pip reads the lock, builds reconciler)": (
        f'{PIP} --require-hashes -r "$BEFORE_LOCK" && '
        f'{PIP} --no-deps --no-build-isolation "$SOURCE" && {PLAN}'
    ),
    "the 40-line script (requests, PyYAML)": (
        f'{PIP} requests pyyaml && python3 "$SOURCE/benchmarks/ci_script.py" "$BASE_URL" '
        '"$FILES" > plan.md'
    ),
}
ACTION, OURS, BEFORE, SCRIPT = RUNS
BEFORE_REVISION = "d35dfeb"  # the last whose Action's lock held a build backend


def _source(workdir: Path) -> Path:
    """The repository's files as a checkout has them (no .git, caches or build output)."""
    source = workdir / "ci-source"
    shutil.rmtree(source, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    return source


def _uv_wheel() -> tuple[str, str]:
    """The URL and sha256 of requirements/uv.lock's uv for this machine, from PyPI's index
    (setup-uv knows its download's address and checksum beforehand too)."""
    lock = (REPO / "requirements" / "uv.lock").read_text(encoding="utf-8")
    version = re.search(r"^uv==(\S+)", lock, re.MULTILINE)
    assert version is not None, "requirements/uv.lock pins no uv"
    request = urllib.request.Request(
        "https://pypi.org/simple/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        index = json.load(answer)
    wanted = f"uv-{version[1]}-py3-none-manylinux_2_17_{platform.machine()}"
    for file in index["files"]:
        digest = file["hashes"]["sha256"]
        if file["filename"].startswith(wanted) and f"sha256:{digest}" in lock:
            return file["url"], digest
    raise RuntimeError(f"PyPI lists no {wanted} wheel that requirements/uv.lock pins")


def _one(
    name: str,
    context: Context,
    source: Path,
    files: Path,
    config: Path,
    base_url: str,
    uv_wheel: tuple[str, str],
) -> dict[str, Any]:
    run_dir = context.workdir / "ci-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(run_dir / "venv")], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
    }
    env.update(CREDENTIALS)
    env.update(
        PATH=f"{run_dir / 'venv' / 'bin'}{os.pathsep}{env['PATH']}",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CACHE="1",
        NO_COLOR="1",
        SOURCE=str(source),
        FILES=str(files),
        CONFIG=str(config),
        BASE_URL=base_url,
        BEFORE_LOCK=str(context.workdir / "action-before.lock"),
        UV_URL=uv_wheel[0],
        UV_SHA256=uv_wheel[1],
        LIVEDESK_BASE_URL=base_url,
    )
    run = run_child(["bash", "-c", f"set -euo pipefail; {RUNS[name]}"], cwd=run_dir, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"{name} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    plan = (run_dir / "plan.md").read_text(encoding="utf-8")
    first = next((line for line in plan.splitlines() if "to change" in line or "Plan:" in line), "")
    return {"wall_s": run.wall, "cpu_s": run.cpu, "says": first.strip("# *")}


def run(context: Context) -> Section:
    repeats = 1 if context.quick else 5
    files = context.contact_files(CONTACTS, 0.1)
    db = context.database(CONTACTS, face="livedesk", files=files)
    config = context.settings("ci-livedesk", target="livedesk")
    source = _source(context.workdir)
    before_lock = subprocess.run(
        ["git", "show", f"{BEFORE_REVISION}:requirements/action.lock"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (context.workdir / "action-before.lock").write_text(before_lock, encoding="utf-8")
    uv_wheel = _uv_wheel()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNS}
    with sandbox_process(db, latency_ms=LATENCY_MS, workers=WORKERS) as sandbox:
        for repeat in range(repeats):
            for name in RUNS:
                runs[name].append(
                    _one(name, context, source, files, config, sandbox.base_url, uv_wheel)
                )
            say(
                f"  ci repeat {repeat + 1}: "
                + ", ".join(f"{name} {seconds(r[-1]['wall_s'])}" for name, r in runs.items())
            )
    medians = {
        name: statistics.median(r["wall_s"] for r in results) for name, results in runs.items()
    }
    rows = [
        [
            name,
            seconds(medians[name]),
            ", ".join(seconds(r["wall_s"]) for r in results),
            ", ".join(f"{ratio:.2f}x" for ratio in paired_ratios(runs, name, SCRIPT)),
            results[-1]["says"],
        ]
        for name, results in runs.items()
    ]
    markdown = "\n".join(
        [
            f"{CONTACTS:,} contacts, all declared, 10% changed; the sandbox 50 ms away with "
            f"{WORKERS} workers, its own process. Each run is one shell from a fresh virtual "
            "environment (made before the clock starts) and empty download caches "
            "(`PIP_NO_CACHE_DIR`, `UV_NO_CACHE`): the install from PyPI, then the plan "
            f"written as markdown. {repeats} repeats, the runs alternating in each: the verdict "
            "is the median of each repeat's ratio to the script's run beside it.",
            "",
            table(
                [
                    "run",
                    "median wall",
                    "each repeat",
                    "÷ the script's, each repeat",
                    "the plan says",
                ],
                rows,
            ),
            "",
            "`examples/ci/install.sh` (the Action's and `init`'s workflows' installer) takes the "
            "uv on PATH, where the Action's setup-uv step puts it (timed here as that step "
            "works: the same uv build downloaded, from PyPI's wheel of it since GitHub is out "
            "of reach, its sha256 checked, unpacked), or, on a runner without the Action, "
            "installs it from `requirements/uv.lock` (hash-pinned) with pip; then uv installs "
            "`requirements/action.lock` (hash-checked; no sandbox server stack, no build "
            "backend), compiling no bytecode, and links reconciler from the checkout "
            f"unbuilt. Before ({BEFORE_REVISION}): pip read the lock (with the build backend), "
            "compiled bytecode and built reconciler.",
        ]
    )
    targets = []
    for name in (ACTION, OURS):
        paired = statistics.median(paired_ratios(runs, name, SCRIPT))
        targets.append(
            [
                f"cold runner to a plan of {CONTACTS:,} contacts ({name.split(', ', 1)[1]}): "
                "no longer than the 40-line script's whole job",
                f"{paired:.2f}x the script's, median of {repeats} paired repeats (medians "
                f"{seconds(medians[name])} and {seconds(medians[SCRIPT])}; before: "
                f"{seconds(medians[BEFORE])})",
                verdict(paired <= 1.0),
            ]
        )
    data = {"contacts": CONTACTS, "repeats": repeats, "runs": runs}
    return Section("ci", markdown, data, targets)
