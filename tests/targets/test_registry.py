"""Targets by name: each is its module's class, imported when connected to."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.targets.registry import TARGETS, target_kind


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_each_name_is_its_targets_own(name: str) -> None:
    kind = target_kind(name)
    assert getattr(kind, "name", None) == name
    assert callable(kind.from_environment)


def test_a_run_imports_its_own_target_alone(tmp_path: Path) -> None:
    # CI compiles every module a run imports, each run: the other target's is not one.
    script = textwrap.dedent(
        """
        import sys
        from reconciler.input.settings import load_settings
        from reconciler.targets.registry import connect
        settings = load_settings(None)  # the defaults: no reconciler.yaml here
        target = connect(settings, {"LIVEDESK_BASE_URL": "https://desk.example",
                                    "LIVEDESK_API_KEY": "k", "LIVEDESK_API_SECRET": "s"})
        print(type(target).__name__, "reconciler.targets.chatwoot" in sys.modules)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["LiveDesk", "False"]
