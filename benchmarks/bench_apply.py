"""Apply: 1,000 updates against a sandbox that answers 429 over a limit of 10, 50 or 200
requests a second, which the client is not told (no ``rate_limit``: the adaptive pace finds
it); and, for comparison, with ``rate_limit: 50`` configured against the limit of 50.

The apply stage (reconciler.engine.apply.apply_plan) is timed in its own process by
stages.py, which also counts every HTTP status the client received; a plan afterwards must
say ``No changes.``. The bound is the requests the apply had to send ÷ the server's limit.
"""

from __future__ import annotations

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


def _apply(
    context: Context, count: int, client_limit: float | None, server_limit: float = RATE_LIMIT
) -> dict[str, Any]:
    files = context.contact_files(count, 1.0)
    db = context.database(count, fresh=True)
    name = f"apply-{count}-{client_limit or 'unknown'}-{server_limit:g}"
    config = context.settings(name, rate_limit=client_limit)
    with sandbox_process(db, rate_limit=server_limit) as sandbox:
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
    data = {"contacts": count, "scenarios": [r for _, _, r in reports]}
    return Section("apply", markdown, data, targets)
