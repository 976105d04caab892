"""Run the benchmarks and write benchmarks/RESULTS.md (see benchmarks/README.md).

python -m benchmarks.run                      # all four, full size (about 6.5 minutes)
python -m benchmarks.run --only fetch,apply   # re-run some; the others' figures are kept
python -m benchmarks.run --quick              # small sizes, prints only: for development
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    bench_apply,
    bench_baselines,
    bench_ci,
    bench_cpu,
    bench_fetch,
    bench_scale,
    bench_versions,
    bench_walks,
)
from benchmarks.common import Context, Section, load_average, machine, say

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"
NOTES_START = "<!-- notes: hand-written, kept by run.py -->"
NOTES_END = "<!-- end of notes -->"

BENCHMARKS: dict[str, tuple[str, Callable[[Context], Section]]] = {
    "fetch": ("Fetch: 10,000 declared contacts, 50 ms away", bench_fetch.run),
    "cpu": ("CPU: validate and plan 10,000 contacts", bench_cpu.run),
    "scale": ("Scale: 10 to 1,000,000 contacts", bench_scale.run),
    "baselines": (
        "Side by side: reconciler and the scripts a user would write, 50 ms away",
        bench_baselines.run,
    ),
    "apply": (
        "Apply: 60 to 1,000 updates under an unknown limit of 10, 50 or 200 a second",
        bench_apply.run,
    ),
    "walks": ("Walks that end: the pages a whole listing costs, tied and not", bench_walks.run),
    "ci": ("The CI path: a cold runner to a plan of 1,000 contacts", bench_ci.run),
    "versions": (
        "Before and after: the side-by-side cases at an earlier revision and now",
        bench_versions.run,
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run reconciler's benchmarks.")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes; print, don't write RESULTS.md"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures; don't write RESULTS.md"
    )
    parser.add_argument(
        "--workdir", metavar="DIR", help="keep generated data here (default: a temporary dir)"
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="versions: the git revision to compare the working tree with (default: HEAD)",
    )
    parser.add_argument(
        "--baseline-contacts",
        type=int,
        metavar="N",
        help="fetch comparison: GET only N contacts and extrapolate (default: all 10,000)",
    )
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="reconciler-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    context = Context(
        workdir.resolve(),
        args.quick,
        {"baseline_contacts": args.baseline_contacts, "before": args.before},
    )
    say(f"benchmarks {', '.join(names)} in {workdir} (load average {load_average()})")
    sections: dict[str, Section] = {}
    started = time.perf_counter()
    try:
        for name in names:
            say(f"{name}:")
            before = load_average()
            section = BENCHMARKS[name][1](context)
            section.load_before, section.load_after = before, load_average()
            section.finished_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            sections[name] = section
            say(f"  done (load average {before} -> {section.load_after})")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    say(f"all done in {time.perf_counter() - started:.0f} s")
    if args.quick or args.no_write:
        for name, section in sections.items():
            print(f"## {BENCHMARKS[name][0]}\n\n{section.markdown}\n")
            for target, measured, verdict in section.targets:
                print(f"- {target}: {measured}: {verdict}")
            print()
        return 0
    _write_results(sections)
    say(f"wrote {RESULTS_MD.relative_to(HERE.parent)}")
    return 0


def _write_results(sections: dict[str, Section]) -> None:
    stored: dict[str, Any] = {}
    if RESULTS_JSON.exists():
        stored = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    stored["machine"] = machine()
    for name, section in sections.items():
        stored.setdefault("sections", {})[name] = {
            "markdown": section.markdown,
            "targets": section.targets,
            "data": section.data,
            "load_before": section.load_before,
            "load_after": section.load_after,
            "finished_at": section.finished_at,
        }
    RESULTS_JSON.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(_results_markdown(stored), encoding="utf-8")


def _notes() -> str:
    """The hand-written part of RESULTS.md (profiles, causes), kept across runs."""
    if not RESULTS_MD.exists():
        return ""
    text = RESULTS_MD.read_text(encoding="utf-8")
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(NOTES_START) : end].strip("\n")


def _results_markdown(stored: dict[str, Any]) -> str:
    host = stored["machine"]
    sections = stored.get("sections", {})
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks.run` (see README.md here); the raw numbers are in "
        "results.json. Every figure was measured in one run beside its comparison, on this "
        "machine:",
        "",
        f"- CPU: {host['cpu']}, `nproc` {host['nproc']}",
        f"- memory: {host['memory']}",
        f"- Python {host['python']} on {host['platform']}",
        "- other engineers' test suites may have been running at the same time: each "
        "section gives the load average (1, 5, 15 min) before and after it.",
        "",
        "## Targets",
        "",
        "| benchmark | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    for name in BENCHMARKS:
        for target, measured, verdict in sections.get(name, {}).get("targets", []):
            lines.append(f"| {name} | {target} | {measured} | {verdict} |")
    lines.append("")
    for name, (title, _) in BENCHMARKS.items():
        section = sections.get(name)
        if section is None:
            continue
        lines += [
            f"## {title}",
            "",
            f"Run {section['finished_at']}; load average {section['load_before']} before, "
            f"{section['load_after']} after.",
            "",
            section["markdown"],
            "",
        ]
    lines += [
        "## Where the time and memory go",
        "",
        NOTES_START,
        _notes() or "(profiles and causes: written by hand between these markers; kept by run.py)",
        NOTES_END,
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
