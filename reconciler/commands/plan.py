"""reconciler plan: what apply would change; and the steps apply shares with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from reconciler.changes import Plan
from reconciler.commands import EXIT_CHANGES, EXIT_OK
from reconciler.commands.connect import open_target
from reconciler.concurrency import run
from reconciler.engine.cost import estimate
from reconciler.engine.fetch import fetch_live
from reconciler.engine.kinds import plan_kinds
from reconciler.engine.plan import make_plan
from reconciler.engine.planfile import signed, write_plan
from reconciler.engine.redact import redact_plan
from reconciler.errors import PlanError
from reconciler.input.declaration import read_declaration
from reconciler.input.selection import Selectors, select
from reconciler.input.settings import Settings, load_settings
from reconciler.model import Declaration
from reconciler.outputs.plan import print_plan
from reconciler.outputs.progress import progress_bar
from reconciler.targets.base import Target


def plan_command(
    paths: Sequence[str],
    *,
    output_format: str,
    out: str | None,
    detailed_exitcode: bool,
    redact: bool,
    config: str | None,
    sandbox: bool,
    selectors: Selectors | None = None,
) -> int:
    settings = load_settings(config)
    declaration = read_selected(paths, selectors)
    with open_target(settings, sandbox=sandbox) as target:
        plan = run(
            plan_against(target, declaration, settings, redact=redact), deadline=settings.deadline
        )
        key = target.plan_secret
    if redact:
        plan = redact_plan(plan, settings.sensitive)
    plan = signed(plan, key)  # as shown: apply --plan verifies it with the same credential
    if out is not None:
        write_plan(plan, out)
    print_plan(plan, output_format)
    if detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def read_selected(paths: Sequence[str], selectors: Selectors | None) -> Declaration:
    """The declared contacts, all of them or the part ``selectors`` choose."""
    declaration = read_declaration(paths)
    return declaration if selectors is None else select(declaration, selectors)


async def plan_against(
    target: Target, declaration: Declaration, settings: Settings, *, redact: bool = False
) -> Plan:
    """The plan; a PlanError shows personal values only without ``redact``."""
    try:
        return await _plan(target, declaration, settings)
    except PlanError as error:
        if redact:
            raise PlanError(error.redacted) from None
        raise


async def _plan(target: Target, declaration: Declaration, settings: Settings) -> Plan:
    async with target.client() as client:
        declaration, kinds = await plan_kinds(client, declaration, settings, target.identity)
        with progress_bar("Reading contacts", len(declaration.contacts)) as advance:
            # What the files dropped is found in the whole listing: released (keep) or
            # removed, it must be found first.
            live = await fetch_live(
                client,
                declaration,
                on_progress=advance,
                marker_key=settings.marker_key,
                # A partial plan never scans: it removes nothing, or only what git says
                # the files dropped.
                scan=settings.marker_key is not None and declaration.selection is None,
                label=settings.marker_label_on(client.capabilities.writes_labels),
                conversations=settings.removed == "delete",
            )
        capabilities = client.capabilities  # the server's own, once the session has asked it
        plan = make_plan(declaration, live, settings, capabilities, target=target.identity)
        plan = replace(plan, kinds=kinds)
        cost = estimate(plan, capabilities, plan_requests=client.request_count, pace=client.rate)
    return replace(plan, cost=cost)
