"""Where plan, apply and export send their requests: the target the settings name, or a
sandbox started in-process for the length of the command."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.input.settings import Settings
from reconciler.statedir import ensure_state_dir
from reconciler.targets.base import Target
from reconciler.targets.registry import connect

log = logging.getLogger(__name__)

SANDBOX_DB = Path(".reconciler") / "sandbox.sqlite"
DEMO_CONTACTS = Path(__file__).parent.parent / "sandbox" / "demo_contacts.json"
"""What --sandbox starts with: the example files' contacts, some drifted, some missing."""


@contextmanager
def open_target(settings: Settings, *, sandbox: bool) -> Iterator[Target]:
    """The target from the environment, or a sandbox started for the length of the block."""
    if not sandbox:
        yield connect(settings)
        return
    # Imported here so that runs against a real desk never load the server stack.
    from reconciler.sandbox.server import SandboxOptions, start_in_thread

    ensure_state_dir(SANDBOX_DB.parent)
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
