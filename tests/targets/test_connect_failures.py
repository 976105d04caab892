"""Failures that a retry can't mend end the request at once, with their cause; real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.errors import TransportError
from reconciler.targets.http.connection import RetryPolicy
from reconciler.targets.livedesk import Credentials, LiveDeskClient

CREDENTIALS = Credentials("key", "secret")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def failure(base_url: str) -> tuple[str, int, float]:
    """The message of one GET's error, the requests it took, and the seconds it took."""

    async def get() -> tuple[str, int]:
        async with LiveDeskClient(base_url, CREDENTIALS) as client:  # the default retries
            with pytest.raises(TransportError) as raised:
                await client.get_contact(1)
            return str(raised.value), client.request_count

    started = time.monotonic()
    message, requests = asyncio.run(get())
    return message, requests, time.monotonic() - started


@contextlib.contextmanager
def loopback_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback server that passes each connection it takes to ``handle``; its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    handle(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def tls_server(context: ssl.SSLContext | None) -> contextlib.AbstractContextManager[int]:
    """A loopback server that takes connections (and a TLS handshake, given a context)."""

    def handle(connection: socket.socket) -> None:
        if context is None:  # plain http where TLS is expected
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        context.wrap_socket(connection, server_side=True).close()

    return loopback_server(handle)


def test_a_refused_connection_fails_at_once() -> None:
    message, requests, seconds = failure(f"http://127.0.0.1:{free_port()}")
    assert "can't connect to http://127.0.0.1:" in message
    assert "the connection was refused" in message
    assert requests == 1  # not retried
    assert seconds < 2


def test_a_host_that_does_not_resolve_fails_at_once() -> None:
    message, requests, seconds = failure("https://no-such-host.invalid")
    assert "the host name doesn't resolve" in message
    assert requests == 1
    assert seconds < 2


def test_plain_http_answering_a_tls_connection_fails_at_once() -> None:
    with tls_server(None) as port:
        message, requests, seconds = failure(f"https://127.0.0.1:{port}")
    assert "TLS failed" in message
    assert requests == 1
    assert seconds < 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_a_certificate_that_cannot_be_verified_fails_at_once(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with tls_server(context) as port:
        message, requests, seconds = failure(f"https://127.0.0.1:{port}")
    assert "its TLS certificate can't be verified" in message
    assert "self-signed" in message
    assert requests == 1
    assert seconds < 2


@contextlib.contextmanager
def refusing_proxy() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback HTTP proxy that records each request's first line and refuses it (403)."""
    seen: list[bytes] = []

    def handle(connection: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = connection.recv(4096)
            if not chunk:
                break
            head += chunk
        seen.append(head.split(b"\r\n", 1)[0])
        connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    with loopback_server(handle) as port:
        yield port, seen


def test_https_goes_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    async def get() -> str:
        once = RetryPolicy(attempts=1)
        desk = "https://desk.example.invalid"
        async with LiveDeskClient(desk, CREDENTIALS, retry=once) as client:
            with pytest.raises(TransportError) as raised:
                await client.get_contact(1)
        return str(raised.value)

    with refusing_proxy() as (port, seen):
        monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{port}")  # no scheme: http:// is meant
        message = asyncio.run(get())
        assert seen == [b"CONNECT desk.example.invalid:443 HTTP/1.1"]
        assert "secret" not in message

        monkeypatch.setenv("NO_PROXY", "example.invalid")
        message = asyncio.run(get())
        assert "the host name doesn't resolve" in message  # straight to the host
        assert len(seen) == 1
