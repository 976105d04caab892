"""Side by side: ``reconciler plan`` and the scripts a user would otherwise write
(benchmarks/baselines.py), on the same data, the same sandbox 50 ms away, in the same run.

Each figure is a whole process, start to exit; each repeat runs reconciler and then every
baseline, and the ratio is taken within the repeat (the machine's load moves between
repeats, less within one). The tables show the medians. The per-contact scripts are timed
on a sample where the whole would take minutes, and their fetch scaled to every contact
(their time is linear in the contacts: one request each).
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO,
    Context,
    Section,
    child_env,
    run_child,
    run_cli,
    sandbox_process,
    say,
    seconds,
    table,
    verdict,
)

LATENCY_MS = 50.0
THREADS = {"threads": 10, "list": 8}  # Terraform's parallelism; the competent script's pool


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    account: int
    step: int  # the files declare every step-th contact
    face: str
    sequential_sample: int
    threads_sample: int = 0  # 0: every declared contact


CASES = (
    Case("all-10k", "10,000 contacts, all declared (LiveDesk)", 10_000, 1, "livedesk", 400, 2_000),
    Case("1pct-100k", "1% of 100,000 declared (LiveDesk)", 100_000, 100, "livedesk", 200),
    Case("1pct-100k-chatwoot", "1% of 100,000 declared (Chatwoot)", 100_000, 100, "chatwoot", 200),
)


def _baseline(
    script: str, case: Case, files: Path, base_url: str, workdir: Path, sample: int = 0
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "baselines.py"),
        script,
        str(files),
        "--base-url",
        base_url,
        "--face",
        case.face,
        "--threads",
        str(THREADS.get(script, 1)),
    ]
    if sample:
        command += ["--sample", str(sample)]
    run = run_child(command, cwd=workdir, env=child_env(base_url))
    if run.returncode != 0:
        raise RuntimeError(f"baselines.py {script} failed:\n{run.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    wall = run.wall
    if sample:  # the rest of the contacts at the sample's pace
        wall += report["fetch_s"] * (report["declared"] / report["read"] - 1)
    return {**report, "wall_s": wall, "cpu_s": run.cpu}


def _ours(files: Path, config: Path, base_url: str, workdir: Path) -> dict[str, Any]:
    run = run_cli(workdir, base_url, ["plan", str(files), "--config", str(config)])
    if run.returncode != 0:
        raise RuntimeError(f"reconciler plan failed:\n{run.stderr[-2000:]}")
    return {"wall_s": run.wall, "cpu_s": run.cpu, "summary": run.stdout.strip().splitlines()[-1]}


def _case(context: Context, case: Case, repeats: int) -> dict[str, Any]:
    account = case.account // 10 if context.quick else case.account
    files = context.contact_files(account, 0.1, step=case.step)
    # The declared contacts as the last apply left them: marked (and labelled on Chatwoot).
    db = context.database(
        account, managed_step=case.step if case.step > 1 else 0, face=case.face, files=files
    )
    settings: dict[str, Any] = {"target": case.face}
    if case.face == "chatwoot":
        settings["account_id"] = 1
    configs = {
        "reconciler": context.settings(f"{case.face}-default", **settings),
        "reconciler, ownership: false": context.settings(
            f"{case.face}-unowned", **settings, ownership=False
        ),
    }
    shrink = 10 if context.quick else 1
    samples = {
        "sequential": case.sequential_sample // shrink,
        "threads": case.threads_sample // shrink,
    }
    scripts = ["sequential", "threads", "list"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*configs, *scripts]}
    with sandbox_process(db, latency_ms=LATENCY_MS) as sandbox:
        for config in configs.values():  # warm the declaration cache, as a second plan finds it
            _ours(files, config, sandbox.base_url, context.workdir)
        for repeat in range(repeats):
            for name, config in configs.items():
                runs[name].append(_ours(files, config, sandbox.base_url, context.workdir))
            for script in scripts:
                sample = samples.get(script, 0)
                runs[script].append(
                    _baseline(script, case, files, sandbox.base_url, context.workdir, sample)
                )
            say(
                f"  {case.key} repeat {repeat + 1}: "
                + ", ".join(f"{name} {seconds(r[-1]['wall_s'])}" for name, r in runs.items())
            )
    return {"account": account, "declared": account // case.step, "runs": runs}


def _ratios(runs: dict[str, list[dict[str, Any]]], ours: str, other: str) -> list[float]:
    return [
        theirs["wall_s"] / mine["wall_s"]
        for mine, theirs in zip(runs[ours], runs[other], strict=True)
    ]


def run(context: Context) -> Section:
    repeats = 1 if context.quick else 3
    data: dict[str, Any] = {"latency_ms": LATENCY_MS, "repeats": repeats, "cases": {}}
    parts: list[str] = []
    targets: list[list[str]] = []
    for case in CASES:
        result = _case(context, case, repeats)
        data["cases"][case.key] = result
        runs = result["runs"]
        names = list(runs)
        rows = []
        for name in names:
            walls = [r["wall_s"] for r in runs[name]]
            row = [name, seconds(statistics.median(walls)), ", ".join(seconds(w) for w in walls)]
            for ours in ("reconciler", "reconciler, ownership: false"):
                if name.startswith("reconciler"):
                    row.append("")
                    continue
                ratios = _ratios(runs, ours, name)
                middle, low, high = statistics.median(ratios), min(ratios), max(ratios)
                row.append(f"{middle:.1f}x ({low:.1f}-{high:.1f})")
            extra = runs[name][-1]
            row.append(
                extra["summary"]
                if "summary" in extra
                else f"{extra['requests']:,} requests, {extra['changes']:,} differ"
                + (f" (sample of {extra['read']:,})" if extra["read"] != extra["declared"] else "")
            )
            rows.append(row)
        parts += [
            f"**{case.title}**: {result['declared']:,} declared in an account of "
            f"{result['account']:,}, 10% changed.",
            "",
            table(
                [
                    "run",
                    "median wall",
                    "each repeat",
                    "its time ÷ reconciler's",
                    "÷ reconciler's (ownership: false)",
                    "last run says",
                ],
                rows,
            ),
            "",
        ]
        for ours in ("reconciler", "reconciler, ownership: false"):
            slowest = min(
                statistics.median(_ratios(runs, ours, name))
                for name in names
                if not name.startswith("reconciler")
            )
            targets.append(
                [
                    f"{case.title}: `{ours}` faster than every baseline",
                    f"the closest baseline takes {slowest:.2f}x its time",
                    verdict(slowest > 1.0),
                ]
            )
    parts.append(
        "Every figure is a whole process from start to exit, median of "
        f"{repeats}; ratios are taken within a repeat, median (range). A per-contact script "
        "marked with a sample was timed on it, and its fetch scaled to all the declared contacts."
    )
    return Section("baselines", "\n".join(parts), data, targets)
