"""Targets by the name ``target:`` in reconciler.yaml gives them.

Adding a target: a module beside livedesk.py and chatwoot.py with a class that has
``from_environment`` and satisfies ``reconciler.targets.base.Target``, its name here, and in
the settings schema. A target's module is imported when it is connected to: a run pays for
its own target alone (CI compiles what it imports, each run).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Protocol, cast

from reconciler.errors import ConfigError
from reconciler.input.settings import Settings
from reconciler.targets.base import Target


class TargetKind(Protocol):
    def from_environment(
        self, settings: Settings, environ: Mapping[str, str] = ..., *, endpoint: str = ""
    ) -> Target: ...


TARGETS: Mapping[str, tuple[str, str]] = {
    "livedesk": ("reconciler.targets.livedesk", "LiveDesk"),
    "chatwoot": ("reconciler.targets.chatwoot", "Chatwoot"),
}
"""Each target's name, to its module and class."""


def target_kind(name: str) -> TargetKind:
    """The class of the target ``name`` (a key of TARGETS)."""
    module, attribute = TARGETS[name]
    return cast(TargetKind, getattr(importlib.import_module(module), attribute))


def connect(
    settings: Settings, environ: Mapping[str, str] = os.environ, *, endpoint: str = ""
) -> Target:
    """The target the settings name, its address and credentials from ``environ``."""
    if settings.target not in TARGETS:  # the settings schema names the same: a bug if reached
        raise ConfigError(f"unknown target {settings.target!r}; use one of {', '.join(TARGETS)}")
    return target_kind(settings.target).from_environment(settings, environ, endpoint=endpoint)
