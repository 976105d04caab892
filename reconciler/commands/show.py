"""reconciler show: render a saved plan."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from reconciler.commands import EXIT_OK
from reconciler.engine.planfile import read_plan
from reconciler.model import Plan
from reconciler.outputs.plan import print_plan


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
    print_plan(plan, output_format)
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
