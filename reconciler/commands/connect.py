"""Where plan, apply and export send their requests: the target the settings name, or a
sandbox started in-process for the length of the command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError
from reconciler.input.settings import Settings
from reconciler.statedir import ensure_state_dir
from reconciler.targets.base import Target
from reconciler.targets.registry import connect

log = logging.getLogger(__name__)

SANDBOX_DB = Path(".reconciler") / "sandbox.sqlite"
DEMO_CONTACTS = Path(__file__).parent.parent / "sandbox" / "demo_contacts.json"
"""What --sandbox starts with: the example files' contacts, some drifted, some missing."""


SANDBOX_EXTRA = "pip install 'contacts-reconciler[sandbox]'"


def sandbox_server() -> tuple[Any, Any]:
    """The sandbox's server (SandboxOptions, start_in_thread); ConfigError naming what to
    install where the server stack was left out (the GitHub Action's lock leaves it out)."""
    try:
        from reconciler.sandbox.server import SandboxOptions, start_in_thread
    except ImportError as error:
        raise ConfigError(
            f"the sandbox needs its server stack ({error.name}), which this install leaves "
            f"out: {SANDBOX_EXTRA}"
        ) from None
    return SandboxOptions, start_in_thread


def context_line(settings: Settings, target: Target) -> str:
    """The header of a run for people: which settings file and which target it used, and
    whether the credentials travel unencrypted (``allow_plain_http``)."""
    used = settings.source or "no reconciler.yaml (the defaults)"
    line = f"Settings: {used}. Target: {target.identity}."
    if target.cleartext:
        line += (
            " Warning: plain http (allow_plain_http): the credentials and the contacts "
            "travel unencrypted."
        )
    return line


@contextmanager
def open_target(settings: Settings, *, sandbox: bool) -> Iterator[Target]:
    """The target from the environment, or a sandbox started for the length of the block;
    its header line first, whatever the outcome (on stderr: stdout holds plans and files)."""
    with _target(settings, sandbox=sandbox) as target:
        print(context_line(settings, target), file=sys.stderr, flush=True)
        yield target


@contextmanager
def _target(settings: Settings, *, sandbox: bool) -> Iterator[Target]:
    if not sandbox:
        yield connect(settings)
        return
    # Imported here so that runs against a real desk never load the server stack.
    SandboxOptions, start_in_thread = sandbox_server()

    try:
        ensure_state_dir(SANDBOX_DB.parent)
    except OSError as error:
        raise ConfigError(
            f"--sandbox keeps its database in {SANDBOX_DB.parent}/ under the current "
            f"directory, which can't be written ({error.strerror}): run it in a directory "
            "you can write to"
        ) from None
    options = SandboxOptions(
        port=0, db=str(SANDBOX_DB), seed=str(DEMO_CONTACTS), account_id=settings.account_id or 1
    )
    with start_in_thread(options) as running:
        if running.app.state.seeded:
            log.info("seeded a new sandbox at %s with the demo contacts", options.db)
        # Each target's own variables; the sandbox serves both APIs over one store.
        environ = {
            "LIVEDESK_BASE_URL": running.base_url,
            "LIVEDESK_API_KEY": options.api_key,
            "LIVEDESK_API_SECRET": options.api_secret,
            "CHATWOOT_BASE_URL": running.base_url,
            "CHATWOOT_API_TOKEN": options.chatwoot_token,
        }
        # The port is new each time: a plan names the sandbox by its database instead.
        yield connect(settings, environ, endpoint=f"sandbox:{options.db}")
