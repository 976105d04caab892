"""Fixtures shared by every test: the sandbox, in-process and on a real socket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_testing import CHATWOOT, DESKS, Desk, point_at
from hypothesis import settings
from starlette.applications import Starlette

from reconciler.sandbox.app import create_app
from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread

# CI explores the same examples every run, so a red run is a regression, not a new draw;
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ASGI_BASE_URL = "http://127.0.0.1"
SANDBOX_CREDENTIALS = ("sandbox", "sandbox")


@pytest.fixture(params=DESKS, ids=str)
def desk(request: pytest.FixtureRequest) -> Desk:
    """Each face of the sandbox in turn: a test that takes it runs against both targets."""
    desk: Desk = request.param
    return desk


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox_options(tmp_path: Path) -> SandboxOptions:
    """Options for a sandbox whose database is under tmp_path, on a free port, no faults."""
    return SandboxOptions(port=0, db=str(tmp_path / "sandbox.sqlite"))


@pytest.fixture
def sandbox_app(sandbox_options: SandboxOptions) -> Iterator[Starlette]:
    """The sandbox app; ``app.state.store`` is its Store, to seed or inspect directly."""
    app = create_app(sandbox_options)
    yield app
    app.state.store.close()


@pytest.fixture
def asgi_transport(sandbox_app: Starlette) -> httpx.ASGITransport:
    """The sandbox in-process: use with base_url ASGI_BASE_URL ("http://127.0.0.1")."""
    return httpx.ASGITransport(app=sandbox_app, raise_app_exceptions=False)


@pytest.fixture
def live_sandbox(sandbox_options: SandboxOptions) -> Iterator[RunningSandbox]:
    """The sandbox under uvicorn on 127.0.0.1, a free port: ``.base_url``, ``.app``."""
    with start_in_thread(sandbox_options) as running:
        yield running


@pytest.fixture
def chatwoot(
    live_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RunningSandbox:
    """The CLI in tmp_path, pointed at the live sandbox's Chatwoot face."""
    point_at(monkeypatch, live_sandbox, tmp_path, CHATWOOT)
    return live_sandbox
