"""Apply: 1,000 updates against a sandbox that answers 429 over a limit of 10, 50 or 200
requests a second, which the client is not told (no ``rate_limit``: the adaptive pace finds
it); and, for comparison, with ``rate_limit: 50`` configured against the limit of 50.

The apply stage (reconciler.engine.apply.apply_plan) is timed in its own process by
stages.py, which also counts every HTTP status the client received; a plan afterwards must
say ``No changes.``. The bound is the requests the apply had to send ÷ the server's limit.
"""

from __future__ import annotations

import re
import time
from typing import Any

from benchmarks.common import (
    Context,
    Section,
    run_cli,
    run_stages,
    sandbox_process,
    say,
    seconds,
    table,
    verdict,
)

RATE_LIMIT = 50.0
UNKNOWN_LIMITS = (10.0, 50.0, 200.0)
SMALL_RUNS = ((60, 10.0), (300, 50.0))  # a pull request's few dozen changes, at the limit
TARGET_RATIO = 1.05
SMALL_TARGET_RATIO = 1.10
MAX_429_SHARE = 0.05
LIST_PAGE = 15
ESTIMATE_REQUESTS = 0.05  # the plan's "apply will send about N": within 5% of those sent
ESTIMATE_TIME = 0.10  # and, at a known pace, its time within 10% of the apply's
_UNITS = {"s": 1, "min": 60, "h": 3600}


def _estimate(line: str) -> tuple[int | None, float | None]:
    """The requests and seconds a plan's cost line says apply will take (None: unsaid)."""
    requests = re.search(r"apply will send about (\d+)", line)
    duration = re.search(r"taking about ([\d.]+) (s|min|h) ", line)
    return (
        int(requests[1]) if requests else None,
        float(duration[1]) * _UNITS[duration[2]] if duration else None,
    )


def _apply(
    context: Context, count: int, client_limit: float | None, server_limit: float = RATE_LIMIT
) -> dict[str, Any]:
    files = context.contact_files(count, 1.0)
    db = context.database(count, fresh=True)
    name = f"apply-{count}-{client_limit or 'unknown'}-{server_limit:g}"
    config = context.settings(name, rate_limit=client_limit)
    with sandbox_process(db, rate_limit=server_limit) as sandbox:
        before = run_cli(
            context.workdir, sandbox.base_url, ["plan", str(files), "--config", str(config)]
        )
        time.sleep(2.0)  # the server's bucket full again: the apply starts as it would alone
        report, process = run_stages(
            context.workdir,
            sandbox.base_url,
            [files],
            config=config,
            extra=["--apply", "--count-statuses", *context.options.get("trace", ())],
        )
        after = run_cli(
            context.workdir,
            sandbox.base_url,
            ["plan", str(files), "--config", str(config), "--detailed-exitcode"],
        )
    report["process_wall_s"] = process.wall
    said = [line for line in before.stdout.splitlines() if line.startswith("This plan made")]
    report["plan_before"] = said[-1] if said else ""
    report["estimate_requests"], report["estimate_s"] = _estimate(report["plan_before"])
    report["plan_after"] = after.stdout.strip().splitlines()[-1] if after.stdout.strip() else ""
    report["plan_after_exit"] = after.returncode
    report["failed"] = report["outcomes"].get("failed", 0)
    report["server_429s"] = report["statuses"].get("429", 0)
    say(
        f"  {count} updates, server {server_limit:g}/s, client rate_limit {client_limit}: "
        f"apply {report['apply_s']:.2f} s, "
        f"{report['server_429s']} x 429, {report['failed']} failed; then: {report['plan_after']}"
    )
    return report


DEADLINE_S = 10


def _refused(context: Context, count: int) -> dict[str, Any]:
    """``apply`` of ``count`` updates at ``rate_limit: 50`` with a deadline it can't meet:
    how soon it refuses, what it says, and what a plan afterwards finds left to do."""
    files = context.contact_files(count, 1.0)
    db = context.database(count, fresh=True)
    config = context.settings(f"apply-{count}-deadline", rate_limit=RATE_LIMIT, deadline=DEADLINE_S)
    with sandbox_process(db, rate_limit=RATE_LIMIT) as sandbox:
        apply = run_cli(
            context.workdir,
            sandbox.base_url,
            ["apply", str(files), "--config", str(config), "--auto-approve"],
        )
        time.sleep(2.0)
        after = run_cli(
            context.workdir, sandbox.base_url, ["plan", str(files), "--config", str(config)]
        )
    said = [line for line in apply.stderr.splitlines() if "deadline" in line]
    left = [line for line in after.stdout.splitlines() if line.startswith("Plan:")]
    report = {
        "updates": count,
        "exit": apply.returncode,
        "wall_s": apply.wall,
        "said": said[-1] if said else "",
        "plan_after": left[-1] if left else "",
    }
    say(
        f"  deadline {DEADLINE_S} s: exit {apply.returncode} in {apply.wall:.2f} s; "
        f"then {report['plan_after']}"
    )
    return report


def run(context: Context) -> Section:
    count = 200 if context.quick else 1_000
    scenarios: list[tuple[int, float | None, float]] = [
        (count, None, limit) for limit in UNKNOWN_LIMITS
    ]
    scenarios += [(small, None, limit) for small, limit in SMALL_RUNS]
    scenarios.append((count, RATE_LIMIT, RATE_LIMIT))
    reports = []
    for updates, client_limit, server_limit in scenarios:
        report = _apply(context, updates, client_limit, server_limit)
        report["updates"] = updates
        # The requests the apply had to send (PATCHes, and the re-reads before a nested
        # object is sent), at the server's limit: its requests less those answered 429.
        useful = report["apply_requests"] - report["server_429s"]
        report["bound_s"] = useful / server_limit
        report["ratio"] = report["apply_s"] / report["bound_s"]
        report["share_429"] = report["server_429s"] / max(report["apply_requests"], 1)
        reports.append((client_limit, server_limit, report))

    rows = [
        [
            f"{report['updates']:,}",
            f"{server_limit:g}/s",
            "none (found out)" if client_limit is None else f"`rate_limit: {client_limit:g}`",
            f"{seconds(report['apply_s'])} ({report['ratio']:.3f}x {seconds(report['bound_s'])})",
            f"{report['apply_requests']:,}",
            f"{report['server_429s']} ({report['share_429']:.1%})",
            str(report["failed"]),
            report["plan_before"],
            f"{report['plan_after']} (exit {report['plan_after_exit']})",
        ]
        for client_limit, server_limit, report in reports
    ]
    markdown = "\n".join(
        [
            f"{count:,} contacts (and, for a pull request's few dozen, 60 and 300), every "
            "one changed (name, seats, and for a quarter a GitHub profile): a PATCH each. "
            "Sandbox: `--rate-limit N` (a token bucket of N, "
            "then 429 `Retry later`, no Retry-After), no latency, its own process; client "
            "concurrency found out (ceiling 32, the default). The bound is the requests the "
            "apply had to send (the PATCHes and the "
            "re-reads before a nested object is sent: the apply's requests less the 429s) ÷ "
            "the server's limit; the 429s are all "
            "the server sent during the run (the fetch's included), counted from the "
            "client's debug log, and their share is of the apply's requests.",
            "",
            table(
                [
                    "updates",
                    "server limit",
                    "client setting",
                    "apply stage wall (ratio to the bound)",
                    "requests the apply sent",
                    "429s (share)",
                    "failed",
                    "`reconciler plan` before",
                    "`reconciler plan --detailed-exitcode` afterwards",
                ],
                rows,
            ),
        ]
    )
    targets = []
    for client_limit, server_limit, report in reports:
        if client_limit is not None:
            continue
        small = report["updates"] < count
        ratio = SMALL_TARGET_RATIO if small else TARGET_RATIO
        met = (
            report["ratio"] <= ratio
            and report["failed"] == 0
            and report["share_429"] <= MAX_429_SHARE
        )
        targets.append(
            [
                f"{report['updates']:,} updates, unknown limit of {server_limit:g}/s: "
                f"within {ratio:.2f}x, 0 failed, "
                f"≤ {MAX_429_SHARE:.0%} 429s",
                f"{report['ratio']:.3f}x, {report['failed']} failed, "
                f"{report['share_429']:.1%} 429s",
                verdict(met),
            ]
        )
    targets += _estimate_targets(reports)
    refused = _refused(context, count)
    untouched = f"{count} to update" in refused["plan_after"]
    markdown += (
        f"\n\nWith `deadline: {DEADLINE_S}` as well as `rate_limit: {RATE_LIMIT:g}`, "
        f"`reconciler apply --auto-approve` of the {count:,} updates exited "
        f"{refused['exit']} after {seconds(refused['wall_s'])} (process start to exit), "
        f"saying: {refused['said']}. A plan afterwards: {refused['plan_after']}"
    )
    targets.append(
        [
            f"apply refuses, before any write, a run its deadline ({DEADLINE_S} s) can't hold "
            "at a known pace",
            f"exit {refused['exit']} in {seconds(refused['wall_s'])}; afterwards "
            f"{refused['plan_after']}",
            verdict(refused["exit"] == 1 and untouched),
        ]
    )
    data = {"contacts": count, "scenarios": [r for _, _, r in reports], "refused": refused}
    return Section("apply", markdown, data, targets)


def _estimate_targets(reports: list[tuple[float | None, float, dict[str, Any]]]) -> list[list[str]]:
    """Whether each plan said what its apply then did: requests, and time at a known pace."""
    off = []
    for _, _, report in reports:
        sent = report["apply_requests"] - report["server_429s"]
        said = report["estimate_requests"]
        off.append(abs((said or 0) - sent) / sent)
    timed = [
        (report["estimate_s"], report["apply_s"])
        for client_limit, _, report in reports
        if client_limit is not None and report["estimate_s"] is not None
    ]
    time_off = [abs(said - took) / took for said, took in timed]
    return [
        [
            "each plan says how many requests its apply will send: within "
            f"{ESTIMATE_REQUESTS:.0%} of those it sent (less 429s)",
            f"at most {max(off):.1%} off ({len(off)} plans)",
            verdict(max(off) <= ESTIMATE_REQUESTS),
        ],
        [
            f"at a known pace (`rate_limit: {RATE_LIMIT:g}`) it says how long: within "
            f"{ESTIMATE_TIME:.0%} of the apply stage's wall",
            ", ".join(f"{said:g} s said, {took:.2f} s taken" for said, took in timed)
            or "no time said",
            verdict(bool(time_off) and max(time_off) <= ESTIMATE_TIME),
        ],
    ]
