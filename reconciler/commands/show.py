"""reconciler show: render a saved plan."""

from __future__ import annotations

import sys

from reconciler.commands import EXIT_OK
from reconciler.engine.planfile import changed_sources, read_plan
from reconciler.outputs.plan import print_plan


def show_command(plan_file: str, *, output_format: str) -> int:
    """Render a saved plan (redacted ones too); warn when its files changed since."""
    plan = read_plan(plan_file, allow_redacted=True)
    changed = changed_sources(plan)
    if changed:
        print(
            f"warning: {plan_file} is older than the files it came from ({', '.join(changed)}); "
            "run plan again to see what apply would do now",
            file=sys.stderr,
        )
    print_plan(plan, output_format)
    return EXIT_OK
