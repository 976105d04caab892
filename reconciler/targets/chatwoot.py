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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Self

from reconciler.concurrency import gather_bounded
from reconciler.definitions import AttributeDefinition
from reconciler.errors import (
    AuthenticationError,
    ConfigError,
    HTTPStatusError,
    InvalidResponseError,
)
from reconciler.input.settings import Settings
from reconciler.model import JSON, Contact, ContactKey
from reconciler.targets.base import Capabilities, TargetIdentity, marker_secret, plan_secret
from reconciler.targets.chatwoot_server import (
    CAPABILITIES,
    KEYS_PER_FILTER,
    RATE_WINDOW,
    SEARCH_PER_MINUTE,
    SERVICE,
    capabilities_for,
    default_pace,
)
from reconciler.targets.contacts_client import (
    LOOKUP_WALKS,
    ContactsClient,
    lookup_criteria,
    session_options,
)
from reconciler.targets.http.client import DEFAULT_RETRY, AsyncTransport, HttpSession
from reconciler.targets.http.connection import (
    RetryPolicy,
    checked_base_url,
    sends_in_cleartext,
)
from reconciler.targets.http.ratelimit import AdaptivePace, RateLimiter
from reconciler.targets.shapes import (
    contact_in,
    conversations_in,
    definition_in,
    definitions_in,
    labels_in,
    matches_exactly,
)
from reconciler.targets.walks import Listing

__all__ = ["CAPABILITIES", "Chatwoot", "ChatwootClient", "Token", "capabilities_for"]

log = logging.getLogger(__name__)

NAME = "chatwoot"
TOKEN_HEADER = "api-access-token"  # noqa: S105 - a header's name, not a secret
"""Rails reads ``api-access-token`` and ``api_access_token`` as one header; nginx drops
headers with underscores by default (``underscores_in_headers off``), so behind a default
nginx only the dashes arrive."""
AUTH_HINT = (
    "check CHATWOOT_API_TOKEN (a user's access token, from Profile settings; agent bot "
    "tokens are refused) and account_id in reconciler.yaml"
)


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
        contacts, count = await self._pages.collect(listing, walks=LOOKUP_WALKS)
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

    # Contact attribute definitions (the definitions' own path, beside contacts)

    async def list_definitions(self) -> list[AttributeDefinition]:
        path = self._definitions_path
        document = await self._session.call(
            "GET", path, params={"attribute_model": "contact_attribute"}
        )
        return [
            AttributeDefinition.from_api(item)
            for item in definitions_in(document, self._what(f"GET {path}"))
            if item.get("attribute_model") in (None, "contact_attribute")
        ]

    async def create_definition(self, definition: AttributeDefinition) -> AttributeDefinition:
        path = self._definitions_path
        body = {"custom_attribute_definition": definition.to_api()}
        document = await self._session.call("POST", path, body=body)
        return AttributeDefinition.from_api(definition_in(document, self._what(f"POST {path}")))

    async def update_definition(
        self, definition_id: int, definition: AttributeDefinition
    ) -> AttributeDefinition:
        path = f"{self._definitions_path}/{int(definition_id)}"
        body = {"custom_attribute_definition": definition.to_api()}
        document = await self._session.call("PATCH", path, body=body)
        return AttributeDefinition.from_api(definition_in(document, self._what(f"PATCH {path}")))

    async def delete_definition(self, definition_id: int) -> None:
        await self._session.call("DELETE", f"{self._definitions_path}/{int(definition_id)}")

    @property
    def _definitions_path(self) -> str:
        return f"/api/v1/accounts/{self.account_id}/custom_attribute_definitions"

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
        checked = checked_base_url(
            base_url, service=SERVICE, allow_plain_http=settings.allow_plain_http
        )  # before anything names it: a query or a fragment may hold a credential
        return cls(checked, Token.from_env(environ), settings.account_id, settings, endpoint)

    @property
    def cleartext(self) -> bool:
        return sends_in_cleartext(self.base_url)

    @property
    def plan_secret(self) -> bytes:
        return plan_secret(NAME, self.token.value)

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
