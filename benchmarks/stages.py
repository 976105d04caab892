"""One plan (and optionally apply) in this process, timed stage by stage; a JSON report.

Run by the benchmarks in a fresh child process, so that every run starts cold (imports,
functools caches, the interpreter's heap) and its peak RSS is its own. It calls the same
functions, in the same order, as ``reconciler plan`` / ``reconciler apply --auto-approve``
(reconciler.commands); the report's last stdout line is JSON.

``--naive`` runs the straightforward pipeline instead, for comparison: PyYAML's pure-Python
loader, ``jsonschema.validate`` per contact, DeepDiff on every declared/live pair.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.concurrency import run  # noqa: E402
from reconciler.engine.apply import apply_plan  # noqa: E402
from reconciler.engine.fetch import fetch_live  # noqa: E402
from reconciler.engine.plan import make_plan  # noqa: E402
from reconciler.input.declaration import read_declaration  # noqa: E402
from reconciler.input.settings import Settings, load_settings  # noqa: E402
from reconciler.model import Contact  # noqa: E402
from reconciler.outputs.plan import render_plan  # noqa: E402
from reconciler.runtime import young_collections_only  # noqa: E402
from reconciler.targets.livedesk import (  # noqa: E402
    CAPABILITIES,
    Credentials,
    LiveDesk,
    LiveDeskClient,
)

IMPORTED = time.perf_counter()


class StatusCounter(logging.Handler):
    """Counts the HTTP statuses the client logs at debug level (one record a response)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statuses: Counter[int] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message, args = record.msg, record.args
        if isinstance(message, str) and message.startswith("%s%s -> %d"):
            status = args[2] if isinstance(args, tuple) else None
            if isinstance(status, int):
                self.statuses[status] += 1


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * resource.getpagesize() / 2**20


_TARGETS: dict[tuple[str, Settings], LiveDesk] = {}


def _client(base_url: str, settings: Settings) -> LiveDeskClient:
    """The client the commands use: settings.concurrency, rate_limit and timeout, and one
    target a run, so that apply starts from the pace the fetch found, as in the CLI."""
    key = (base_url, settings)
    if key not in _TARGETS:
        _TARGETS[key] = LiveDesk(base_url, Credentials("sandbox", "sandbox"), settings)
    return _TARGETS[key].client()


class Laps:
    """Writes into ``report`` how long each stage took (``NAME_s``), as each one ends.

    With ``memory``, also the peak and current RSS at its end (``NAME_peak_rss_mib``,
    ``NAME_rss_mib``).
    """

    def __init__(self, report: dict[str, Any], *, memory: bool) -> None:
        self.report = report
        self.memory = memory
        self.mark = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.report[f"{name}_s"] = now - self.mark
        if self.memory:
            self.report[f"{name}_peak_rss_mib"] = _peak_rss_mib()
            self.report[f"{name}_rss_mib"] = _rss_mib()
        self.mark = now


def ours(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {}
    lap = Laps(report, memory=True)

    settings = load_settings(args.config)
    declaration = read_declaration(args.paths, use_cache=not args.no_cache)
    lap("validate")

    async def fetch() -> Any:
        async with _client(args.base_url, settings) as client:
            return await fetch_live(
                client,
                declaration,
                marker_key=settings.marker_key,
                scan=settings.marker_key is not None,
                label=settings.marker_label_on(client.capabilities.writes_labels),
            )

    with young_collections_only():  # as the CLI does for every command
        cpu_before = time.process_time()
        live = run(fetch())
        report["fetch_cpu_s"] = time.process_time() - cpu_before
        lap("fetch")
        plan = make_plan(declaration, live, settings, CAPABILITIES)
        lap("diff")
    rendered = render_plan(plan, "text", color=False)
    lap("render")
    report.update(
        contacts=len(declaration.contacts),
        fetch_requests=live.requests,
        changes=plan.creates + plan.updates,  # markers alone are not changes
        marks=plan.marks,
        unchanged=plan.unchanged,
        rendered_chars=len(rendered),
    )
    if args.apply:

        async def apply() -> tuple[Any, int]:
            async with _client(args.base_url, settings) as client:
                outcomes = await apply_plan(client, plan)
                return outcomes, client.request_count

        outcomes, requests = run(apply())
        lap("apply")
        statuses = Counter(outcome.status for outcome in outcomes)
        failed = [outcome.reason for outcome in outcomes if outcome.status == "failed"]
        report.update(
            apply_requests=requests,
            outcomes=dict(statuses),
            failed_reasons=failed[:5],
            failed_with_429=sum(1 for reason in failed if "429" in reason),
        )
    return report


def _project(live: Any, declared: Any) -> Any:
    """The part of ``live`` that ``declared`` speaks of (what a naive diff compares)."""
    if not isinstance(declared, dict):
        return live
    if not isinstance(live, dict):
        return None
    return {key: _project(live.get(key), value) for key, value in declared.items()}


def naive(args: argparse.Namespace) -> dict[str, Any]:
    """The obvious pipeline, on the same files and the same sandbox."""
    import jsonschema
    import jsonschema.validators
    import yaml
    from deepdiff import DeepDiff

    report: dict[str, Any] = {}
    lap = Laps(report, memory=False)

    schema_path = Path(__file__).resolve().parent.parent / "schemas" / "contacts.schema.json"
    schema = json.loads(schema_path.read_text())
    # One contact's rules, with the definitions they refer to.
    contact_schema = {**schema["properties"]["contacts"]["items"], "$defs": schema["$defs"]}
    files = sorted(p for path in args.paths for p in Path(path).rglob("*.yaml"))
    declared: list[dict[str, Any]] = []
    for file in files:
        document = yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        declared.extend(document["contacts"])
    lap("load")
    sample = declared[: args.validate_sample] if args.validate_sample else declared
    for contact in sample:
        jsonschema.validate(contact, contact_schema)
    lap("validate")
    report["validated"] = len(sample)
    # For reference: the same rules with one validator built up front.
    prebuilt = jsonschema.validators.validator_for(contact_schema)(contact_schema)
    for contact in declared:
        prebuilt.validate(contact)
    lap("validate_prebuilt")
    settings = load_settings(args.config)

    async def fetch() -> tuple[list[Contact], int]:
        async with _client(args.base_url, settings) as client:
            listed = await client.list_contacts()
            return listed, client.request_count

    listed, requests = run(fetch())
    index: dict[Any, Contact] = {}
    for live in listed:
        index["id", live["id"]] = live
        index["identifier", live.get("identifier")] = live
        index["email", live.get("email")] = live
    lap("fetch")
    changed = 0
    for contact in declared:
        if "id" in contact:
            key: tuple[str, Any] = ("id", contact["id"])
        elif "identifier" in contact:
            key = ("identifier", contact["identifier"])
        else:
            key = ("email", contact["email"].lower())
        fields = {k: v for k, v in contact.items() if k not in ("id", "inbox_id")}
        if DeepDiff(_project(index.get(key), fields), fields):
            changed += 1
    lap("diff")
    report.update(contacts=len(declared), fetch_requests=requests, changes=changed)
    return report


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Terraform's way: one GET per contact (ids 1..N), ``--parallelism`` at a time."""
    from reconciler.concurrency import gather_bounded

    started = time.perf_counter()

    async def read_all() -> int:
        async with LiveDeskClient(
            args.base_url, Credentials("sandbox", "sandbox"), concurrency=args.parallelism
        ) as client:
            reads = (client.get_contact(i) for i in range(1, args.baseline + 1))
            await gather_bounded(reads, limit=args.parallelism)
            return client.request_count

    requests = run(read_all())
    return {"fetch_s": time.perf_counter() - started, "fetch_requests": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--apply", action="store_true", help="apply the plan after making it")
    parser.add_argument("--naive", action="store_true", help="the straightforward pipeline")
    parser.add_argument(
        "--validate-sample", type=int, default=0, metavar="N", help="--naive: validate N only"
    )
    parser.add_argument(
        "--baseline", type=int, default=0, metavar="N", help="GET contacts 1..N one by one"
    )
    parser.add_argument("--parallelism", type=int, default=10, help="--baseline: at once")
    parser.add_argument("--count-statuses", action="store_true", help="count HTTP statuses")
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats here")
    parser.add_argument("--trace", metavar="FILE", help="write the HTTP client's debug log here")
    args = parser.parse_args()

    counter = StatusCounter()
    if args.count_statuses:
        client_log = logging.getLogger("reconciler.targets.http.client")
        client_log.setLevel(logging.DEBUG)
        client_log.addHandler(counter)
    if args.trace:
        trace = logging.FileHandler(args.trace)
        trace.setFormatter(logging.Formatter("%(relativeCreated)8.1f %(name)s %(message)s"))
        for name in ("reconciler.targets.http.client", "reconciler.targets.http.lanes"):
            logging.getLogger(name).setLevel(logging.DEBUG)
            logging.getLogger(name).addHandler(trace)
    logging.getLogger("stamina").setLevel(logging.ERROR)

    pipeline = baseline if args.baseline else naive if args.naive else ours
    started = time.perf_counter()
    if args.profile:
        profiler = cProfile.Profile()
        report = profiler.runcall(pipeline, args)
        profiler.dump_stats(args.profile)
    else:
        report = pipeline(args)
    finished = time.perf_counter()
    report.update(
        import_s=IMPORTED - STARTED,
        total_s=finished - started,
        statuses={str(code): count for code, count in sorted(counter.statuses.items())},
        max_rss_mib=_peak_rss_mib(),
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
