"""Servers that would make us spend without end: each run ends in one line, in bounded
time and memory (the real process, measured: the test fails past its bounds)."""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_testing import write_contacts

import reconciler

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent
MEMORY_BOUND_KIB = 200 * 1024
TIME_BOUND_S = 15.0
HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

# Runs the CLI with two quick attempts a request (retries are not what is measured here),
# then reports its own peak RSS in KiB (VmHWM: this process's, not its parent's before exec).
PROBE = """
import functools, sys
from pathlib import Path
import reconciler.targets.livedesk as livedesk
from reconciler.cli import main
quick = livedesk.RetryPolicy(attempts=2, timeout=10, wait_initial=0.01, wait_max=0.02)
livedesk.LiveDeskClient = functools.partial(livedesk.LiveDeskClient, retry=quick)
code = main(sys.argv[1:])
status = Path("/proc/self/status").read_text().splitlines()
print(next(line.split()[1] for line in status if line.startswith("VmHWM:")), file=sys.stderr)
sys.exit(code)
"""


def _gzip_bomb() -> bytes:
    """200 MB of JSON whitespace, gzipped to about 200 kB, made without holding 200 MB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    chunk = b" " * 2**20
    parts = [compressor.compress(b"[")]
    parts += [compressor.compress(chunk) for _ in range(200)]
    return b"".join([*parts, compressor.flush()])


GZIP_BOMB = _gzip_bomb()


def huge_body(connection: socket.socket) -> None:
    connection.sendall(f"{HEAD}Content-Length: {2**30}\r\n\r\n".encode())
    chunk = b" " * 65536
    for _ in range(2**30 // 65536):
        connection.sendall(chunk)


def endless_body(connection: socket.socket) -> None:
    connection.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
    while True:
        connection.sendall(chunk)


def gzip_bomb(connection: socket.socket) -> None:
    head = f"{HEAD}Content-Encoding: gzip\r\nContent-Length: {len(GZIP_BOMB)}\r\n\r\n"
    connection.sendall(head.encode() + GZIP_BOMB)


def trickle(connection: socket.socket) -> None:
    connection.sendall(f"{HEAD}Content-Length: 100\r\n\r\n".encode())
    for _ in range(100):
        time.sleep(0.4)  # each byte well inside the per-read timeout
        connection.sendall(b" ")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.behave = behave


class Handler(socketserver.BaseRequestHandler):
    server: Server
    request: socket.socket

    def handle(self) -> None:
        received = b""
        self.request.settimeout(10)
        while b"\r\n\r\n" not in received:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            received += chunk
        with contextlib.suppress(OSError):  # the client hung up: what we want
            self.server.behave(self.request)


@contextmanager
def serving(behave: Callable[[socket.socket], None]) -> Iterator[str]:
    server = Server(behave)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("behave", "words"),
    [
        (huge_body, "is over 8 MB, where a page of contacts is a few kB"),
        (endless_body, "is over 8 MB, where a page of contacts is a few kB"),
        (gzip_bomb, "is over 8 MB, where a page of contacts is a few kB"),
        (trickle, "no answer from http://127.0.0.1:"),
    ],
    ids=["1-gib-body", "endless-body", "gzip-bomb", "trickle"],
)
def test_a_server_that_never_stops_sending_is_cut_off(
    tmp_path: Path, behave: Callable[[socket.socket], None], words: str
) -> None:
    files = write_contacts(tmp_path / "c", [{"identifier": "a"}, {"identifier": "b"}])
    (tmp_path / "reconciler.yaml").write_text("timeout: 1\n", "utf-8")  # the whole answer
    with serving(behave) as base_url:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", PROBE, "plan", str(files)],
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(REPOSITORY),
                "LIVEDESK_BASE_URL": base_url,
                "LIVEDESK_API_KEY": "key",
                "LIVEDESK_API_SECRET": "secret",
            },
            capture_output=True,
            text=True,
            timeout=TIME_BOUND_S + 20,
            check=False,
        )
        seconds = time.monotonic() - started
    *lines, peak_kib = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[-1].startswith("error: ") and words in lines[-1], lines
    assert "Traceback" not in result.stderr
    assert int(peak_kib) < MEMORY_BOUND_KIB, f"{int(peak_kib) // 1024} MiB"
    assert seconds < TIME_BOUND_S
