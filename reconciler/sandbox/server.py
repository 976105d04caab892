"""Running the sandbox: ``serve`` for ``reconciler sandbox``, ``start_in_thread`` for tests,
benchmarks and ``--sandbox``.

Both bind the socket first (port 0 picks a free one), so the URL is known before uvicorn
starts, and both run uvicorn quietly: warnings only, no access log.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType, TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from reconciler.errors import ConfigError
from reconciler.sandbox.app import create_app
from reconciler.sandbox.faults import QUIET_INJECTED_DISCONNECTS

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class SandboxOptions:
    """How to run the sandbox; every fault is off by default."""

    host: str = "127.0.0.1"
    port: int = 8080
    db: str = ".reconciler/sandbox.sqlite"
    seed: str | None = None  # a JSON array of contacts, loaded into an empty database
    api_key: str = "sandbox"
    api_secret: str = field(default="sandbox", repr=False)
    chatwoot_token: str = field(default="sandbox-token", repr=False)
    chatwoot_bot_token: str = field(default="sandbox-bot-token", repr=False)
    account_id: int = 1  # the Chatwoot face's one account
    role: str = "administrator"  # the Chatwoot token's role there: administrator or agent
    version: str = "4.10.0"  # the Chatwoot version GET /api tells
    search_limit: int = 100  # Chatwoot searches a rate window, per account
    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests a second, 0: no limit
    rate_window: float = 60.0  # Chatwoot's fixed windows (seconds) for rate_limit and search
    fault_rate: float = 0.0
    fault_seed: int | None = None
    fail_after_write: float = 0.0
    workers: int = 0  # requests served at once; the rest queue (0: no bound)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket whose connections have Nagle's algorithm off.

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP, and
    ``socket.create_server`` makes them with proto 0: a small response would then wait for
    the client's delayed ACK, ~40 ms a request. So the protocol is named here, and the
    option is set on the listener too (Linux passes it on to accepted connections).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ConfigError(f"sandbox can't listen on {host}:{port}: {error.strerror}") from None
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: ASGIApp) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_config=None,  # log through the root logger, like the rest of reconciler
        log_level="warning",
        access_log=False,
        lifespan="off",  # the store is opened by create_app, closed by whoever stops us
        timeout_graceful_shutdown=5,
    )
    error_log = logging.getLogger("uvicorn.error")
    if QUIET_INJECTED_DISCONNECTS not in error_log.filters:
        error_log.addFilter(QUIET_INJECTED_DISCONNECTS)
    return uvicorn.Server(config)


def _describe(options: SandboxOptions, base_url: str, app: Starlette) -> str:
    count = app.state.store.count()
    lines = [
        f"LiveDesk and Chatwoot sandbox serving {base_url} (database {options.db}: "
        f"{count} contact{'' if count == 1 else 's'})",
    ]
    if options.seed:
        seeded = "loaded" if app.state.seeded else "not loaded: the database was not empty"
        lines.append(f"seed {options.seed}: {seeded}")
    faults = [
        f"{label} {value}"
        for label, value in (
            ("latency-ms", options.latency_ms),
            ("rate-limit", options.rate_limit),
            ("fault-rate", options.fault_rate),
            ("fail-after-write", options.fail_after_write),
            ("workers", options.workers),
        )
        if value
    ]
    if faults:
        seed = "" if options.fault_seed is None else f", fault-seed {options.fault_seed}"
        lines.append(f"injecting faults: {', '.join(faults)}{seed}")
    lines += [
        "It accepts these credentials (sandbox-only: they are no real desk's).",
        "For target: livedesk",
        f"  export LIVEDESK_BASE_URL={base_url}",
        f"  export LIVEDESK_API_KEY={options.api_key}",
        f"  export LIVEDESK_API_SECRET={options.api_secret}",
        f"For target: chatwoot (account_id: {options.account_id}, version {options.version})",
        f"  export CHATWOOT_BASE_URL={base_url}",
        f"  export CHATWOOT_API_TOKEN={options.chatwoot_token}",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


class _Stopped(Exception):
    """SIGTERM, after uvicorn's graceful shutdown."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the previous handler:
    # make that handler end serve() normally instead of killing the process.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(options: SandboxOptions) -> int:
    """Serve until Ctrl-C (or SIGTERM); 0 once stopped cleanly."""
    app = create_app(options)
    store = app.state.store
    try:
        sock = _bind(options.host, options.port)
    except ConfigError:
        store.close()
        raise
    try:
        with _sigterm_stops():
            print(_describe(options, _base_url(sock), app), flush=True)
            _server(app).run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        sock.close()
        store.close()
    print("sandbox stopped", flush=True)
    return 0


@dataclass
class RunningSandbox:
    """A sandbox served by uvicorn in a background thread; ``stop()`` or use ``with``."""

    base_url: str
    app: Starlette
    server: uvicorn.Server
    _thread: threading.Thread
    _socket: socket.socket

    def stop(self) -> None:
        """Shut uvicorn down, then close the store. Safe to call twice."""
        self.server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        self._socket.close()
        self.app.state.store.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    options: SandboxOptions, *, wrap: Callable[[ASGIApp], ASGIApp] | None = None
) -> RunningSandbox:
    """Start the sandbox on ``options.host``/``options.port`` and return once it serves.

    ``wrap`` puts a middleware of the caller's in front (a test's hostile answers).
    """
    app = create_app(options)
    try:
        sock = _bind(options.host, options.port)
    except ConfigError:
        app.state.store.close()
        raise
    server = _server(app if wrap is None else wrap(app))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="reconciler-sandbox", daemon=True
    )
    running = RunningSandbox(_base_url(sock), app, server, thread, sock)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.002)
    return running
