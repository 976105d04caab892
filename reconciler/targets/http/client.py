"""The LiveDesk contacts API client: the only module that imports httpx.

Every request goes through one path: the concurrency bound, the client-side rate limit,
one HTTP attempt, then retries (stamina) on 429, 5xx, timeouts and connection errors.
Whatever fails leaves as a ``reconciler.errors.ApiError`` subclass; no httpx exception
escapes. The secret and the Authorization header appear in no message, log or repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Self, TypeVar

import httpx
import stamina

from reconciler import __version__
from reconciler.concurrency import gather_all
from reconciler.errors import (
    ApiError,
    ConfigError,
    InvalidResponseError,
    TransportError,
    UnprocessableError,
)
from reconciler.model import CONTACTS_PATH, JSON, Contact
from reconciler.targets.http.connection import (
    DEFAULT_BASE_URL,
    Credentials,
    RetryPolicy,
    base_url_from_env,
    checked_base_url,
    loggable_query,
)
from reconciler.targets.http.ratelimit import RateLimiter, parse_retry_after
from reconciler.targets.http.responses import (
    contact_in,
    created_contact_in,
    decode_json,
    matches_exactly,
    page_in,
    status_error,
)
from reconciler.targets.http.retries import Retryable, retry_wait, unfindable

__all__ = [
    "DEFAULT_BASE_URL",
    "PAGE_SIZE",
    "Credentials",
    "LiveDeskClient",
    "RetryPolicy",
    "base_url_from_env",
]

logger = logging.getLogger(__name__)

PAGE_SIZE = 15  # fixed by LiveDesk; page_size and per_page are ignored
LIST_SORT = "created_at"  # fixed, so pages fetched at once neither skip nor repeat rows
LOOKUP_FIELDS = ("identifier", "email", "phone_number")  # the order a lost create is sought by
T = TypeVar("T")
DEFAULT_RETRY = RetryPolicy()


_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)


def _tls_context(base_url: str) -> ssl.SSLContext:
    """One TLS context for every connection: loading the CA bundle takes about 40 ms."""
    if base_url.startswith("http://"):
        # Plain http is allowed only to loopback and redirects are not followed, so no TLS
        # is ever negotiated: skip the CA bundle. With no CA loaded, TLS would fail closed.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx.create_ssl_context()


class _Lanes:
    """At most ``size`` requests at once, each on an httpx client that has one connection.

    An httpx client re-checks every idle connection of its pool on each request, so with
    N connections its CPU per request grows with N (benchmarks/RESULTS.md). N clients of one
    connection each cost the same per request at any N.
    """

    def __init__(self, size: int, new_client: Callable[[], httpx.AsyncClient]) -> None:
        self._new_client = new_client
        self._free = asyncio.Semaphore(size)
        self._idle: list[httpx.AsyncClient] = []  # the last one used first: its connection is warm
        self._opened: list[httpx.AsyncClient] = []

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncClient]:
        async with self._free:
            if self._idle:
                http = self._idle.pop()
            else:
                http = self._new_client()
                self._opened.append(http)
            try:
                yield http
            finally:
                self._idle.append(http)

    async def aclose(self) -> None:
        opened, self._opened, self._idle = self._opened, [], []
        for http in opened:
            await http.aclose()


class LiveDeskClient:
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = checked_base_url(base_url)
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {concurrency}")
        try:
            self._limiter = RateLimiter(rate_limit)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.api_key = credentials.api_key
        self.concurrency = concurrency
        self.retry = retry
        self.timeout = timeout
        self.request_count = 0
        tls = _tls_context(self.base_url)
        auth = httpx.BasicAuth(credentials.api_key, credentials.api_secret)
        headers = {"Accept": "application/json", "User-Agent": f"reconciler/{__version__}"}

        def one_connection() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                auth=auth,
                headers=headers,
                timeout=timeout,
                limits=_ONE_CONNECTION,
                transport=transport,
                verify=tls,
            )

        self._lanes = _Lanes(concurrency, one_connection)

    def __repr__(self) -> str:
        return (
            f"<LiveDeskClient {self.base_url} api_key={self.api_key!r} "
            f"requests={self.request_count}>"
        )

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
        await self._lanes.aclose()
        logger.debug("%d HTTP requests sent to %s", self.request_count, self.base_url)

    # Operations

    async def get_contact(self, contact_id: int) -> Contact:
        path = f"{CONTACTS_PATH}/{int(contact_id)}"
        return contact_in(await self._call("GET", path), f"GET {path}")

    async def list_page(self, page: int) -> tuple[list[Contact], int]:
        """One page of the list under the fixed sort, and ``meta.count``."""
        return await self._page(self._list_params(), page)

    async def list_contacts(
        self,
        *,
        first_page: tuple[list[Contact], int] | None = None,
        include_contact_inboxes: bool = False,
    ) -> list[Contact]:
        """Every listed contact exactly once (those with an email, phone or identifier).

        ``first_page`` is what ``list_page(1)`` returned, when the caller has it already.
        ``include_contact_inboxes`` asks for each contact's ``contact_inboxes`` too.
        """
        return await self._collect(self._list_params(include_contact_inboxes), first_page)

    async def search_contacts(
        self, query: str, *, include_contact_inboxes: bool = False
    ) -> list[Contact]:
        """Raw ``q=`` matches, every page: substrings and wildcards included."""
        return await self._collect({"q": query, **self._list_params(include_contact_inboxes)})

    async def find_contacts(
        self,
        *,
        identifier: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
    ) -> list[Contact]:
        """Contacts equal to every given value (email case-insensitive, the others exact)."""
        given = {"identifier": identifier, "email": email, "phone_number": phone_number}
        criteria = {name: value for name, value in given.items() if value}
        if not criteria:
            raise ValueError("find_contacts needs an identifier, an email or a phone_number")
        query = next(iter(criteria.values()))  # the most selective: identifier, email, phone
        return [
            contact
            for contact in await self.search_contacts(query)
            if matches_exactly(contact, criteria)
        ]

    async def update_contact(self, contact_id: int, body: Mapping[str, JSON]) -> Contact:
        path = f"{CONTACTS_PATH}/{int(contact_id)}"
        return contact_in(await self._call("PATCH", path, body=dict(body)), f"PATCH {path}")

    async def create_contact(self, body: Mapping[str, JSON]) -> Contact:
        """POST a contact; after an ambiguous failure, look it up before posting again."""
        what = f"POST {CONTACTS_PATH}"
        criteria = {
            name: body[name]
            for name in LOOKUP_FIELDS
            if isinstance(body.get(name), str) and body[name]
        }
        maybe_written = False
        try:
            async for attempt in self._retrying():
                with attempt:
                    if maybe_written and (found := await self._find_written(criteria)):
                        return found
                    try:
                        document = await self._attempt("POST", CONTACTS_PATH, body=dict(body))
                    except Retryable as failure:
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
        raise AssertionError("unreachable")

    async def _find_written(self, criteria: Mapping[str, str]) -> Contact | None:
        found = await self.find_contacts(**criteria)
        if found:
            logger.debug("a failed POST had created contact %s: not posting again", found[0]["id"])
        return found[0] if found else None

    # Paging

    @staticmethod
    def _list_params(include_contact_inboxes: bool = False) -> dict[str, str]:
        inboxes = "true" if include_contact_inboxes else "false"
        return {"sort": LIST_SORT, "include_contact_inboxes": inboxes}

    async def _page(self, params: Mapping[str, str], page: int) -> tuple[list[Contact], int]:
        document = await self._call("GET", CONTACTS_PATH, params={**params, "page": str(page)})
        return page_in(document, f"GET {CONTACTS_PATH} page {page}", page)

    async def _collect(
        self,
        params: Mapping[str, str],
        first_page: tuple[list[Contact], int] | None = None,
    ) -> list[Contact]:
        """Page 1 for the total, the other pages at once, each contact once (by id)."""
        first, count = first_page or await self._page(params, 1)
        by_id: dict[int, Contact] = {contact["id"]: contact for contact in first}
        if first and len(by_id) < count:
            last = -(-count // len(first))
            pages = await gather_all([self._page(params, page) for page in range(2, last + 1)])
            for contacts, _ in pages:
                for contact in contacts:
                    by_id.setdefault(contact["id"], contact)
            # Contacts created meanwhile push others onto later pages: read on to the total.
            page = last + 1
            while len(by_id) < count:
                contacts, _ = await self._page(params, page)
                if not contacts:
                    break
                for contact in contacts:
                    by_id.setdefault(contact["id"], contact)
                page += 1
        if len(by_id) < count:
            logger.warning(
                "LiveDesk counted %d contacts but listed %d: it changed while being read",
                count,
                len(by_id),
            )
        return list(by_id.values())

    # One request, with retries

    def _retrying(self) -> AsyncIterator[stamina.Attempt]:
        policy = self.retry
        return stamina.retry_context(
            on=self._backoff,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ).__aiter__()

    def _backoff(self, exception: Exception) -> bool | float:
        return retry_wait(exception, self.retry.retry_after_cap)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON = None,
    ) -> JSON:
        """The JSON answer to one request, retried when that is safe."""
        try:
            async for attempt in self._retrying():
                with attempt:
                    return await self._attempt(method, path, params=params, body=body)
        except Retryable as failure:
            raise failure.error from None
        raise AssertionError("unreachable")

    def _url(self, path: str, params: Mapping[str, str] | None) -> str:
        # The whole URL, encoded as httpx encodes params (urlencode): given httpx a base URL
        # and params to merge, it parses URLs three times, a third of its time a request.
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base_url}{path}{query}"

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON = None,
    ) -> JSON:
        """One HTTP request: the document of a 2xx, else a typed error (Retryable if worth it)."""
        what = f"{method} {path}"
        async with self._lanes.lane() as http:
            await self._limiter.wait()
            self.request_count += 1
            started = time.perf_counter()
            try:
                response = await http.request(method, self._url(path, params), json=body)
            except httpx.HTTPError as failure:
                raise _transport_failure(what, self.base_url, self.timeout, failure) from None
            except (httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict) as failure:
                raise TransportError(f"{what}: {type(failure).__name__}") from None
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s%s -> %d in %.1f ms (request %d)",
                what,
                loggable_query(params),
                response.status_code,
                (time.perf_counter() - started) * 1000,
                self.request_count,
            )
        content_type = response.headers.get("content-type", "")
        if response.is_success:
            return decode_json(what, response.status_code, content_type, response.content)
        error = status_error(response.status_code, content_type, response.content)
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise Retryable(
                error, maybe_written=response.status_code >= 500, retry_after=retry_after
            )
        raise error


def _transport_failure(
    what: str, base_url: str, timeout: float, error: httpx.HTTPError
) -> Retryable | ApiError:
    """The typed error for an httpx failure; whether the server may have acted on it."""
    # Nothing reached the server when connecting failed, so even a POST may simply be retried.
    unsent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if isinstance(error, httpx.TimeoutException):
        message = f"{what}: no answer from {base_url} within {timeout:g} s"
    elif isinstance(error, httpx.TransportError):
        reason = str(error) or "the connection was dropped"
        message = f"{what}: could not talk to {base_url}: {type(error).__name__}: {reason}"
    else:  # decoding errors, redirect loops: the server answered, but not usably
        return InvalidResponseError(f"LiveDesk's answer to {what} could not be read: {error}")
    return Retryable(TransportError(message), maybe_written=not unsent)
