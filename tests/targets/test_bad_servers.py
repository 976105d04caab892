"""Servers that misbehave: each gives one line on stderr, exit 1 and no traceback.

Each server is a raw loopback socket that answers every request with the same bytes (or
never answers), so the client meets exactly the broken HTTP a proxy or an outage produces.
"""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_testing import after_header, run, write_contacts
from reliability_testing import client_options

import reconciler
from reconciler.targets.livedesk import RetryPolicy

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
FEW_QUICK_RETRIES = RetryPolicy(
    attempts=3, timeout=10.0, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0
)
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"


def response(status: str, body: bytes, content_type: str, *, length: int | None = None) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class CannedServer(socketserver.ThreadingTCPServer):
    """Answers every request with ``answer``; with None, holds it until the server stops."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: bytes | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.requests = 0
        self.stopping = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(socketserver.BaseRequestHandler):
    server: CannedServer
    request: socket.socket

    def handle(self) -> None:
        received = b""
        self.request.settimeout(10)
        while b"\r\n\r\n" not in received:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            received += chunk
        self.server.requests += 1
        if self.server.answer is None:
            self.server.stopping.wait(30)  # hang: never a byte back
            return
        self.request.sendall(self.server.answer)


@contextmanager
def serving(answer: bytes | None) -> Iterator[CannedServer]:
    server = CannedServer(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def contacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two declared contacts (so plan reads the list first), the CLI run in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVEDESK_API_KEY", "key")
    monkeypatch.setenv("LIVEDESK_API_SECRET", "secret")
    return write_contacts(
        tmp_path / "contacts",
        [{"id": 5, "name": "Five"}, {"identifier": "six", "email": "six@example.com"}],
    )


CASES = {
    "html instead of json": (
        response("200 OK", HTML, "text/html; charset=utf-8"),
        "error: LiveDesk answered GET /api/v2/accounts/contacts with 200 and an HTML page",
    ),
    "truncated json": (
        response("200 OK", b'{"meta": {"count": 3, "current_pa', "application/json"),
        "error: LiveDesk answered GET /api/v2/accounts/contacts with 200 and a",
    ),
    "body cut short": (
        response("200 OK", b'{"meta": {"count": 3, ', "application/json", length=4096),
        "error: GET /api/v2/accounts/contacts: could not talk to http://127.0.0.1:",
    ),
    "json of another shape": (
        response("200 OK", b'{"data": []}', "application/json"),
        "error: LiveDesk's answer to GET /api/v2/accounts/contacts page 1 is not what "
        "the API promises: no meta object",
    ),
    "empty 200": (
        response("200 OK", b"", "application/json"),
        "error: LiveDesk answered GET /api/v2/accounts/contacts with 200 and an empty body",
    ),
    "401": (
        response("401 Unauthorized", b'{"error": "Invalid Access Token"}', "application/json"),
        "error: LiveDesk answered 401: Invalid Access Token "
        "(check LIVEDESK_API_KEY and LIVEDESK_API_SECRET)",
    ),
    "404": (
        response("404 Not Found", b'{"error": "Resource could not be found"}', "application/json"),
        "error: LiveDesk answered 404: Resource could not be found",
    ),
    "deeply nested json": (
        response("200 OK", b"[" * 100_000 + b"]" * 100_000, "application/json"),
        "error: LiveDesk answered GET /api/v2/accounts/contacts with 200 and JSON nested too "
        "deeply to read",
    ),
    "redirect elsewhere": (
        response(
            "301 Moved Permanently",
            b"",
            "text/html",
        ).replace(
            b"Content-Length",
            b"Location: https://elsewhere.example/v2/?token=t0ken\r\nContent-Length",
        ),
        "error: http://127.0.0.1:",
    ),
    "not the contacts api": (  # a wrong base URL: the web server's own 404 page
        response("404 Not Found", b"<html><body>Not Found</body></html>", "text/html"),
        "error: http://127.0.0.1:",
    ),
    "401 echoing the credentials": (
        response(
            "401 Unauthorized",
            b'{"error": "bad Authorization: Basic a2V5OnNlY3JldA== (key:secret)"}',
            "application/json",
        ),
        "error: LiveDesk answered 401: bad Authorization: *** (key:***)",
    ),
    "html 502 every time": (
        response("502 Bad Gateway", HTML, "text/html"),
        "error: LiveDesk answered 502: an HTML page, no error message",
    ),
    "hang past the timeout": (
        None,
        "error: GET /api/v2/accounts/contacts: no answer from http://127.0.0.1:",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_bad_server_is_one_line_and_exit_1(
    case: str,
    command: str,
    contacts: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer, first_words = CASES[case]
    # Retries have no setting (timeout has, but this needs both short): the real client, with
    # short ones.
    client_options(monkeypatch, timeout=0.3, retry=FEW_QUICK_RETRIES)
    with serving(answer) as server:
        monkeypatch.setenv("LIVEDESK_BASE_URL", server.base_url)
        argv = [command, str(contacts)] + (["--auto-approve"] if command == "apply" else [])
        code, out, err = run(capsys, *argv)
        requests = server.requests

    assert code == 1
    assert out == ""
    err = after_header(err)  # the run's header line comes first, whatever the outcome
    assert len(err.splitlines()) == 1, err
    assert err.startswith(first_words), err
    if case == "redirect elsewhere":
        assert "answered with a redirect (301) to https://elsewhere.example/v2/;" in err
        assert "t0ken" not in err
    if case == "not the contacts api":
        assert "does not answer like a LiveDesk contacts API: 404 with an HTML page" in err
        assert "check the base URL" in err
    assert "Traceback" not in err
    retried = case in ("body cut short", "html 502 every time", "hang past the timeout")
    assert requests == (FEW_QUICK_RETRIES.attempts if retried else 1)


def test_a_bad_server_is_one_line_from_the_real_process(contacts: Path) -> None:
    """The same through ``python -m reconciler``: nothing else reaches stderr."""
    with serving(CASES["html instead of json"][0]) as server:
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", str(contacts)],
            env={
                **os.environ,
                "PYTHONPATH": str(REPOSITORY),
                "LIVEDESK_BASE_URL": server.base_url,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert (result.returncode, result.stdout) == (1, "")
    assert after_header(result.stderr).splitlines() == [
        "error: LiveDesk answered GET /api/v2/accounts/contacts with 200 and an HTML page"
    ]
