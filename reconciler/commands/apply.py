"""reconciler apply: make the target match the files, or carry out a saved plan."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from reconciler.changes import Change, Plan
from reconciler.commands import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from reconciler.commands.connect import open_target
from reconciler.commands.plan import plan_against, read_selected
from reconciler.concurrency import Deadline, run
from reconciler.engine.apply import Outcome, apply_plan
from reconciler.engine.kind import KindOutcome
from reconciler.engine.kinds import apply_kinds, stale_kinds
from reconciler.engine.plan import change_limit_message
from reconciler.engine.plancheck import check_applicable
from reconciler.engine.planfile import changed_sources, read_plan
from reconciler.engine.redact import redact_change, redact_plan
from reconciler.engine.stale import Stale, find_stale
from reconciler.errors import ConfigError, StalePlanError, ThresholdError
from reconciler.input.selection import Selectors
from reconciler.input.settings import Settings, load_settings
from reconciler.outputs.plan import print_plan
from reconciler.outputs.progress import progress_bar
from reconciler.targets.base import Target


def apply_command(
    paths: Sequence[str],
    *,
    plan_file: str | None,
    auto_approve: bool,
    force: bool,
    redact: bool,
    config: str | None,
    sandbox: bool,
    allow_removal: bool = False,
    selectors: Selectors | None = None,
) -> int:
    if bool(paths) == bool(plan_file):
        raise ConfigError("apply takes either PATH... or --plan FILE (one of the two)")
    if plan_file is not None and selectors:
        raise ConfigError(
            "apply --plan applies the saved plan's own selection: give --target, --exclude "
            "and --changed-since to plan, or apply PATH... with them"
        )
    settings = load_settings(config)
    deadline = Deadline(settings.deadline)

    def shown(change: Change) -> Change:
        return redact_change(change, settings.sensitive) if redact else change

    # The saved plan or the files are read and checked before anything is sent.
    if plan_file is not None:
        with open_target(settings, sandbox=sandbox) as target:
            # Its signature verifies under the key of the credential that made it, or
            # nothing is sent (opening a target sends nothing).
            plan = read_plan(plan_file, key=target.plan_secret, target=target.identity)
            _check_threshold(plan, settings, force=force, allow_removal=allow_removal)
            _check_time(plan, deadline)
            changed = changed_sources(plan)
            if changed:
                print(
                    f"warning: {plan_file} is older than the files it came from "
                    f"({', '.join(changed)}); it is applied as it was made",
                    file=sys.stderr,
                )
            check_applicable(plan, plan_file, target.identity, target.capabilities)
            stale = run(_find_stale(target, plan), deadline=deadline.remaining())
            if stale:
                for line in stale:
                    shown_line = (
                        line if isinstance(line, str) else replace(line, change=shown(line.change))
                    )
                    print(f"stale: {shown_line}", file=sys.stderr)
                raise StalePlanError(
                    f"{len(stale)} contact(s) changed since {plan_file} was made; "
                    "nothing was applied: run plan again"
                )
            applied = run(_apply(target, plan, shown, deadline, settings))
        return _summary(applied)
    declaration = read_selected(paths, selectors)
    with open_target(settings, sandbox=sandbox) as target:
        plan = run(
            plan_against(target, declaration, settings, redact=redact),
            deadline=deadline.remaining(),
        )
        print_plan(redact_plan(plan, settings.sensitive) if redact else plan, "text")
        if not plan.changes and not plan.kinds:
            return EXIT_OK
        _check_threshold(plan, settings, force=force, allow_removal=allow_removal)
        _check_time(plan, deadline)
        # Markers alone change nothing a person sees: they are written without asking.
        if plan.has_changes and not auto_approve:
            if not _confirmed():
                print("Apply cancelled.")
                return EXIT_ERROR
            deadline = Deadline(settings.deadline)  # the wait for "yes" is not the desk's
        applied = run(_apply(target, plan, shown, deadline, settings))
    return _summary(applied)


def _summary(applied: Applied) -> int:
    outcomes = applied.outcomes
    count = Counter(outcome.status for outcome in outcomes)
    kinds = Counter(outcome.status for outcome in applied.kinds)
    failed = count["failed"] + kinds["failed"]
    counts = f"{count['created']} created, {count['updated']} updated, {failed} failed"
    others = [
        f"{count[status]} {status}"
        for status in ("deleted", "blocked", "released", "marked")
        if count[status]
    ]
    others += [
        f"{count} {kind.replace('_', ' ')}(s) {status}"
        for (kind, status), count in Counter(
            (outcome.change.kind, outcome.status) for outcome in applied.kinds
        ).items()
        if status != "failed"
    ]
    also = f" Also {', '.join(others)}." if others else ""
    if applied.not_started:
        why = "stopped at the deadline" if applied.deadline_passed else "interrupted"
        print(
            f"Apply {why}: {counts}, {applied.not_started} not started; run apply again to "
            f"finish.{also}"
        )
        return EXIT_ERROR if applied.deadline_passed else EXIT_INTERRUPTED
    print(f"Apply complete: {counts}.{also}")
    return EXIT_ERROR if failed else EXIT_OK


@dataclass(frozen=True, slots=True)
class Applied:
    outcomes: tuple[Outcome, ...]
    not_started: int  # changes never begun: Ctrl-C or the deadline came first
    deadline_passed: bool = False
    kinds: tuple[KindOutcome, ...] = ()  # the other kinds' changes, made first


async def _find_stale(target: Target, plan: Plan) -> list[Stale | str]:
    async with target.client() as client:
        stale: list[Stale | str] = list(await find_stale(client, plan))
        stale += await stale_kinds(client, plan.kinds)
        return stale


async def _apply(
    target: Target,
    plan: Plan,
    shown: Callable[[Change], Change],
    deadline: Deadline,
    settings: Settings,
) -> Applied:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    timer = loop.call_later(deadline.remaining(), stop.set)  # past it: no new writes

    task = asyncio.current_task()
    interrupts = 0

    def interrupted() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:  # again: abort at once, through the task (never a stray raise)
            if task is not None:
                task.cancel()
            return
        print(
            "\nInterrupted: finishing the writes under way, starting no more "
            "(Ctrl-C again to abort at once)",
            file=sys.stderr,
            flush=True,
        )
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupted)
    try:
        async with target.client() as client:
            client.stop_at(time.monotonic() + deadline.remaining())  # retries included
            kinds = await apply_kinds(client, plan.kinds, stop=stop)
            for done in kinds:
                print(done, flush=True)
            with progress_bar("Applying", len(plan.changes)) as advance:

                def report(outcome: Outcome) -> None:
                    advance(1)
                    if outcome.status != "marked":  # counted in the summary, not listed
                        print(replace(outcome, change=shown(outcome.change)), flush=True)

                outcomes = await apply_plan(
                    client,
                    plan,
                    on_outcome=report,
                    stop=stop,
                    delete_with_conversations=settings.delete_with_conversations,
                )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        timer.cancel()
    started = len(outcomes) + len(kinds)
    total = len(plan.changes) + len(plan.kinds)
    passed = deadline.remaining() == 0 and started < total
    return Applied(outcomes, total - started, deadline_passed=passed, kinds=tuple(kinds))


def _check_time(plan: Plan, deadline: Deadline) -> None:
    """Refuse, before any write, an apply that can't end inside the deadline at the pace
    the plan knew: better than stopping half-way."""
    cost = plan.cost
    left = deadline.remaining()
    if cost is None or cost.apply_seconds is None or cost.apply_seconds <= left:
        return
    raise ThresholdError(
        f"apply would send about {cost.apply_requests} requests, about "
        f"{cost.apply_seconds} s at the desk's pace, and the run's deadline leaves "
        f"{left:.0f} s: nothing was applied; raise `deadline` in reconciler.yaml (or "
        "`rate_limit`, where the desk allows more), or apply part of the files "
        "(--target, --changed-since)"
    )


def _check_threshold(plan: Plan, settings: Settings, *, force: bool, allow_removal: bool) -> None:
    over = change_limit_message(plan, settings)
    if over is not None and not force:
        raise ThresholdError(f"{over}; nothing was applied: check the plan, then use --force")
    if plan.removals and not allow_removal:
        raise ThresholdError(
            f"the plan removes {plan.removals} contact(s); nothing was applied: check the "
            "removals (listed first), then apply with --allow-removal"
        )
    if plan.removals > settings.max_removals and not force:
        raise ThresholdError(
            f"the plan removes {plan.removals} contacts, more than max_removals "
            f"({settings.max_removals}) allows; nothing was applied: check the plan, then use "
            "--force as well"
        )


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        raise ConfigError("apply needs --auto-approve when there is no terminal to confirm on")
    print("\nDo you want to apply these changes? Only 'yes' will be accepted.")
    try:
        return input("  Enter a value: ").strip() == "yes"
    except EOFError:
        return False
