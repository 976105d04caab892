"""What a request costs the client beyond the exchange: no import is attempted per request,
and no reference cycle is left behind for the collector."""

from __future__ import annotations

import contextlib
import gc
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.applications import Starlette

from reconciler.targets.livedesk import Credentials, LiveDeskClient

pytestmark = pytest.mark.anyio


class _Recorder:
    """A meta path finder that finds nothing and notes what was looked for."""

    def __init__(self) -> None:
        self.sought: list[str] = []

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.sought.append(name)
        return None


async def test_requests_attempt_no_import(sandbox_app: Starlette) -> None:
    # httpcore imports sniffio on every request: without it installed, each one searched
    # sys.path again (a sixth of a warm plan's CPU). It is a dependency, so it is found once.
    transport = httpx.ASGITransport(app=sandbox_app, raise_app_exceptions=False)
    async with LiveDeskClient(
        "http://127.0.0.1", Credentials("sandbox", "sandbox"), transport=transport
    ) as client:
        await client.list_page(1)  # warm: whatever is imported once is imported now
        recorder = _Recorder()
        sys.meta_path.insert(0, recorder)
        try:
            for _ in range(10):
                await client.list_page(1)
        finally:
            sys.meta_path.remove(recorder)
    assert recorder.sought == []


@contextmanager
def sandbox_process(tmp_path: Path) -> Iterator[str]:
    """The sandbox in its own process: what it leaves for the collector is not ours."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "reconciler", "sandbox", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--db", str(tmp_path / "sandbox.sqlite")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(15)


def _cycles_left(requests: int, send: Callable[[], Awaitable[object]]) -> Awaitable[int]:
    """The objects ``requests`` calls of ``send`` leave in reference cycles."""

    async def count() -> int:
        await send()  # warm
        gc.collect()
        gc.disable()
        try:
            for _ in range(requests):
                await send()
            return gc.collect()
        finally:
            gc.enable()

    return count()


async def test_a_request_that_succeeds_leaves_no_more_cycles_than_httpx(tmp_path: Path) -> None:
    # A retry context (stamina, tenacity) per request left about sixty more objects in
    # cycles, which a run's young collections let through: 137 MiB over a fetch of 100,000.
    with sandbox_process(tmp_path) as base_url:
        async with LiveDeskClient(
            base_url, Credentials("sandbox", "sandbox"), allow_plain_http=True
        ) as client:
            ours = await _cycles_left(50, lambda: client.list_page(1))
        async with httpx.AsyncClient(auth=("sandbox", "sandbox")) as plain:
            url = f"{base_url}/api/v2/accounts/contacts?sort=created_at&page=1"
            theirs = await _cycles_left(50, lambda: plain.get(url))
    assert ours <= theirs + 50
