"""Scale: ``reconciler plan`` from 10 to 1,000,000 contacts (10% changed), peak RSS, a plot.

Each point is the whole command (process start to exit, the text plan written to a file)
against a zero-latency sandbox in its own process holding exactly the declared contacts,
once with no cache (cold) and once with every file cached (warm). Peak RSS is the plan
process's own, from wait4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import (
    Context,
    Section,
    clear_cache,
    run_cli,
    run_stages,
    sandbox_process,
    say,
    seconds,
    table,
    verdict,
)

SIZES = (10, 100, 1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (10, 100, 1_000, 5_000)
RSS_TARGETS_MIB = {100_000: 400, 1_000_000: 2560}  # contacts: peak RSS not to reach
PLOT = Path(__file__).resolve().parent / "plan_time.png"


def run(context: Context) -> Section:
    sizes = QUICK_SIZES if context.quick else SIZES
    config = context.settings("default-settings")
    points: list[dict[str, Any]] = []
    stages: dict[str, Any] = {}
    for count in sizes:
        files = context.contact_files(count, 0.1)
        db = context.database(count)
        arguments = ("plan", str(files), "--config", str(config))
        with sandbox_process(db) as sandbox:
            clear_cache(context.workdir)
            cpu_before = sandbox.cpu_seconds()
            cold = run_cli(context.workdir, sandbox.base_url, arguments)
            sandbox_cpu = sandbox.cpu_seconds() - cpu_before
            warm = run_cli(context.workdir, sandbox.base_url, arguments)
            if count == sizes[-1]:  # where the time and memory of the largest plan go
                stages = run_stages(context.workdir, sandbox.base_url, [files], config=config)[0]
        for result in (cold, warm):
            if result.returncode != 0:
                raise RuntimeError(f"reconciler plan failed:\n{result.stderr[-2000:]}")
        lines = cold.stdout.strip().splitlines()
        summary = next(
            (line for line in lines if line.startswith(("Plan:", "No changes."))), lines[-1]
        )
        say(f"  {count:>7,}: cold {cold.wall:.2f} s, warm {warm.wall:.2f} s, {summary}")
        points.append(
            {
                "contacts": count,
                "cold_s": cold.wall,
                "warm_s": warm.wall,
                "cold_cpu_s": cold.cpu,
                "warm_cpu_s": warm.cpu,
                "sandbox_cpu_cold_s": sandbox_cpu,
                "max_rss_mib": max(cold.max_rss_mib, warm.max_rss_mib),
                "summary": summary,
            }
        )
    stage_rows = [
        [
            name,
            seconds(stages[f"{key}_s"]),
            f"{stages[f'{key}_peak_rss_mib']:.0f} MiB",
        ]
        for name, key in (
            ("read + validate (warm cache)", "validate"),
            (f"fetch ({stages['fetch_requests']:,} requests)", "fetch"),
            ("diff", "diff"),
            ("render the text plan", "render"),
        )
    ]
    plot = _plot(points, PLOT if not context.quick else context.workdir / PLOT.name)
    largest = points[-1]
    rows = [
        [
            f"{point['contacts']:,}",
            seconds(point["cold_s"]),
            seconds(point["warm_s"]),
            seconds(point["cold_cpu_s"]),
            seconds(point["sandbox_cpu_cold_s"]),
            f"{point['max_rss_mib']:.0f} MiB",
            point["summary"],
        ]
        for point in points
    ]
    checked = [point for point in points if point["contacts"] in RSS_TARGETS_MIB]
    targets = [
        [
            f"{point['contacts']:,} contacts plan to the end, peak RSS < "
            f"{_mib(RSS_TARGETS_MIB[point['contacts']])}",
            f"{point['max_rss_mib']:.0f} MiB, {seconds(point['cold_s'])} cold",
            verdict(point["max_rss_mib"] < RSS_TARGETS_MIB[point["contacts"]]),
        ]
        for point in checked
    ]
    markdown = "\n".join(
        [
            table(
                [
                    "contacts",
                    "plan, cold",
                    "plan, warm",
                    "plan CPU, cold",
                    "sandbox CPU, cold",
                    "peak RSS",
                    "plan's last line (cold)",
                ],
                rows,
            ),
            "",
            *(
                f"**{point['contacts']:,} contacts plan to the end with a peak RSS of "
                f"{point['max_rss_mib']:.0f} MiB** (target < "
                f"{_mib(RSS_TARGETS_MIB[point['contacts']])}: "
                f"{verdict(point['max_rss_mib'] < RSS_TARGETS_MIB[point['contacts']])}). "
                for point in checked
            ),
            "Each time is the whole `reconciler plan` command, process start to exit, against "
            "a zero-latency sandbox in its own process; `plan CPU` is the plan process's user + "
            "system time, `sandbox CPU` the server's during the cold plan (they overlap on the "
            "2 cores). Peak RSS is the plan process's own (wait4).",
            "",
            f"Where the {largest['contacts']:,}-contact plan's time and memory go (one more "
            "warm run, stage by stage, in a fresh process: benchmarks/stages.py):",
            "",
            table(["stage", "time", "peak RSS so far"], stage_rows),
            "",
            f"![plan time against contacts]({plot.name})",
        ]
    )
    data = {"points": points, "plot": str(plot), "largest_stages": stages}
    return Section("scale", markdown, data, targets)


def _mib(value: float) -> str:
    return f"{value / 1024:g} GiB" if value >= 1024 else f"{value:g} MiB"


def _plot(points: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [point["contacts"] for point in points]
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    axes.plot(counts, [p["cold_s"] for p in points], "o-", label="plan, cold cache")
    axes.plot(counts, [p["warm_s"] for p in points], "s-", label="plan, warm cache")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("declared contacts (10% changed)")
    axes.set_ylabel("wall time of `reconciler plan` (s)")
    axes.set_title("reconciler plan against a local sandbox (no latency)")
    axes.grid(True, which="both", alpha=0.3)
    for point in points:
        axes.annotate(
            f"{point['cold_s']:.1f} s",
            (point["contacts"], point["cold_s"]),
            textcoords="offset points",
            xytext=(-10, 8),
            fontsize=8,
        )
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
