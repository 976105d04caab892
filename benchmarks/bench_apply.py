"""Apply: 1,000 updates against a sandbox that answers 429 over 50 requests a second.

The client's own limit comes from a reconciler.yaml (``rate_limit: 50``), as a user would
set it. The apply stage (reconciler.engine.apply.apply_plan) is timed in its own process by
stages.py, which also counts every HTTP status the client received; a plan afterwards must
say ``No changes.``. The comparison is the same apply without the client's limit, relying
on retries after the server's 429s.
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
TARGET_RATIO = 1.15
LIST_PAGE = 15


def _apply(context: Context, count: int, client_limit: float | None) -> dict[str, Any]:
    files = context.contact_files(count, 1.0)
    db = context.database(count, fresh=True)
    name = "apply-limited" if client_limit else "apply-unlimited"
    config = context.settings(name, rate_limit=client_limit)
    with sandbox_process(db, rate_limit=RATE_LIMIT) as sandbox:
        report, process = run_stages(
            context.workdir,
            sandbox.base_url,
            [files],
            config=config,
            extra=["--apply", "--count-statuses"],
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
        f"  client rate_limit {client_limit}: apply {report['apply_s']:.2f} s, "
        f"{report['server_429s']} x 429, {report['failed']} failed; then: {report['plan_after']}"
    )
    return report


def run(context: Context) -> Section:
    count = 200 if context.quick else 1_000
    limited = _apply(context, count, RATE_LIMIT)
    unlimited = _apply(context, count, None)
    bound = count / RATE_LIMIT
    ratio = limited["apply_s"] / bound
    listing = -(-count // LIST_PAGE)
    whole_bound = (count + listing) / RATE_LIMIT

    def column(report: dict[str, Any]) -> list[str]:
        ratio_here = report["apply_s"] / bound
        return [
            f"{seconds(report['apply_s'])} ({ratio_here:.2f}x)",
            f"{report['apply_requests']:,}",
            str(report["server_429s"]),
            str(report["failed"]),
            str(report["failed_with_429"]),
            seconds(report["process_wall_s"]),
            f"{report['plan_after']} (exit {report['plan_after_exit']})",
        ]

    labels = [
        f"apply stage wall (ratio to {count:,} ÷ {RATE_LIMIT:g}/s = {seconds(bound)})",
        "requests the apply sent (retries included)",
        "429s the server sent (all stages)",
        "failed contacts",
        "429s that reached the user (failures citing 429)",
        "whole process: imports, validate, fetch, diff, apply",
        "`reconciler plan --detailed-exitcode` afterwards",
    ]
    rows = [
        [label, ours, other]
        for label, ours, other in zip(labels, column(limited), column(unlimited), strict=True)
    ]
    met = ratio <= TARGET_RATIO and limited["failed"] == 0 and limited["failed_with_429"] == 0
    markdown = "\n".join(
        [
            f"{count:,} contacts, every one changed (name, seats, and for a quarter a GitHub "
            f"profile): {count:,} PATCHes. Sandbox: `--rate-limit {RATE_LIMIT:g}` (a token "
            f"bucket of {RATE_LIMIT:g}, then 429 `Retry later`, no Retry-After), no latency, "
            "its own process; client concurrency 8.",
            "",
            table(
                [
                    "Apply",
                    f"client `rate_limit: {RATE_LIMIT:g}` (the figure)",
                    "comparison: no client rate_limit",
                ],
                rows,
            ),
            "",
            f"Target: apply wall ≤ {TARGET_RATIO}x {seconds(bound)}, zero failed contacts, "
            f"zero 429s reaching the user: {verdict(met)} ({ratio:.3f}x). The whole process "
            f"also reads the {listing} listing pages under the same limit, so its own bound is "
            f"({count:,} + {listing}) ÷ {RATE_LIMIT:g} = {seconds(whole_bound)}. 429s are "
            "counted from the client's debug log (one record per response).",
        ]
    )
    data = {"contacts": count, "bound_s": bound, "ratio": ratio}
    data |= {"limited": limited, "unlimited": unlimited}
    targets = [
        [
            f"apply wall within {TARGET_RATIO}x {count:,} ÷ {RATE_LIMIT:g}/s",
            f"{seconds(limited['apply_s'])} = {ratio:.3f}x {seconds(bound)}",
            verdict(ratio <= TARGET_RATIO),
        ],
        ["zero failed contacts", str(limited["failed"]), verdict(limited["failed"] == 0)],
        [
            "zero 429s reaching the user",
            f"{limited['failed_with_429']} (the server sent {limited['server_429s']})",
            verdict(limited["failed_with_429"] == 0),
        ],
    ]
    return Section("apply", markdown, data, targets)
