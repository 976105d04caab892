"""reconciler plan: what apply would change; and the steps apply shares with it."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.bounded import run
from reconciler.collector import young_collections_only
from reconciler.commands import EXIT_CHANGES, EXIT_OK
from reconciler.fetch import fetch_live
from reconciler.model import Declaration, Plan
from reconciler.plan import make_plan
from reconciler.planfile import write_plan
from reconciler.progress import progress_bar
from reconciler.redact import redact_plan
from reconciler.render import print_plan
from reconciler.settings import Settings, load_settings
from reconciler.target import Target, open_target
from reconciler.validate import read_declaration


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
        plan = run(plan_against(target, declaration, settings))
    if redact:
        plan = redact_plan(plan, settings.sensitive)
    if out is not None:
        write_plan(plan, out)
    print_plan(plan, output_format)
    if detailed_exitcode and plan.changes:
        return EXIT_CHANGES
    return EXIT_OK


async def plan_against(target: Target, declaration: Declaration, settings: Settings) -> Plan:
    with young_collections_only():
        async with target.client() as client:
            with progress_bar("Reading LiveDesk", len(declaration.contacts)) as advance:
                live = await fetch_live(client, declaration, on_progress=advance)
        return make_plan(declaration, live, settings)
