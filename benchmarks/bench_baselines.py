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
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO,
    Context,
    Section,
    child_env,
    paired_ratios,
    run_child,
    run_cli,
    sandbox_process,
    say,
    seconds,
    table,
    verdict,
)

LATENCY_MS = 50.0
WORKERS = 16  # the server's: requests it serves at once (a Rails server's threads)
THREADS = {"threads": WORKERS, "list": WORKERS}  # as many as the server serves at once
BASE_TARGET = 1.5  # a plan with a git base, within this of its exact lookups' bound
BASED = "reconciler, --changed-since (every file added since)"


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    account: int
    step: int  # the files declare every step-th contact
    face: str
    sequential_sample: int
    threads_sample: int = 0  # 0: every declared contact
    with_base: bool = False  # also a plan with --changed-since (a PR adding every file)


CASES = (
    Case("all-10k", "10,000 contacts, all declared (LiveDesk)", 10_000, 1, "livedesk", 400, 2_000),
    Case(
        "1pct-100k",
        "1% of 100,000 declared (LiveDesk)",
        100_000,
        100,
        "livedesk",
        200,
        with_base=True,
    ),
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


def _ours(
    files: Path,
    config: Path,
    base_url: str,
    workdir: Path,
    extra: list[str] | None = None,
    *,
    verbose: bool = False,
) -> dict[str, Any]:
    """``reconciler plan``, whole; ``verbose``: with its debug log (not timed: the log
    costs time), for the limits of requests at once it went through."""
    arguments = ["plan", str(files), "--config", str(config), *(extra or [])]
    run = run_cli(workdir, base_url, ["-v", *arguments] if verbose else arguments)
    if run.returncode != 0:
        raise RuntimeError(f"reconciler plan failed:\n{run.stderr[-2000:]}")
    lines = run.stdout.strip().splitlines()
    plan_line = next((line for line in lines if line.startswith("Plan: ")), "")
    requests = re.search(r"This plan made (\d+) request", run.stdout)
    return {
        "wall_s": run.wall,
        "cpu_s": run.cpu,
        "summary": lines[-1],
        "plan": plan_line,
        "requests": int(requests.group(1)) if requests else 0,
        "concurrency": _settled(run.stderr),
    }


def _settled(log: str) -> list[int]:
    """The limits of requests at once the plan went through (its -v log)."""
    return [int(limit) for limit in re.findall(r"(\d+) requests at once, not \d+", log)]


def _truth(plan_line: str) -> int:
    """The contacts reconciler's plan says differ: to create and to update."""
    numbers = re.match(r"Plan: (\d+) to create, (\d+) to update", plan_line)
    return int(numbers.group(1)) + int(numbers.group(2)) if numbers else -1


def _right(report: dict[str, Any], truth: int) -> bool:
    """Whether a baseline counted the contacts that differ as reconciler did (a sample's
    share of them, within one)."""
    expected = truth * report["read"] / report["declared"]
    return abs(report["changes"] - expected) <= max(1.0, expected * 0.01)


def _based(files: Path, workdir: Path) -> Path:
    """A git repository whose last commit added ``files`` (at the same path): a pull
    request's plan with ``--changed-since HEAD~1`` plans every contact they declare."""
    repo = workdir / f"based-{files.name}"
    if not (repo / ".complete").exists():
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir()
        git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@example.com"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "base"], check=True)
        shutil.copytree(files, repo / files.name, ignore=shutil.ignore_patterns(".complete"))
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "contacts"], check=True)
        (repo / ".complete").touch()
    return repo


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
    based = _based(files, context.workdir) if case.with_base else None
    ours = [*configs, *([BASED] if based else [])]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*ours, *scripts]}
    with sandbox_process(db, latency_ms=LATENCY_MS, workers=WORKERS) as sandbox:

        def plan(name: str, *, verbose: bool = False) -> dict[str, Any]:
            if name == BASED and based is not None:
                config = configs["reconciler"]
                return _ours(
                    based / files.name,
                    config,
                    sandbox.base_url,
                    based,
                    ["--changed-since", "HEAD~1"],
                    verbose=verbose,
                )
            return _ours(files, configs[name], sandbox.base_url, context.workdir, verbose=verbose)

        for name in ours:  # warm the declaration cache, as a second plan finds it
            plan(name)
        for repeat in range(repeats):
            for name in ours:
                runs[name].append(plan(name))
            for script in scripts:
                sample = samples.get(script, 0)
                runs[script].append(
                    _baseline(script, case, files, sandbox.base_url, context.workdir, sample)
                )
            say(
                f"  {case.key} repeat {repeat + 1}: "
                + ", ".join(f"{name} {seconds(r[-1]['wall_s'])}" for name, r in runs.items())
            )
        # Once more with its debug log, untimed: the limits of requests at once it took.
        settled = {name: plan(name, verbose=True)["concurrency"] for name in ours}
    return {
        "account": account,
        "declared": account // case.step,
        "runs": runs,
        "concurrency": settled,
    }


def run(context: Context) -> Section:
    repeats = 1 if context.quick else 3
    data: dict[str, Any] = {"latency_ms": LATENCY_MS, "repeats": repeats, "cases": {}}
    for case in CASES:
        data["cases"][case.key] = _case(context, case, repeats)
    markdown, targets = render(data)
    return Section("baselines", markdown, data, targets)


def _limits(limits: list[int]) -> str:
    """The limits a plan went through: its slow start, then the range it kept to."""
    if len(limits) <= 4:
        return " → ".join(map(str, limits)) or "the start (8)"
    kept = sorted(limits[2:])
    return (
        f"{' → '.join(map(str, limits[:2]))}, then {kept[0]} to {kept[-1]} "
        f"(median {kept[len(kept) // 2]}, {len(limits)} changes)"
    )


def render(data: dict[str, Any]) -> tuple[str, list[list[str]]]:
    """RESULTS.md's section and the targets, from the figures ``run`` gathered."""
    repeats = data["repeats"]
    parts: list[str] = []
    targets: list[list[str]] = []
    for case in CASES:
        result = data["cases"][case.key]
        runs = result["runs"]
        names = list(runs)
        truth = _truth(runs["reconciler, ownership: false"][-1]["plan"])
        wrong = {
            name
            for name in names
            if not name.startswith("reconciler")
            and not all(_right(report, truth) for report in runs[name])
        }
        rows = []
        for name in names:
            walls = [r["wall_s"] for r in runs[name]]
            row = [name, seconds(statistics.median(walls)), ", ".join(seconds(w) for w in walls)]
            for ours in ("reconciler", "reconciler, ownership: false"):
                if name.startswith("reconciler"):
                    row.append("")
                    continue
                ratios = paired_ratios(runs, name, ours)
                middle, low, high = statistics.median(ratios), min(ratios), max(ratios)
                row.append(f"{middle:.1f}x ({low:.1f}-{high:.1f})")
            extra = runs[name][-1]
            if "summary" in extra:
                said = f"{extra.get('plan') or extra['summary']} ({extra['requests']:,} requests)"
            else:
                said = f"{extra['requests']:,} requests, {extra['changes']:,} differ" + (
                    f" (sample of {extra['read']:,})" if extra["read"] != extra["declared"] else ""
                )
                if name in wrong:
                    said += f": **wrong** (the plan says {truth:,}), left out of the targets"
            row.append(said)
            rows.append(row)
        settled = "; ".join(
            f"{name}: {_limits(limits)}" for name, limits in result["concurrency"].items()
        )
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
            f"Requests at once (the limits each plan went through, from its `-v` log, the server "
            f"serving {WORKERS}): {settled}.",
            "",
        ]
        if BASED in runs:
            based = runs[BASED]
            requests = based[-1]["requests"]
            bound = requests / WORKERS * LATENCY_MS / 1000
            wall = statistics.median(r["wall_s"] for r in based)
            parts += [
                f"With a git base, the plan makes {requests:,} requests (no orphan scan): "
                f"their bound at the server's {WORKERS} at once, {LATENCY_MS:g} ms each, is "
                f"{seconds(bound)}; the whole plan takes {seconds(wall)}, "
                f"{wall / bound:.2f}x it.",
                "",
            ]
            targets.append(
                [
                    f"{case.title}, with a git base: within {BASE_TARGET}x of its exact "
                    "lookups' bound",
                    f"{seconds(wall)} = {wall / bound:.2f}x {seconds(bound)} "
                    f"({requests:,} requests ÷ {WORKERS} x {LATENCY_MS:g} ms)",
                    verdict(wall <= BASE_TARGET * bound),
                ]
            )
        for ours in ("reconciler", "reconciler, ownership: false"):
            slowest = min(
                statistics.median(paired_ratios(runs, name, ours))
                for name in names
                if not name.startswith("reconciler") and name not in wrong
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
        "marked with a sample was timed on it, and its fetch scaled to all the declared contacts. "
        f"The sandbox serves {WORKERS} requests at once (`--workers {WORKERS}`, the rest "
        f"queue), and the scripts use {WORKERS} threads. A baseline counts as one only if it "
        "finds as many differing contacts as the plan (a sample, its share): a wrong answer is "
        "no baseline."
    )
    return "\n".join(parts), targets
