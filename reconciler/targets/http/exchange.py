"""One request on one lane: sent, its answer read within the timeout and MAX_BODY_BYTES, and
httpx's failures turned into reconciler's errors (Retryable where another attempt may do)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from reconciler.errors import ApiError, InvalidResponseError, TransportError
from reconciler.targets.http.retries import Retryable

MAX_BODY_BYTES = 8 * 2**20
"""The largest answer read, after decompression: a page of contacts is a few kB."""


@dataclass(frozen=True)
class Endpoint:
    """What messages name: the API, its base URL, and the timeout it is given."""

    service: str
    base_url: str
    timeout: float


async def exchange(
    lane: httpx.AsyncBaseTransport,
    request: httpx.Request,
    what: str,
    endpoint: Endpoint,
    overloaded: Callable[[], None],
) -> tuple[httpx.Response, bytes]:
    """Send ``request`` and read its answer; ``overloaded`` is told of a timeout or a
    failed connection (the server may be past its capacity)."""
    try:
        # The whole exchange has a deadline: a server that trickles a byte a second
        # would never trip the timeout between two reads.
        async with asyncio.timeout(endpoint.timeout):
            response = await lane.handle_async_request(request)
            response.request = request
            try:
                return response, await _bounded_body(response, what, endpoint.service)
            finally:
                await response.aclose()
    except TimeoutError:
        overloaded()
        message = f"{what}: no answer from {endpoint.base_url} within {endpoint.timeout:g} s"
        raise Retryable(TransportError(message), maybe_written=True) from None
    except httpx.HTTPError as failure:
        overloaded()
        raise _transport_failure(what, endpoint, failure) from None
    except (httpx.InvalidURL, httpx.StreamError) as failure:
        raise TransportError(f"{what}: {type(failure).__name__}") from None


def _transport_failure(
    what: str, endpoint: Endpoint, error: httpx.HTTPError
) -> Retryable | ApiError:
    """The typed error for an httpx failure; whether the server may have acted on it."""
    # Nothing reached the server when connecting failed, so even a POST may simply be retried.
    unsent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    base_url, timeout = endpoint.base_url, endpoint.timeout
    if isinstance(error, httpx.ConnectError):
        # Refused, a name that doesn't resolve, a certificate or TLS failure: trying again
        # in a few seconds changes nothing, so say it at once.
        return TransportError(f"{what}: can't connect to {base_url}: {_connect_reason(error)}")
    if isinstance(error, httpx.TimeoutException):
        message = f"{what}: no answer from {base_url} within {timeout:g} s"
    elif isinstance(error, httpx.TransportError):
        reason = str(error) or "the connection was dropped"
        message = f"{what}: could not talk to {base_url}: {type(error).__name__}: {reason}"
    else:  # decoding errors, redirect loops: the server answered, but not usably
        return InvalidResponseError(
            f"{endpoint.service}'s answer to {what} could not be read: {error}"
        )
    return Retryable(TransportError(message), maybe_written=not unsent)


def _connect_reason(error: httpx.ConnectError) -> str:
    """What stopped a connection, in a few words, from the exceptions under httpx's."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate can't be verified ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause})"
        if isinstance(cause, socket.gaierror):
            return "the host name doesn't resolve (check the base URL)"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused (is the server running at that address?)"
        cause = cause.__cause__ or cause.__context__
    text = str(error)
    if "refused" in text.lower() or "connect call failed" in text.lower():
        return "the connection was refused (is the server running at that address?)"
    return text or type(error).__name__


async def _bounded_body(response: httpx.Response, what: str, service: str) -> bytes:
    """The decoded body, refused past MAX_BODY_BYTES (a gzip bomb counts as it inflates)."""
    declared = response.headers.get("content-length", "")
    too_large = InvalidResponseError(
        f"{service}'s answer to {what} is over {MAX_BODY_BYTES // 2**20} MB, where a page of "
        "contacts is a few kB: not read"
    )
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
