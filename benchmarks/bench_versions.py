"""Before and after: ``reconciler plan`` at an earlier revision (``--before REV``, a git
revision of this repository) and from the working tree, on the side-by-side section's
cases, in one run.

What a change to the fetch or the plan costs users: each repeat runs both versions, one
after the other, on the same data and the same sandbox 50 ms away, and the ratio is taken
within the repeat. The requests each version sent come from its ``-v`` log.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_baselines import CASES, LATENCY_MS, Case
from benchmarks.common import (
    REPO,
    Context,
    Section,
    child_env,
    run_child,
    sandbox_process,
    say,
    seconds,
    table,
    verdict,
)

NOISE = 1.05
"""A ratio within this of 1 is within the noise of one machine's repeats (see the
side-by-side section's ranges)."""
_REQUESTS = re.compile(r"(\d+) HTTP requests sent to ")


def _tree_at(revision: str, into: Path) -> str:
    """The repository's files at ``revision``, extracted into ``into``; its short hash."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", commit], cwd=REPO, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return commit


def _plan(source: Path, files: Path, config: Path, base_url: str, workdir: Path) -> dict[str, Any]:
    env = {**child_env(base_url), "PYTHONPATH": str(source)}
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "-v",
        "plan",
        str(files),
        "--config",
        str(config),
    ]
    run = run_child(command, cwd=workdir, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"reconciler plan ({source}) failed:\n{run.stderr[-2000:]}")
    sent = _REQUESTS.findall(run.stderr)
    return {
        "wall_s": run.wall,
        "cpu_s": run.cpu,
        "requests": sum(map(int, sent)),
        "summary": run.stdout.strip().splitlines()[-1],
    }


def _case(
    context: Context,
    case: Case,
    owned: bool,
    versions: dict[str, Path],
    repeats: int,
    rows: list[list[str]],
    targets: list[list[str]],
    data: dict[str, Any],
) -> None:
    account = case.account // 10 if context.quick else case.account
    files = context.contact_files(account, 0.1, step=case.step)
    settings: dict[str, Any] = {"target": case.face}
    if case.face == "chatwoot":
        settings["account_id"] = 1
    if owned:
        config = context.settings(f"{case.face}-default", **settings)
    else:
        config = context.settings(f"{case.face}-unowned", **settings, ownership=False)
    title = case.title + ("" if owned else ", `ownership: false`")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
    step = case.step if case.step > 1 else 0
    with contextlib.ExitStack() as stack:
        # Each version against the state its own apply leaves (the earlier one's markers
        # named no file and were not signed), each in a sandbox of its own.
        sandboxes = {
            name: stack.enter_context(
                sandbox_process(
                    context.database(
                        account, managed_step=step, face=case.face, files=files, legacy=old
                    ),
                    latency_ms=LATENCY_MS,
                )
            )
            for name, old in zip(versions, (True, False), strict=True)
        }
        for name, source in versions.items():  # warm each version's cache alike
            _plan(source, files, config, sandboxes[name].base_url, context.workdir)
        for repeat in range(repeats):
            for name, source in versions.items():
                base_url = sandboxes[name].base_url
                runs[name].append(_plan(source, files, config, base_url, context.workdir))
            say(
                f"  {case.key}{'' if owned else ' unowned'} repeat {repeat + 1}: "
                + ", ".join(f"{n} {seconds(r[-1]['wall_s'])}" for n, r in runs.items())
            )
    before, now = runs.values()
    ratios = [b["wall_s"] / n["wall_s"] for b, n in zip(before, now, strict=True)]
    middle = statistics.median(ratios)
    data["cases"][title] = {"runs": runs, "ratios": ratios}
    for name, results in runs.items():
        walls = [r["wall_s"] for r in results]
        spread = f"{middle:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        rows.append(
            [
                title,
                name,
                seconds(statistics.median(walls)),
                ", ".join(seconds(w) for w in walls),
                f"{results[-1]['requests']:,}",
                spread if name == "now" else "",
                results[-1]["summary"],
            ]
        )
    targets.append(
        [
            f"{title}: within noise of the revision before",
            f"before ÷ now {middle:.2f}x; requests {before[-1]['requests']:,} -> "
            f"{now[-1]['requests']:,}",
            verdict(middle >= 1 / NOISE),
        ]
    )


def run(context: Context) -> Section:
    revision = str(context.options.get("before") or "HEAD")
    repeats = 1 if context.quick else 3
    rows: list[list[str]] = []
    targets: list[list[str]] = []
    data: dict[str, Any] = {"before": revision, "latency_ms": LATENCY_MS, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="reconciler-before-") as scratch:
        commit = _tree_at(revision, Path(scratch))
        versions = {f"before ({commit})": Path(scratch) / "tree", "now": REPO}
        data["commit"] = commit
        for case in CASES:
            for owned in (True, False):
                _case(context, case, owned, versions, repeats, rows, targets, data)
    markdown = "\n".join(
        [
            f"`reconciler plan` at {commit} (`--before {revision}`) and from the working tree, "
            f"on the side-by-side section's data, the sandbox {LATENCY_MS:g} ms away; each repeat "
            "runs both, and the ratio is taken within it (above 1: now is faster).",
            "",
            table(
                [
                    "case",
                    "version",
                    "median wall",
                    "each repeat",
                    "requests",
                    "before ÷ now",
                    "last run says",
                ],
                rows,
            ),
            "",
            f"Within noise: now takes at most {NOISE:.2f}x the time before. Load average: "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end.",
        ]
    )
    return Section("versions", markdown, data, targets)
