"""What a request costs the client beyond the exchange: no import is attempted per request."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
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
