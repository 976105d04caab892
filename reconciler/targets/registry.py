"""Targets by the name ``target:`` in reconciler.yaml gives them.

Adding a target: a module beside livedesk.py and chatwoot.py with a class that has
``from_environment`` and satisfies ``reconciler.targets.base.Target``, its name here, and in
the settings schema.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from reconciler.errors import ConfigError
from reconciler.input.settings import Settings
from reconciler.targets.base import Target
from reconciler.targets.chatwoot import Chatwoot
from reconciler.targets.livedesk import LiveDesk


class TargetKind(Protocol):
    def from_environment(
        self, settings: Settings, environ: Mapping[str, str] = ..., *, endpoint: str = ""
    ) -> Target: ...


TARGETS: Mapping[str, TargetKind] = {LiveDesk.name: LiveDesk, Chatwoot.name: Chatwoot}


def connect(
    settings: Settings, environ: Mapping[str, str] = os.environ, *, endpoint: str = ""
) -> Target:
    """The target the settings name, its address and credentials from ``environ``."""
    kind = TARGETS.get(settings.target)
    if kind is None:  # the settings schema names the same targets: a bug if reached
        raise ConfigError(f"unknown target {settings.target!r}; use one of {', '.join(TARGETS)}")
    return kind.from_environment(settings, environ, endpoint=endpoint)
