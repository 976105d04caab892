"""A client for the contacts API of Chatwoot, and of LiveDesk, which follows it.

The operations both serve alike: get by id, the paged listing, search, exact lookups (a
search filtered for equality), create (duplicate-safe under retries) and update. A target
module gives it the collection's path and an ``HttpSession`` that carries the auth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self, TypedDict

from reconciler.concurrency import gather_bounded
from reconciler.definitions import AttributeDefinition
from reconciler.errors import DeadlineError, UnprocessableError
from reconciler.input.settings import Settings
from reconciler.model import JSON, Contact, ContactKey
from reconciler.targets.base import Capabilities
from reconciler.targets.http.client import HttpSession
from reconciler.targets.http.ratelimit import RateLimiter
from reconciler.targets.http.retries import Retryable, unfindable
from reconciler.targets.shapes import contact_in, created_contact_in, matches_exactly, page_in
from reconciler.targets.walks import Listing, Pages

logger = logging.getLogger(__name__)

LIST_SORT = "created_at"  # fixed, so pages fetched at once neither skip nor repeat rows
LOOKUP_FIELDS = ("identifier", "email", "phone_number")  # the order a lost create is sought by
LOOKUP_WALKS = 5
"""Walks over an exact lookup's search results, while ties hide some of them."""


class SessionOptions(TypedDict):
    """What the settings say about how hard to press any target."""

    concurrency: int
    rate_limit: float | None
    timeout: float
    allow_plain_http: bool


def session_options(settings: Settings) -> SessionOptions:
    return SessionOptions(
        concurrency=settings.concurrency,
        rate_limit=settings.rate_limit,
        timeout=settings.timeout,
        allow_plain_http=settings.allow_plain_http,
    )


def lookup_criteria(
    identifier: str | None, email: str | None, phone_number: str | None
) -> dict[str, str]:
    """The given keys of an exact lookup, most selective first; ValueError if none is."""
    given = {"identifier": identifier, "email": email, "phone_number": phone_number}
    criteria = {name: value for name, value in given.items() if value}
    if not criteria:
        raise ValueError("an exact lookup needs an identifier, an email or a phone_number")
    return criteria


def search_text(value: str) -> str:
    """``value`` as a search's ``q`` that matches it literally: ``\\``, ``%`` and ``_`` are
    the server's LIKE escape and wildcards."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ContactsClient:
    """Async client of one account's contacts collection (use ``async with``)."""

    def __init__(
        self,
        session: HttpSession,
        contacts_path: str,
        capabilities: Capabilities,
        marker_secret: bytes,
    ) -> None:
        self._session = session
        self.contacts_path = contacts_path
        self._capabilities = capabilities
        self._marker_secret = marker_secret
        self._pages = Pages(
            self._page, capabilities.page_size, session.concurrency * 2, session.service
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def marker_secret(self) -> bytes:
        return self._marker_secret

    @property
    def base_url(self) -> str:
        return self._session.base_url

    @property
    def concurrency(self) -> int:
        return self._session.concurrency

    @property
    def request_count(self) -> int:
        return self._session.request_count

    @property
    def rate(self) -> float | None:
        return self._session.pace.rate

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} requests={self.request_count}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.aclose()

    def _what(self, request: str) -> str:
        return f"{self._session.service}'s answer to {request}"

    # Operations

    def stop_at(self, when: float) -> None:
        self._session.stop_at(when)

    def expect(self, requests: int) -> None:
        self._session.expect(requests)

    async def get_contact(self, contact_id: int) -> Contact:
        path = f"{self.contacts_path}/{int(contact_id)}"
        return contact_in(await self._session.call("GET", path), self._what(f"GET {path}"))

    async def list_page(self, page: int) -> tuple[list[Contact], int]:
        """One page of the list under the fixed sort, and ``meta.count``."""
        return await self._page(self._listing(), page)

    async def list_contacts(
        self,
        *,
        first_page: tuple[list[Contact], int] | None = None,
        include_contact_inboxes: bool = False,
        walks: int = 1,
        keep: Callable[[Contact], Contact] | None = None,
        label: str | None = None,
    ) -> list[Contact]:
        """Every listed contact it saw, once (those with an email, phone or identifier);
        with ``label``, only those that carry it (see ``list_counted``)."""
        contacts, _ = await self.list_counted(
            first_page=first_page,
            include_contact_inboxes=include_contact_inboxes,
            walks=walks,
            keep=keep,
            label=label,
        )
        return contacts

    async def list_counted(
        self,
        *,
        first_page: tuple[list[Contact], int] | None = None,
        include_contact_inboxes: bool = False,
        walks: int = 1,
        keep: Callable[[Contact], Contact] | None = None,
        label: str | None = None,
    ) -> tuple[list[Contact], int]:
        """Every listed contact it saw, once, and how many the server counted.

        ``first_page`` is what ``list_page(1)`` returned, when the caller has it already.
        ``include_contact_inboxes`` asks for each contact's ``contact_inboxes`` too. Ties
        in the server's order can hide contacts from one walk: up to ``walks`` are made,
        each after the first in another order (``WALK_ORDERS``). ``keep`` makes what is
        kept of each contact as it arrives (a fetch keeps only what the plan reads, so
        that a million contacts fit).
        """
        listing = self._listing(include_contact_inboxes)
        if label is not None:
            if first_page is not None:
                raise AssertionError("the first page of the whole listing, for a label's")
            listing = Listing(listing.path, {**listing.params, "labels": label})
        return await self._pages.collect(listing, first_page, walks=walks, keep=keep)

    async def search_contacts(
        self, query: str, *, include_contact_inboxes: bool = False, walks: int = 1
    ) -> list[Contact]:
        """Raw ``q=`` matches, every page: substrings and wildcards included."""
        listing = self._search(query, include_contact_inboxes)
        contacts, _ = await self._pages.collect(listing, walks=walks)
        return contacts

    async def find_contacts(
        self,
        *,
        identifier: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
    ) -> list[Contact]:
        """Contacts equal to every given value (email case-insensitive, the others exact)."""
        criteria = lookup_criteria(identifier, email, phone_number)
        query = next(iter(criteria.values()))  # the most selective: identifier, email, phone
        found, _ = await self._pages.collect(self._search(search_text(query)), walks=LOOKUP_WALKS)
        return [contact for contact in found if matches_exactly(contact, criteria)]

    async def lookup(self, keys: Sequence[ContactKey]) -> list[Contact | None]:
        """One exact search a key, at once."""

        async def one(key: ContactKey) -> Contact | None:
            found = await self.find_contacts(**{key.field: str(key.value)})
            return found[0] if found else None

        return await gather_bounded((one(key) for key in keys), limit=self.concurrency * 2)

    # What only some targets can do: their capabilities say so, and the engine asks first.

    async def get_labels(self, contact_id: int) -> list[str]:
        raise AssertionError(f"{self._session.service} has no labels endpoint")

    async def set_labels(self, contact_id: int, labels: Sequence[str]) -> list[str]:
        raise AssertionError(f"{self._session.service} has no labels endpoint")

    async def remove_attributes(self, contact_id: int, keys: Sequence[str]) -> Contact:
        raise AssertionError(f"{self._session.service} can't remove an attribute key")

    async def delete_contact(self, contact_id: int) -> None:
        raise AssertionError(f"{self._session.service} can't delete a contact")

    async def count_conversations(self, contact_id: int) -> int:
        raise AssertionError(f"{self._session.service} lists no conversations of a contact")

    async def list_definitions(self) -> list[AttributeDefinition]:
        raise AssertionError(f"{self._session.service} has no attribute definitions")

    async def create_definition(self, definition: AttributeDefinition) -> AttributeDefinition:
        raise AssertionError(f"{self._session.service} has no attribute definitions")

    async def update_definition(
        self, definition_id: int, definition: AttributeDefinition
    ) -> AttributeDefinition:
        raise AssertionError(f"{self._session.service} has no attribute definitions")

    async def delete_definition(self, definition_id: int) -> None:
        raise AssertionError(f"{self._session.service} has no attribute definitions")

    async def update_contact(self, contact_id: int, body: Mapping[str, JSON]) -> Contact:
        path = f"{self.contacts_path}/{int(contact_id)}"
        return contact_in(
            await self._session.call("PATCH", path, body=dict(body)), self._what(f"PATCH {path}")
        )

    async def create_contact(self, body: Mapping[str, JSON]) -> Contact:
        """POST a contact; after an ambiguous failure, look it up before posting again."""
        what = self._what(f"POST {self.contacts_path}")
        criteria = {
            name: body[name]
            for name in LOOKUP_FIELDS
            if isinstance(body.get(name), str) and body[name]
        }
        maybe_written = False
        last: Retryable | None = None
        try:
            async for attempt in self._session.retrying():
                with attempt:
                    if maybe_written and (found := await self._find_written(criteria)):
                        return found
                    try:
                        document = await self._session.attempt(
                            "POST", self.contacts_path, body=dict(body)
                        )
                    except Retryable as failure:
                        last = failure
                        if failure.maybe_written and not criteria:
                            raise unfindable(failure.error) from None
                        maybe_written = maybe_written or failure.maybe_written
                        raise
                    except UnprocessableError:
                        # "already taken": the lost write may have landed after our lookup
                        if maybe_written and (found := await self._find_written(criteria)):
                            return found
                        raise
                    return created_contact_in(document, what)
        except Retryable as failure:
            raise failure.error from None
        except DeadlineError:
            if last is None:
                raise  # nothing was sent: the create never started
            raise last.error from None  # a POST went before: it may have landed
        raise AssertionError("unreachable")

    async def _find_written(self, criteria: Mapping[str, str]) -> Contact | None:
        found = await self.find_contacts(**criteria)
        if found:
            logger.debug("a failed POST had created contact %s: not posting again", found[0]["id"])
        return found[0] if found else None

    # Paging

    def _listing(self, include_contact_inboxes: bool = False) -> Listing:
        inboxes = "true" if include_contact_inboxes else "false"
        return Listing(self.contacts_path, {"sort": LIST_SORT, "include_contact_inboxes": inboxes})

    def _search(self, query: str, include_contact_inboxes: bool = False) -> Listing:
        """The search for ``q``: on LiveDesk, the listing's own path."""
        listing = self._listing(include_contact_inboxes)
        return Listing(listing.path, {"q": query, **listing.params})

    async def _page(self, listing: Listing, page: int) -> tuple[list[Contact], int]:
        document = await self._session.call(
            listing.method,
            listing.path,
            params={**listing.params, "page": str(page)},
            body=listing.body,
            limiter=self._limiter_for(listing.path),
        )
        what = self._what(f"{listing.method} {listing.path} page {page}")
        return page_in(document, what, page)

    def _limiter_for(self, path: str) -> RateLimiter | None:
        """A pace of the API's own for requests to ``path``, besides the session's."""
        return None
