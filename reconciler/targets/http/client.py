"""One API's HTTP requests: with exchange.py beside it, the only place that imports httpx.

Every request goes through one path: the concurrency bound (lanes), the client-side rate
limit, one HTTP attempt, then retries (stamina) on 429, 5xx, timeouts and connection errors.
Whatever fails leaves as a ``reconciler.errors.ApiError`` subclass; no httpx exception
escapes. The credentials and the Authorization header appear in no message, log or repr.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping

import httpx
import stamina

from reconciler import __version__
from reconciler.errors import (
    ConfigError,
    DeadlineError,
    InvalidResponseError,
)
from reconciler.model import JSON
from reconciler.targets.http.connection import (
    RetryPolicy,
    checked_base_url,
    environment_proxy,
    loggable_query,
)
from reconciler.targets.http.exchange import Endpoint, exchange
from reconciler.targets.http.lanes import AdaptiveConcurrency, Lanes
from reconciler.targets.http.ratelimit import (
    AdaptivePace,
    RateLimiter,
    parse_retry_after,
)
from reconciler.targets.http.responses import (
    decode_json,
    describe_body,
    is_api_error,
    redirect_target,
    status_error,
)
from reconciler.targets.http.retries import Retryable, retry_wait

logger = logging.getLogger(__name__)

DEFAULT_RETRY = RetryPolicy()


AsyncTransport = httpx.AsyncBaseTransport
"""What a session sends through: the network by default; tests pass the sandbox in-process."""


_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)
_HANDOVER_YIELDS = 4
PROBE_SHARE = 0.05
"""The share of a run's requests it risks on 429s while the server's limit is unknown."""
"""Turns given to the next request after a lane is freed (1: 4.67 s for the fetch of 10,000
contacts 50 ms away, 4: 4.60 s, 6: 4.59 s, 8: 4.64 s; benchmarks/replay.py)."""


def _tls_context(base_url: str) -> ssl.SSLContext:
    """One TLS context for every connection: loading the CA bundle takes about 40 ms."""
    if base_url.startswith("http://"):
        # Plain http is allowed only to loopback and redirects are not followed, so no TLS
        # is ever negotiated: skip the CA bundle. With no CA loaded, TLS would fail closed.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx.create_ssl_context()


class HttpSession:
    """Requests to one API at ``base_url``, as ``service`` names it in messages.

    ``auth_header`` (name, value) goes with every request and nowhere else: not in a
    message, a log line or a repr.
    """

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        auth_header: tuple[str, str] | None = None,
        auth_hint: str = "",
        concurrency: int = 8,
        rate_limit: float | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: AsyncTransport | None = None,
        allow_plain_http: bool = False,
        rate_window: float | None = None,
        pace: AdaptivePace | None = None,
    ) -> None:
        self.base_url = checked_base_url(
            base_url, service=service, allow_plain_http=allow_plain_http
        )
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {concurrency}")
        try:
            RateLimiter(rate_limit)  # the same rules for a ceiling as for a fixed limit
        except ValueError as error:
            raise ConfigError(str(error)) from None
        # A target passes one pace to all its sessions: what plan found out, apply starts from.
        self.pace = pace or AdaptivePace(rate_limit, window=rate_window)
        self._ends_at: float | None = None  # stop_at
        self.service = service
        self.auth_hint = auth_hint
        self.extra_secrets: tuple[str, ...] = ()  # more a target knows, such as the secret
        self.concurrency = concurrency
        self.retry = retry
        self.timeout = timeout
        self.request_count = 0
        self._endpoint = Endpoint(service, self.base_url, timeout)
        tls = _tls_context(self.base_url)
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"reconciler/{__version__}",
        }
        self._secrets: tuple[str, ...] = ()
        if auth_header is not None:
            headers[auth_header[0]] = auth_header[1]
            # The header's value, and its parts: "Basic <token>" may come back as either.
            self._secrets = (auth_header[1], *auth_header[1].split(" ", 1)[1:])
        self._headers = httpx.Headers(headers)
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        # Plain http (loopback only) never goes through a proxy: the credentials would
        # travel to it in cleartext. https uses the proxy the environment sets for its host.
        proxy = None if self.base_url.startswith("http://") else environment_proxy(self.base_url)

        def one_connection() -> httpx.AsyncBaseTransport:
            if transport is not None:
                return transport
            return httpx.AsyncHTTPTransport(verify=tls, limits=_ONE_CONNECTION, proxy=proxy)

        # A transport of one connection a lane, sent to directly: an httpx client re-checks
        # every idle connection of its pool on each request, and its cookie jar, auth and
        # redirect steps cost a fifth of a request's time for nothing here (RESULTS.md).
        self._lanes = Lanes(AdaptiveConcurrency(concurrency), one_connection)

    async def aclose(self) -> None:
        for lane in self._lanes.close():
            await lane.aclose()
        logger.debug("%d HTTP requests sent to %s", self.request_count, self.base_url)
        if self.pace.throttled:
            logger.debug(
                "%d answered 429 so far; the pace is now %.1f a second",
                self.pace.throttled,
                self.pace.rate or 0.0,
            )

    def retrying(self) -> AsyncIterator[stamina.Attempt]:
        """Attempts under the retry policy, for a caller that decides between them."""
        policy = self.retry
        return stamina.retry_context(
            on=self._backoff,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ).__aiter__()

    def stop_at(self, when: float) -> None:
        """Past ``when`` (time.monotonic), start no request, first or retry: what is under
        way gets its own timeout at most (the run's deadline)."""
        self._ends_at = when

    def _past_the_end(self, within: float = 0.0) -> bool:
        return self._ends_at is not None and time.monotonic() + within >= self._ends_at

    def _backoff(self, exception: Exception) -> bool | float:
        wait = retry_wait(exception, self.retry.retry_after_cap)
        if wait is False:
            return False
        # No retry that would start past the deadline.
        return False if self._past_the_end(0.0 if wait is True else wait) else wait

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON = None,
        limiter: RateLimiter | None = None,
    ) -> JSON:
        """The JSON answer to one request, retried when that is safe.

        ``limiter`` paces these requests on top of the session's own pace (an endpoint
        with a tighter limit of its own, such as a search).
        """
        try:
            return await self.attempt(method, path, params=params, body=body, limiter=limiter)
        except Retryable as failure:
            failed: Retryable | None = failure
        # Only a failed request enters the retry policy, as its first attempt: a retry
        # context costs tens of microseconds and leaves reference cycles behind.
        last = failed
        try:
            async for attempt in self.retrying():
                with attempt:
                    if failed is not None:
                        first, failed = failed, None
                        raise first
                    try:
                        return await self.attempt(
                            method, path, params=params, body=body, limiter=limiter
                        )
                    except Retryable as failure:
                        last = failure
                        raise
        except Retryable as failure:
            raise failure.error from None
        except DeadlineError:
            # A retry the deadline kept from going: the caller sees the last attempt's
            # failure (it was sent), never "not sent".
            raise (last.error if last is not None else AssertionError("no attempt")) from None
        raise AssertionError("unreachable")

    def _url(self, path: str, params: Mapping[str, str] | None) -> str:
        # The whole URL, encoded as httpx encodes params (urlencode): given httpx a base URL
        # and params to merge, it parses URLs three times, a third of its time a request.
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base_url}{path}{query}"

    async def _exchange(
        self, lane: httpx.AsyncBaseTransport, method: str, url: str, body: JSON, what: str
    ) -> tuple[httpx.Response, bytes]:
        request = httpx.Request(
            method, url, headers=self._headers, json=body, extensions=self._extensions
        )
        return await exchange(
            lane, request, what, self._endpoint, self._lanes.concurrency.overloaded
        )

    def expect(self, requests: int) -> None:
        """About ``requests`` follow. While the server's limit is unknown, they go at most
        a ``PROBE_SHARE`` of them at once: the requests in flight when a limit is first met
        are all refused, and a small run can't pay for a large burst of 429s."""
        if self.pace.rate is None:
            # A share of all the requests, the refused ones included, less the one that
            # measures the pace once it is paced.
            probe = max(1, int(requests * PROBE_SHARE / (1 + PROBE_SHARE)) - 1)
            self._lanes.concurrency.probe = probe
            logger.debug("about %d requests: %d at most at once until a limit", requests, probe)

    def _throttle(self, sent: float) -> None:
        before = self.pace.rate
        self.pace.throttle(sent)
        if self.pace.rate != before:
            logger.debug("429: the pace is now %.1f requests a second", self.pace.rate or 0)
        if self.pace.rate is not None and self._lanes.concurrency.probe is not None:
            self._lanes.concurrency.probe = None
            self._lanes.admit()

    async def attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON = None,
        limiter: RateLimiter | None = None,
    ) -> JSON:
        """One HTTP request: the document of a 2xx, else a typed error (Retryable if worth it)."""
        what = f"{method} {path}"
        if limiter is not None:
            await limiter.wait()  # before taking a lane: a slow endpoint holds none
        async with self._lanes.lane() as lane:
            # When its slot was taken: one taken before the pace was last cut was spaced
            # by the old pace, and its 429 says nothing of the new one.
            paced, sent = await self.pace.wait()
            if self._past_the_end():
                raise DeadlineError(f"{what}: not sent: the run passed its deadline")
            self.request_count += 1
            started = time.perf_counter()
            response, content = await self._exchange(
                lane, method, self._url(path, params), body, what
            )
            if response.status_code == 429:
                # Before the lane goes to the next caller, whose request would meet the same
                # emptied bucket.
                self._throttle(sent)
            elif response.status_code >= 500:
                self._lanes.concurrency.overloaded()
            else:
                took = time.perf_counter() - started
                self._lanes.concurrency.answered(
                    took, kind=_kind(method, path, params), paced=paced
                )
        # A caller waiting for the lane sends its request before this answer is decoded:
        # otherwise the decoding is on every request's round trip. Its way to the socket
        # passes a few of httpcore's checkpoints, each behind whatever else is ready.
        for _ in range(_HANDOVER_YIELDS):
            await asyncio.sleep(0)
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
        if response.status_code != 429:
            self.pace.answered()
        if response.is_success:
            if method == "DELETE" and not content.strip():
                return None  # Rails' `head :ok`: a 200 with no body
            return decode_json(what, response.status_code, content_type, content, self.service)
        if response.is_redirect:
            # Never followed: the credentials would go wherever it points.
            target = redirect_target(response.headers.get("location", ""))
            raise InvalidResponseError(
                f"{self.base_url}{path} answered with a redirect ({response.status_code}) to "
                f"{target}; nothing was sent there: if that is the API, set the base URL to it"
            )
        if response.status_code == 404 and not is_api_error(content):
            raise InvalidResponseError(
                f"{self.base_url}{path} does not answer like a {self.service} contacts API: "
                f"404 with {describe_body(content_type, content)}; check the base URL"
            )
        error = status_error(
            response.status_code,
            content_type,
            content,
            self.service,
            self.auth_hint,
            secrets=(*self._secrets, *self.extra_secrets),
        )
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise Retryable(
                error, maybe_written=response.status_code >= 500, retry_after=retry_after
            )
        raise error


def _kind(method: str, path: str, params: Mapping[str, str] | None) -> str:
    """What costs a server alike: the method, the path without ids, whether it searches."""
    kind = f"{method} {_ID.sub('/#', path)}"
    return f"{kind}?q" if params and "q" in params else kind


_ID = re.compile(r"/\d+")
