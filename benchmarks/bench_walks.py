"""Walks that end: the pages ``reconciler export`` reads to list a whole account of 3,000
contacts (200 pages), when the account was created one contact at a time (no ties) and
when a CSV import gave every contact one ``created_at`` (the desk orders its ties anew for
each page: a walk repeats some and misses others), with all, or only some, emails and
phone numbers. Beside the revision before walks began in the order that ties least
(``BEFORE``: ``created_at`` first, then email, ...).

Every run is ``reconciler -v export`` in its own process, against the sandbox in its own
(no latency: pages are counted, not timed); an export writes only when it has listed every
contact the desk counted.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_versions import _tree_at
from benchmarks.common import (
    CREATED_AT,
    REPO,
    Context,
    Section,
    child_env,
    live_contact,
    run_child,
    sandbox_process,
    say,
    table,
    verdict,
)

CONTACTS = 3_000
PAGE = 15
BEFORE = "3a3bf22"
_REQUESTS = re.compile(r"(\d+) HTTP requests sent to ")
ACCOUNTS = {
    "created one by one": {"tied": False},
    "one import, every contact with an email": {"tied": True},
    "one import, a fifth without email": {"tied": True, "no_email": 5},
    "one import, a fifth without email, another fifth without phone": {
        "tied": True,
        "no_email": 5,
        "no_phone": 5,
    },
}


def _contact(i: int, tied: bool, no_email: int = 0, no_phone: int = 0) -> dict[str, Any]:
    contact = live_contact(i)
    if tied:
        contact["created_at"] = CREATED_AT
    if no_email and i % no_email == 0:
        contact["email"] = None
    if no_phone and i % no_phone == 1:
        contact["phone_number"] = None
    return contact


def _seed(path: Path, **shape: Any) -> None:
    from reconciler.sandbox.store import Store

    store = Store(path)
    try:
        store.seed_if_empty(_contact(i, **shape) for i in range(1, CONTACTS + 1))
    finally:
        store.close()


def _export(source: Path, base_url: str, workdir: Path) -> dict[str, Any]:
    workdir = workdir / "walks-export"  # away from the other benchmarks' contact files
    workdir.mkdir(exist_ok=True)
    env = {**child_env(base_url), "PYTHONPATH": str(source)}
    config = workdir / "walks.yaml"
    config.write_text('{"target": "livedesk"}\n', encoding="utf-8")
    out = workdir / "export.yaml"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "-v",
        "export",
        str(out),
        "--config",
        str(config),
    ]
    run = run_child(command, cwd=workdir, env=env)
    listed = (
        sum(1 for line in out.read_text().splitlines() if line.startswith("  - "))
        if out.exists()
        else 0
    )
    return {
        "exit": run.returncode,
        "requests": sum(map(int, _REQUESTS.findall(run.stderr))),
        "listed": listed,
        "error": run.stderr.strip().splitlines()[-1] if run.returncode else "",
    }


def _cell(result: dict[str, Any]) -> str:
    if result["exit"]:
        return f"{result['requests']:,} requests, failed: {result['error'][:80]}"
    walks = result["requests"] / (CONTACTS / PAGE)
    return f"{result['requests']:,} requests ({walks:.2f} walks), {result['listed']:,} listed"


def run(context: Context) -> Section:
    before = BEFORE
    rows, targets, data = [], [], {}
    with tempfile.TemporaryDirectory() as scratch:
        commit = _tree_at(before, Path(scratch))
        trees = {"now": REPO, f"before ({commit})": Path(scratch) / "tree"}
        for name, shape in ACCOUNTS.items():
            db = context.workdir / "walks" / f"{re.sub(r'[^a-z]+', '-', name)}.sqlite"
            db.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            _seed(db, **shape)
            results = {}
            with sandbox_process(db) as sandbox:
                for label, tree in trees.items():
                    results[label] = _export(tree, sandbox.base_url, context.workdir)
            data[name] = results
            now, was = results["now"], results[f"before ({commit})"]
            say(f"  {name}: now {now['requests']} requests, before {was['requests']}")

            rows.append([name, _cell(now), _cell(was)])
            if shape.get("tied") and not shape.get("no_phone"):
                bound = 2 * CONTACTS // PAGE
                targets.append(
                    [
                        f"walks: {name}: every contact in at most two walks' pages",
                        f"{now['requests']:,} requests, {now['listed']:,} of {CONTACTS:,} listed",
                        verdict(now["exit"] == 0 and now["requests"] <= bound + 1),
                    ]
                )
    markdown = "\n".join(
        [
            f"`reconciler export` of an account of {CONTACTS:,} contacts ({CONTACTS // PAGE} "
            "pages of 15): the requests it made (its `-v` log; one is the page 1 that counts "
            "them), and the walks they come to. The sandbox orders tied rows anew for each "
            "page request, as PostgreSQL may.",
            "",
            table(
                [
                    "account",
                    "now: walks in the order that ties least first",
                    f"before ({commit}): created_at first",
                ],
                rows,
            ),
        ]
    )
    return Section("walks", markdown, data, targets)
