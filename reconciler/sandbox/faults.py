"""Fault injection for the sandbox's API routes: latency, a rate limit, failures.

An ASGI middleware, all of it off unless asked for. Random draws come from one
``random.Random(seed)``, so a seeded run fails the same requests in the same order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

INTERNAL_ERROR_HTML = b"""<!DOCTYPE html>
<html>
<head><title>We're sorry, but something went wrong (500)</title></head>
<body>
<div class="dialog"><h1>We're sorry, but something went wrong.</h1></div>
<p>If you are the application owner check the logs for more information.</p>
</body>
</html>
"""
"""The body of LiveDesk's 500s: Rails' public/500.html, not JSON."""
CHATWOOT_500 = b'{"status":500,"error":"Internal Server Error"}'
"""The body of Chatwoot's 500s."""

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT"})
_FAILURES = ("html", "empty", "drop")


class InjectedDisconnect(Exception):
    """Raised after a response has started, so that the server drops the connection."""


class _QuietInjectedDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDisconnect))


QUIET_INJECTED_DISCONNECTS = _QuietInjectedDisconnects()
"""Add to the ``uvicorn.error`` logger: a dropped connection we chose is not an error."""


@dataclass(frozen=True)
class Faults:
    """What to inject; every default is off."""

    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests a second, 0: no limit
    rate_window: float = 60.0  # the Chatwoot face counts rate_limit in fixed windows this long
    fault_rate: float = 0.0
    fail_after_write: float = 0.0
    seed: int | None = None
    workers: int = 0  # requests served at once, as a Rails server's threads (0: no bound)

    @property
    def any(self) -> bool:
        faults = (self.latency_ms, self.rate_limit, self.fault_rate, self.fail_after_write)
        return any(faults) or self.workers > 0


class _TokenBucket:
    """``rate`` requests a second on average, bursts up to a second's worth."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class _FixedWindow:
    """``rate`` requests a second, counted in fixed windows as rack-attack counts them."""

    def __init__(self, rate: float, seconds: float) -> None:
        self._limit = max(1, round(rate * seconds))
        self._seconds = seconds
        self._window = -1
        self._count = 0

    def take(self) -> bool:
        window = int(time.time() // self._seconds)
        if window != self._window:
            self._window, self._count = window, 0
        self._count += 1
        return self._count <= self._limit


class FaultInjection:
    """ASGI middleware that applies ``faults`` to requests whose path starts with ``prefix``.

    Under ``chatwoot_prefix`` the rate limit counts in fixed windows and 500s are JSON, as
    Chatwoot's are; elsewhere (LiveDesk) a token bucket, and 500s of any body.
    """

    def __init__(
        self,
        app: ASGIApp,
        faults: Faults,
        prefix: str = "/api/",
        chatwoot_prefix: str = "/api/v1/",
    ) -> None:
        self._app = app
        self._faults = faults
        self._prefix = prefix
        self._chatwoot_prefix = chatwoot_prefix
        self._random = random.Random(faults.seed)
        limited = faults.rate_limit > 0
        self._bucket = _TokenBucket(faults.rate_limit) if limited else None
        self._window = _FixedWindow(faults.rate_limit, faults.rate_window) if limited else None
        # The requests beyond the workers queue for one, as at a server's thread pool: the
        # answers then take longer, which is how a client can tell it asks too much at once.
        self._workers = asyncio.Semaphore(faults.workers) if faults.workers > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        if self._workers is None:
            await self._serve(scope, receive, send)
            return
        async with self._workers:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self._faults
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        chatwoot = scope["path"].startswith(self._chatwoot_prefix)
        limit = self._window if chatwoot else self._bucket
        if limit is not None and not limit.take():
            await _send_response(send, 429, b"Retry later", b"text/plain; charset=utf-8")
            return
        if faults.fault_rate > 0 and self._random.random() < faults.fault_rate:
            await self._fail(send, chatwoot=chatwoot)
            return
        if (
            faults.fail_after_write > 0
            and scope["method"] in WRITE_METHODS
            and not scope["path"].endswith("/filter")  # Chatwoot's lookup: a read by POST
            and self._random.random() < faults.fail_after_write
        ):
            await self._fail_after_write(scope, receive, send, chatwoot=chatwoot)
            return
        await self._app(scope, receive, send)

    async def _fail_after_write(
        self, scope: Scope, receive: Receive, send: Send, *, chatwoot: bool
    ) -> None:
        """Let the write happen, then fail the response if the write succeeded."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self._app(scope, receive, hold)
        if held and held[0]["type"] == "http.response.start" and 200 <= held[0]["status"] < 300:
            await self._fail(send, chatwoot=chatwoot)
            return
        for message in held:
            await send(message)

    async def _fail(self, send: Send, *, chatwoot: bool) -> None:
        failure = self._random.choice(_FAILURES)
        if chatwoot and failure != "drop":
            await _send_response(send, 500, CHATWOOT_500, b"application/json; charset=utf-8")
        elif failure == "html":
            await _send_response(send, 500, INTERNAL_ERROR_HTML, b"text/html; charset=utf-8")
        elif failure == "empty":
            await _send_response(send, 500, b"", None)
        else:
            # Under uvicorn, an exception after the response has started closes the
            # connection: the client reads headers promising a body, then end of stream.
            # In-process (httpx.ASGITransport) this is a 500 with an empty body.
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/html"), (b"content-length", b"1024")],
                }
            )
            raise InjectedDisconnect("connection dropped on purpose (fault injection)")


async def _send_response(send: Send, status: int, body: bytes, content_type: bytes | None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
