"""Self-hosted Chatwoot: everything this target knows that another doesn't.

One account's contacts at ``{base_url}/api/v1/accounts/{account_id}/contacts``, a user's
access token in the ``api-access-token`` header (``CHATWOOT_API_TOKEN``), and what
Chatwoot does better than LiveDesk (../shared/chatwoot-api.md): exact lookups of several
keys a request (``POST /contacts/filter``), a create that sets every field in one POST
with no inbox, and its version at ``GET /api``, which says what an older install lacks.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Self

from reconciler.concurrency import gather_bounded
from reconciler.errors import (
    AuthenticationError,
    ConfigError,
    HTTPStatusError,
    InvalidResponseError,
)
from reconciler.fields import ATTRIBUTE_OBJECTS, SCALARS
from reconciler.input.settings import Settings
from reconciler.model import JSON, Contact, ContactKey
from reconciler.targets.base import Capabilities, TargetIdentity, marker_secret
from reconciler.targets.contacts_client import (
    LOOKUP_WALKS,
    ContactsClient,
    Listing,
    lookup_criteria,
    session_options,
)
from reconciler.targets.http.client import DEFAULT_RETRY, AsyncTransport, HttpSession
from reconciler.targets.http.connection import (
    RetryPolicy,
    is_loopback_url,
    sends_in_cleartext,
)
from reconciler.targets.http.ratelimit import AdaptivePace, RateLimiter
from reconciler.targets.shapes import contact_in, conversations_in, labels_in, matches_exactly

__all__ = ["CAPABILITIES", "Chatwoot", "ChatwootClient", "Token", "capabilities_for"]

log = logging.getLogger(__name__)

NAME = "chatwoot"
SERVICE = "Chatwoot"
TOKEN_HEADER = "api-access-token"  # noqa: S105 - a header's name, not a secret
"""Rails reads ``api-access-token`` and ``api_access_token`` as one header; nginx drops
headers with underscores by default (``underscores_in_headers off``), so behind a default
nginx only the dashes arrive."""
PAGE_SIZE = 15  # RESULTS_PER_PAGE in Chatwoot's contacts controller
KEYS_PER_FILTER = PAGE_SIZE
"""Keys one filter request looks for: their matches fit on one page, where no tie can hide
one (a page past the first is ordered arbitrarily, as the listing is)."""
CONVERSATIONS_SHOWN = 20
"""A contact's conversations Chatwoot lists, the latest first (``limit(20)``): a delete
destroys them all, however many there are past these."""
SEARCH_PER_MINUTE = 100
"""Chatwoot's rack-attack limit on /contacts/search, per account, on fixed minutes."""
RATE_WINDOW = 60.0
"""rack-attack counts requests in fixed windows of a minute: a 429 waits for the next."""
REQUESTS_PER_WINDOW = 3000
"""rack-attack's limit per client address (``config/initializers/rack_attack.rb``), which
every agent's dashboard behind that address shares; requests from loopback are exempt."""
SHARE_OF_LIMIT = 0.8
"""The part of the limit reconciler takes when ``rate_limit`` doesn't say: 40 requests a
second, steady, leaving 600 a minute to the agents behind the same address. The limit is
known, so no 429 need be provoked to find it: one locks every dashboard out until the
minute ends, and so does a burst that spends the minute's budget early."""
CAPABILITIES = Capabilities(
    service=SERVICE,
    page_size=PAGE_SIZE,
    create_fields=frozenset((*SCALARS, *ATTRIBUTE_OBJECTS)),  # one POST sets them all
    create_needs_inbox=False,
    lists_unkeyed=False,  # resolved_contacts: an email, a phone number or an identifier
    keys_per_lookup=KEYS_PER_FILTER,
    writes_labels=True,
    removes_attributes=True,  # custom_attributes only: destroy_custom_attributes
    deletes=True,  # an administrator's token
    conversations_shown=CONVERSATIONS_SHOWN,
    mutes_block=True,  # app/models/concerns/conversation_mute_helpers.rb
    webhooks="contact_updated",  # a create sends contact_created
)
FEATURES: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int]], ...] = (
    # Contacts gained `blocked` in chatwoot/chatwoot#8922 (February 2024), first released
    # in 3.7.0: an older server drops it silently from every request. The contact JSON
    # shows it from 4.0.2 (chatwoot/chatwoot#10899): before, a write stores it unseen.
    ("blocked", (3, 7, 0), (4, 0, 2)),
)
"""Managed fields that older Chatwoot versions lack: the version that first writes each,
and the one that first shows it (a plan can only keep what it can read)."""
AUTH_HINT = (
    "check CHATWOOT_API_TOKEN (a user's access token, from Profile settings; agent bot "
    "tokens are refused) and account_id in reconciler.yaml"
)
_VERSION = re.compile(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Token:
    """A Chatwoot user's access token; left out of repr and str."""

    value: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Token:
        token = environ.get("CHATWOOT_API_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "CHATWOOT_API_TOKEN is not set: export a Chatwoot user's access token "
                "(Profile settings > Access token) in the environment"
            )
        return cls(token)


def parse_version(text: object) -> tuple[int, int, int] | None:
    """``(4, 10, 0)`` from ``"4.10.0"``; None for anything that isn't a version."""
    match = _VERSION.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def capabilities_for(version: str | None, where: str) -> Capabilities:
    """What a Chatwoot of ``version`` (None: unknown, taken as current) can do."""
    parsed = parse_version(version)
    if parsed is None:
        return CAPABILITIES
    dotted = ".".join(map(str, parsed))

    def why(name: str, written: tuple[int, ...], shown: tuple[int, ...]) -> str:
        if parsed < written:
            return (
                f"Chatwoot {dotted} at {where} has no `{name}` on contacts (it came in "
                f"{_dotted(written)}): upgrade Chatwoot, or remove `{name}` from the files"
            )
        return (
            f"Chatwoot {dotted} at {where} stores `{name}` but never shows it on a contact "
            f"(versions {_dotted(written)} to before {_dotted(shown)}), so no plan can see "
            f"what apply wrote: upgrade Chatwoot to {_dotted(shown)} or later, or remove "
            f"`{name}` from the files"
        )

    unsupported = tuple(
        (name, why(name, written, shown)) for name, written, shown in FEATURES if parsed < shown
    )
    return replace(CAPABILITIES, unsupported=unsupported)


def default_pace(base_url: str) -> float | None:
    """Requests a second to a Chatwoot at ``base_url`` with no ``rate_limit`` set: steady,
    under its known limit (``SHARE_OF_LIMIT``); None (found out) on loopback, which
    Chatwoot's limit exempts."""
    if is_loopback_url(base_url):
        return None
    return SHARE_OF_LIMIT * REQUESTS_PER_WINDOW / RATE_WINDOW


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _with_role(capabilities: Capabilities, role: JSON, client: ChatwootClient) -> Capabilities:
    """What the token's role in the account allows: only administrators delete contacts."""
    if role in (None, "administrator"):
        return capabilities
    why = (
        f"the user of CHATWOOT_API_TOKEN is {'an' if str(role)[:1] in 'aeiou' else 'a'} "
        f"{role} of Chatwoot account {client.account_id}, and only administrators may delete "
        "contacts (use an administrator's token)"
    )
    return replace(
        capabilities, deletes=False, unsupported=(*capabilities.unsupported, ("delete", why))
    )


def _condition(name: str, value: str, joined_by: str | None) -> dict[str, JSON]:
    return {
        "attribute_key": name,
        "filter_operator": "equal_to",
        "values": [value],
        # The last condition takes none: the server pastes it after the last clause.
        "query_operator": joined_by,
    }


def filter_body(criteria: Sequence[tuple[str, str]], joined_by: str) -> dict[str, JSON]:
    """A filter request for contacts with each (field, value), joined by ``and``/``or``."""
    last = len(criteria) - 1
    return {
        "payload": [
            _condition(name, value, None if index == last else joined_by)
            for index, (name, value) in enumerate(criteria)
        ]
    }


class ChatwootClient(ContactsClient):
    """Async client for one Chatwoot account's contacts (use ``async with``).

    Opening it reads the server's version (``GET /api``, no auth) and the token's
    profile (``GET /api/v1/profile``), so a wrong account or an old server is named before
    any contact is read.
    """

    def __init__(
        self,
        base_url: str,
        token: Token,
        account_id: int,
        *,
        concurrency: int = 8,
        rate_limit: float | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: AsyncTransport | None = None,
        allow_plain_http: bool = False,
        pace: AdaptivePace | None = None,
        search_per_minute: float = SEARCH_PER_MINUTE,
        rate_window: float = RATE_WINDOW,
    ) -> None:
        session = HttpSession(
            base_url,
            service=SERVICE,
            auth_header=(TOKEN_HEADER, token.value),
            auth_hint=AUTH_HINT,
            concurrency=concurrency,
            rate_limit=rate_limit,
            timeout=timeout,
            retry=retry,
            transport=transport,
            allow_plain_http=allow_plain_http,
            pace=pace,
            rate_window=rate_window,
        )
        super().__init__(
            session,
            f"/api/v1/accounts/{int(account_id)}/contacts",
            CAPABILITIES,
            marker_secret(NAME, token.value),
        )
        self.account_id = int(account_id)
        self.version: str | None = None
        self._search_pace = RateLimiter(search_per_minute / 60)

    def __repr__(self) -> str:
        return (
            f"<ChatwootClient {self.base_url} account={self.account_id} "
            f"requests={self.request_count}>"
        )

    async def __aenter__(self) -> Self:
        try:
            await self.check_server()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def check_server(self) -> None:
        """Read the version (what this install can do) and check the token's account."""
        try:
            about = await self._session.call("GET", "/api")
        except (InvalidResponseError, HTTPStatusError) as error:
            log.info("Chatwoot's version could not be read (%s): taken as current", error)
            about = None
        version = about.get("version") if isinstance(about, dict) else None
        self.version = version if isinstance(version, str) else None
        self._capabilities = capabilities_for(self.version, self.base_url)
        profile = await self._session.call("GET", "/api/v1/profile")
        accounts = profile.get("accounts") if isinstance(profile, dict) else None
        if not isinstance(accounts, list):
            return  # an older or trimmed profile: the contacts requests will tell
        ids = [account.get("id") for account in accounts if isinstance(account, dict)]
        for account in accounts:
            if isinstance(account, dict) and account.get("id") == self.account_id:
                self._capabilities = _with_role(self._capabilities, account.get("role"), self)
        if self.account_id not in ids:
            reachable = ", ".join(str(i) for i in ids if isinstance(i, int)) or "none"
            raise AuthenticationError(
                f"the user of CHATWOOT_API_TOKEN is not a member of Chatwoot account "
                f"{self.account_id} at {self.base_url} (its accounts: {reachable}): check "
                "account_id in reconciler.yaml",
                SERVICE,
            )

    # Exact lookups: the filter endpoint, several keys a request

    async def find_contacts(
        self,
        *,
        identifier: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
    ) -> list[Contact]:
        criteria = lookup_criteria(identifier, email, phone_number)
        found, _ = await self._filter(filter_body(list(criteria.items()), "and"))
        return [contact for contact in found if matches_exactly(contact, criteria)]

    async def lookup(self, keys: Sequence[ContactKey]) -> list[Contact | None]:
        unique = list(dict.fromkeys(keys))
        batches = [
            unique[start : start + KEYS_PER_FILTER]
            for start in range(0, len(unique), KEYS_PER_FILTER)
        ]
        found: dict[ContactKey, Contact | None] = {}
        for answer in await gather_bounded(
            (self._lookup_batch(batch) for batch in batches), limit=self.concurrency * 2
        ):
            found.update(answer)
        return [found[key] for key in keys]

    async def _lookup_batch(self, keys: Sequence[ContactKey]) -> dict[ContactKey, Contact | None]:
        criteria = [(key.field, str(key.value)) for key in keys]
        contacts, complete = await self._filter(filter_body(criteria, "or"))
        answer: dict[ContactKey, Contact | None] = {}
        for key in keys:
            wanted: dict[str, str] = {key.field: str(key.value)}
            answer[key] = next((c for c in contacts if matches_exactly(c, wanted)), None)
        unproven = [key for key in keys if answer[key] is None]
        if not complete and unproven and len(keys) > 1:
            # Ties hid some matches from every walk: ask again for fewer keys at a time.
            middle = len(unproven) // 2 or 1
            for half in (unproven[:middle], unproven[middle:]):
                if half:
                    answer.update(await self._lookup_batch(half))
        return answer

    async def _filter(self, body: dict[str, JSON]) -> tuple[list[Contact], bool]:
        """The filter's matches, and whether every one it counted was seen."""
        listing = Listing(
            f"{self.contacts_path}/filter",
            {"include_contact_inboxes": "false"},
            method="POST",
            body=body,
        )
        contacts, count = await self._collect_counted(listing, walks=LOOKUP_WALKS)
        return contacts, len(contacts) >= count

    # Labels, removing attribute keys, deleting

    async def get_labels(self, contact_id: int) -> list[str]:
        path = f"{self.contacts_path}/{int(contact_id)}/labels"
        return labels_in(await self._session.call("GET", path), self._what(f"GET {path}"))

    async def set_labels(self, contact_id: int, labels: Sequence[str]) -> list[str]:
        path = f"{self.contacts_path}/{int(contact_id)}/labels"
        document = await self._session.call("POST", path, body={"labels": list(labels)})
        return labels_in(document, self._what(f"POST {path}"))

    async def remove_attributes(self, contact_id: int, keys: Sequence[str]) -> Contact:
        path = f"{self.contacts_path}/{int(contact_id)}/destroy_custom_attributes"
        document = await self._session.call("POST", path, body={"custom_attributes": list(keys)})
        return contact_in(document, self._what(f"POST {path}"))

    async def delete_contact(self, contact_id: int) -> None:
        path = f"{self.contacts_path}/{int(contact_id)}"
        await self._session.call("DELETE", path)

    async def count_conversations(self, contact_id: int) -> int:
        path = f"{self.contacts_path}/{int(contact_id)}/conversations"
        document = await self._session.call("GET", path)
        return len(conversations_in(document, self._what(f"GET {path}")))

    # Search: its own path and its own limit

    def _search(self, query: str, include_contact_inboxes: bool = False) -> Listing:
        listing = self._listing(include_contact_inboxes)
        return Listing(f"{self.contacts_path}/search", {"q": query, **listing.params})

    def _limiter_for(self, path: str) -> RateLimiter | None:
        return self._search_pace if path.endswith("/search") else None


@dataclass(frozen=True)
class Chatwoot:
    """A Chatwoot account: where, which account, as whom, and how hard to press it."""

    base_url: str
    token: Token
    account_id: int
    settings: Settings
    endpoint: str = ""  # what a plan records as the place; the base URL unless set

    name: ClassVar[str] = NAME
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    @classmethod
    def from_environment(
        cls, settings: Settings, environ: Mapping[str, str] = os.environ, *, endpoint: str = ""
    ) -> Chatwoot:
        base_url = (environ.get("CHATWOOT_BASE_URL") or settings.base_url or "").strip()
        if not base_url:
            raise ConfigError(
                "target chatwoot needs the desk's address: set base_url in reconciler.yaml "
                "or CHATWOOT_BASE_URL in the environment"
            )
        if settings.account_id is None:  # the settings schema requires it: a bug if reached
            raise ConfigError("target chatwoot needs account_id in reconciler.yaml")
        return cls(
            base_url.rstrip("/"), Token.from_env(environ), settings.account_id, settings, endpoint
        )

    @property
    def cleartext(self) -> bool:
        return sends_in_cleartext(self.base_url)

    @property
    def identity(self) -> TargetIdentity:
        return TargetIdentity(NAME, self.endpoint or self.base_url, str(self.account_id))

    @functools.cached_property
    def pace(self) -> AdaptivePace:
        """One pace for all the sessions of a run: what plan found out, apply starts from."""
        return AdaptivePace(
            self.settings.rate_limit or default_pace(self.base_url), window=RATE_WINDOW
        )

    def client(self) -> ChatwootClient:
        return ChatwootClient(
            self.base_url,
            self.token,
            self.account_id,
            pace=self.pace,
            **session_options(self.settings),
        )
