"""Where plan, apply and export send their requests: LiveDesk itself, or the sandbox in-process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.input.settings import Settings
from reconciler.targets.http.client import Credentials, LiveDeskClient, base_url_from_env

log = logging.getLogger(__name__)

SANDBOX_DB = Path(".reconciler") / "sandbox.sqlite"
DEMO_CONTACTS = Path(__file__).parent.parent / "sandbox" / "demo_contacts.json"
"""What --sandbox starts with: the example files' contacts, some drifted, some missing."""


@dataclass(frozen=True)
class Target:
    """An API endpoint, its credentials and the settings; makes one client per event loop."""

    base_url: str
    credentials: Credentials
    settings: Settings

    def client(self) -> LiveDeskClient:
        return LiveDeskClient(
            self.base_url,
            self.credentials,
            concurrency=self.settings.concurrency,
            rate_limit=self.settings.rate_limit,
            timeout=self.settings.timeout,
        )


@contextmanager
def open_target(settings: Settings, *, sandbox: bool) -> Iterator[Target]:
    """LiveDesk from the environment, or a sandbox started for the length of the block."""
    if not sandbox:
        yield Target(base_url_from_env(settings.base_url), Credentials.from_env(), settings)
        return
    # Imported here so that runs against LiveDesk never load the server stack.
    from reconciler.sandbox.server import SandboxOptions, start_in_thread

    options = SandboxOptions(port=0, db=str(SANDBOX_DB), seed=str(DEMO_CONTACTS))
    with start_in_thread(options) as running:
        if running.app.state.seeded:
            log.info("seeded a new sandbox at %s with the demo contacts", options.db)
        yield Target(running.base_url, Credentials(options.api_key, options.api_secret), settings)
