"""LiveDesk: everything this target knows that another doesn't.

Its contacts collection's path, HTTP Basic auth from ``LIVEDESK_API_KEY`` and
``LIVEDESK_API_SECRET``, ``LIVEDESK_BASE_URL``, and what its API can do
(``CAPABILITIES``, from ../shared/livedesk-api.md). The requests themselves are those of
Chatwoot's API, which LiveDesk's follows (``reconciler.targets.contacts_client``).
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from reconciler.errors import ConfigError
from reconciler.input.settings import Settings
from reconciler.targets.base import (
    Capabilities,
    TargetIdentity,
    account_fingerprint,
    marker_secret,
    plan_secret,
)
from reconciler.targets.contacts_client import ContactsClient, session_options
from reconciler.targets.http.client import DEFAULT_RETRY, AsyncTransport, HttpSession
from reconciler.targets.http.connection import RetryPolicy, checked_base_url, sends_in_cleartext
from reconciler.targets.http.ratelimit import AdaptivePace

__all__ = [
    "CAPABILITIES",
    "DEFAULT_BASE_URL",
    "Credentials",
    "LiveDesk",
    "LiveDeskClient",
    "RetryPolicy",
    "base_url_from_env",
]

NAME = "livedesk"
SERVICE = "LiveDesk"
DEFAULT_BASE_URL = "https://livedesk-api.engagelab.com"
CONTACTS_PATH = "/api/v2/accounts/contacts"
PAGE_SIZE = 15  # fixed by LiveDesk; page_size and per_page are ignored
CAPABILITIES = Capabilities(
    service=SERVICE,
    page_size=PAGE_SIZE,
    # A create documents only these (and inbox_id, required); the rest follows as an update.
    create_fields=frozenset({"name", "email", "phone_number", "identifier"}),
    create_needs_inbox=True,
    lists_unkeyed=False,  # contacts with no email, phone or identifier are reachable by id only
    search_adds=frozenset({"source_id"}),
    unsupported=(
        (
            "labels",
            "LiveDesk has no endpoint that writes a contact's labels: remove `labels` from "
            "the files for this target (Chatwoot's can write them)",
        ),
    ),
)
AUTH_HINT = "check LIVEDESK_API_KEY and LIVEDESK_API_SECRET"


@dataclass(frozen=True)
class Credentials:
    """The API key and secret for HTTP Basic auth; the secret is left out of repr and str."""

    api_key: str
    api_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Credentials:
        """Read LIVEDESK_API_KEY and LIVEDESK_API_SECRET; ConfigError names what is missing."""
        missing = [
            name for name in ("LIVEDESK_API_KEY", "LIVEDESK_API_SECRET") if not environ.get(name)
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                "export the LiveDesk API key and secret in the environment"
            )
        return cls(environ["LIVEDESK_API_KEY"], environ["LIVEDESK_API_SECRET"])

    def authorization(self) -> tuple[str, str]:
        token = base64.b64encode(f"{self.api_key}:{self.api_secret}".encode()).decode("ascii")
        return "Authorization", f"Basic {token}"


def base_url_from_env(
    configured: str | None = None, environ: Mapping[str, str] = os.environ
) -> str:
    """LIVEDESK_BASE_URL, else the configured URL (settings), else LiveDesk's own."""
    return (environ.get("LIVEDESK_BASE_URL") or configured or DEFAULT_BASE_URL).strip().rstrip("/")


class LiveDeskClient(ContactsClient):
    """Async client for LiveDesk's contacts API (use ``async with``)."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        concurrency: int = 8,
        rate_limit: float | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: AsyncTransport | None = None,
        allow_plain_http: bool = False,
        pace: AdaptivePace | None = None,
    ) -> None:
        session = HttpSession(
            base_url,
            service=SERVICE,
            auth_header=credentials.authorization(),
            auth_hint=AUTH_HINT,
            concurrency=concurrency,
            rate_limit=rate_limit,
            timeout=timeout,
            retry=retry,
            transport=transport,
            allow_plain_http=allow_plain_http,
            pace=pace,
        )
        session.extra_secrets = (credentials.api_secret,)  # never repeated, even if echoed
        secret = marker_secret(NAME, f"{credentials.api_key}:{credentials.api_secret}")
        super().__init__(session, CONTACTS_PATH, CAPABILITIES, secret)
        self.api_key = credentials.api_key

    def __repr__(self) -> str:
        return (
            f"<LiveDeskClient {self.base_url} api_key={self.api_key!r} "
            f"requests={self.request_count}>"
        )


@dataclass(frozen=True)
class LiveDesk:
    """A LiveDesk account: where, as whom, and how hard to press it; one client a loop."""

    base_url: str
    credentials: Credentials
    settings: Settings
    endpoint: str = ""  # what a plan records as the place; the base URL unless set

    name: ClassVar[str] = NAME
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    @classmethod
    def from_environment(
        cls, settings: Settings, environ: Mapping[str, str] = os.environ, *, endpoint: str = ""
    ) -> LiveDesk:
        base_url = checked_base_url(
            base_url_from_env(settings.base_url, environ),
            service=SERVICE,
            allow_plain_http=settings.allow_plain_http,
        )  # before anything names it: a query or a fragment may hold a credential
        return cls(base_url, Credentials.from_env(environ), settings, endpoint)

    @property
    def cleartext(self) -> bool:
        return sends_in_cleartext(self.base_url)

    @property
    def plan_secret(self) -> bytes:
        credentials = self.credentials
        return plan_secret(NAME, f"{credentials.api_key}:{credentials.api_secret}")

    @property
    def identity(self) -> TargetIdentity:
        endpoint = self.endpoint or self.base_url
        return TargetIdentity(
            NAME, endpoint, account_fingerprint(NAME, endpoint, self.credentials.api_key)
        )

    @functools.cached_property
    def pace(self) -> AdaptivePace:
        """One pace for all the sessions of a run: what plan found out, apply starts from."""
        return AdaptivePace(self.settings.rate_limit)

    def client(self) -> LiveDeskClient:
        return LiveDeskClient(
            self.base_url, self.credentials, pace=self.pace, **session_options(self.settings)
        )
