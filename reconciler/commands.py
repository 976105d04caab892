"""What each command does, once the CLI has parsed its arguments."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.apply import Outcome, Stale, apply_plan, find_stale
from reconciler.connect import Target, open_target
from reconciler.errors import ConfigError, InputError, StalePlanError, ThresholdError
from reconciler.fetch import fetch_live
from reconciler.model import Change, Declaration, Plan
from reconciler.plan import change_limit_message, make_plan
from reconciler.planfile import read_plan, write_plan
from reconciler.progress import progress_bar
from reconciler.redact import redact_change, redact_plan
from reconciler.render import color_enabled, render_plan
from reconciler.report import render_problems
from reconciler.settings import Settings, load_settings
from reconciler.validate import read_declaration

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def validate_command(paths: Sequence[str], *, output_format: str, use_cache: bool) -> int:
    """Check contact files offline: print every problem, or a one-line summary if none."""
    try:
        declaration = read_declaration(paths, use_cache=use_cache)
    except InputError as error:
        print(render_problems(error.problems, output_format))
        if output_format == "text":
            count = len({problem.position.file for problem in error.problems})
            print(f"{_plural(len(error.problems), 'problem')} in {_plural(count, 'file')}.")
        return EXIT_ERROR
    if output_format == "json":
        print(render_problems([], output_format))
    elif output_format == "text":
        files = _plural(len(declaration.sources), "file")
        print(f"{files}, {_plural(len(declaration.contacts), 'contact')}: valid.")
    return EXIT_OK


def plan_command(
    paths: Sequence[str],
    *,
    output_format: str,
    out: str | None,
    detailed_exitcode: bool,
    redact: bool,
    config: str | None,
    sandbox: bool,
) -> int:
    settings = load_settings(config)
    declaration = read_declaration(paths)
    with open_target(settings, sandbox=sandbox) as target:
        plan = asyncio.run(_make_plan(target, declaration, settings))
    if redact:
        plan = redact_plan(plan, settings.sensitive)
    if out is not None:
        write_plan(plan, out)
    _print_plan(plan, output_format)
    if detailed_exitcode and plan.changes:
        return EXIT_CHANGES
    return EXIT_OK


def apply_command(
    paths: Sequence[str],
    *,
    plan_file: str | None,
    auto_approve: bool,
    force: bool,
    redact: bool,
    config: str | None,
    sandbox: bool,
) -> int:
    if bool(paths) == bool(plan_file):
        raise ConfigError("apply takes either PATH... or --plan FILE (one of the two)")
    settings = load_settings(config)

    def shown(change: Change) -> Change:
        return redact_change(change, settings.sensitive) if redact else change

    with open_target(settings, sandbox=sandbox) as target:
        if plan_file is not None:
            plan = read_plan(plan_file)
            _check_threshold(plan, settings, force=force)
            stale = asyncio.run(_find_stale(target, plan))
            if stale:
                for line in stale:
                    print(f"stale: {replace(line, change=shown(line.change))}", file=sys.stderr)
                raise StalePlanError(
                    f"{len(stale)} contact(s) changed since {plan_file} was made; "
                    "nothing was applied: run plan again"
                )
        else:
            declaration = read_declaration(paths)
            plan = asyncio.run(_make_plan(target, declaration, settings))
            _print_plan(redact_plan(plan, settings.sensitive) if redact else plan, "text")
            if not plan.changes:
                return EXIT_OK
            _check_threshold(plan, settings, force=force)
            if not auto_approve and not _confirmed():
                print("Apply cancelled.")
                return EXIT_ERROR
        outcomes = asyncio.run(_apply(target, plan, shown))
    failed = sum(1 for outcome in outcomes if outcome.status == "failed")
    created = sum(1 for outcome in outcomes if outcome.status == "created")
    print(
        f"Apply complete: {created} created, {len(outcomes) - created - failed} updated, "
        f"{failed} failed."
    )
    return EXIT_ERROR if failed else EXIT_OK


async def _make_plan(target: Target, declaration: Declaration, settings: Settings) -> Plan:
    async with target.client() as client:
        with progress_bar("Reading LiveDesk", len(declaration.contacts)) as advance:
            live = await fetch_live(client, declaration, on_progress=advance)
    return make_plan(declaration, live, settings)


async def _find_stale(target: Target, plan: Plan) -> list[Stale]:
    async with target.client() as client:
        return await find_stale(client, plan)


async def _apply(
    target: Target, plan: Plan, shown: Callable[[Change], Change]
) -> tuple[Outcome, ...]:
    async with target.client() as client:
        with progress_bar("Applying", len(plan.changes)) as advance:

            def report(outcome: Outcome) -> None:
                advance(1)
                print(replace(outcome, change=shown(outcome.change)), flush=True)

            return await apply_plan(client, plan, on_outcome=report)


def _print_plan(plan: Plan, output_format: str) -> None:
    rendered = render_plan(plan, output_format, color=color_enabled(sys.stdout))
    print(rendered, end="" if rendered.endswith("\n") else "\n")


def _check_threshold(plan: Plan, settings: Settings, *, force: bool) -> None:
    over = change_limit_message(plan, settings)
    if over is not None and not force:
        raise ThresholdError(f"{over}; nothing was applied: check the plan, then use --force")


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        raise ConfigError("apply needs --auto-approve when there is no terminal to confirm on")
    print("\nDo you want to apply these changes? Only 'yes' will be accepted.")
    try:
        return input("  Enter a value: ").strip() == "yes"
    except EOFError:
        return False


def export_command(
    path: str | None, *, split: bool, query: str | None, config: str | None, sandbox: bool
) -> int:
    """Write the live contacts as contact files: PATH, a file per contact, or stdout."""
    from reconciler import export

    export.check_destination(path, split=split)
    settings = load_settings(config)
    known = export.known_ids(path) if query is None else set()

    async def read(target: Target) -> export.Export:
        async with target.client() as client:
            return await export.read_export(client, query=query, known_ids=known)

    with open_target(settings, sandbox=sandbox) as target:
        found = asyncio.run(read(target))
    notes = list(found.notes)
    count = _plural(len(found.contacts), "contact")
    if path is None:
        schema = export.schema_reference(Path.cwd())
        sys.stdout.write(export.render_file(found.contacts, found.inbox_id, schema))
        summary = f"Exported {count}."
    else:
        written, file_notes = export.write_export(found, path, split=split)
        notes += file_notes
        summary = f"Exported {count} to {path} ({_plural(len(written), 'file')} written)."
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary, file=sys.stderr if path is None else sys.stdout)
    return EXIT_OK


def show_command(plan_file: str, *, output_format: str) -> int:
    """Render a saved plan (redacted ones too); warn when its files changed since."""
    plan = read_plan(plan_file, allow_redacted=True)
    changed = _changed_sources(plan)
    if changed:
        print(
            f"warning: {plan_file} is older than the files it came from ({', '.join(changed)}); "
            "run plan again to see what apply would do now",
            file=sys.stderr,
        )
    _print_plan(plan, output_format)
    return EXIT_OK


def _changed_sources(plan: Plan) -> list[str]:
    """What became of each source file whose bytes are no longer those the plan read."""
    changed = []
    for source in plan.sources:
        try:
            digest = hashlib.sha256(Path(source.path).read_bytes()).hexdigest()
        except OSError:
            changed.append(f"{source.path} is gone")
            continue
        if digest != source.sha256:
            changed.append(f"{source.path} changed")
    return changed
