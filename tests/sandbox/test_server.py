"""Running the sandbox: ``reconciler sandbox`` and ``start_in_thread``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sandbox_testing import AUTH, PATH

from reconciler.errors import ConfigError
from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread

REPOSITORY = Path(__file__).resolve().parents[2]


def _start_cli(*arguments: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``python -m reconciler sandbox ARGUMENTS``, and its banner up to "Press Ctrl-C"."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), *sys.path])}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    banner: list[str] = []
    while not banner or not banner[-1].startswith("Press Ctrl-C"):
        line = process.stdout.readline()
        if not line:
            process.wait(10)
            pytest.fail(f"the sandbox exited early: {banner} {process.stderr.read()}")  # type: ignore[union-attr]
        banner.append(line.rstrip("\n"))
    return process, banner


def _stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    process.send_signal(signum)
    out, err = process.communicate(timeout=15)
    return process.returncode, out, err


def test_cli_prints_its_url_and_credentials_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([{"email": "seeded@example.com", "name": "Seeded"}]))
    db = tmp_path / "state" / "sandbox.sqlite"
    process, banner = _start_cli(
        "--db", str(db), "--seed", str(seed), "--api-key", "key1", "--api-secret", "secret1"
    )
    try:
        text = "\n".join(banner)
        (url,) = [line.split("=", 1)[1] for line in banner if "LIVEDESK_BASE_URL=" in line]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert url in banner[0]
        assert "LIVEDESK_API_KEY=key1" in text and "LIVEDESK_API_SECRET=secret1" in text
        assert "sandbox-only" in text
        assert "1 contact)" in banner[0] and "loaded" in text
        response = httpx.get(url + PATH, auth=("key1", "secret1"))
        assert response.status_code == 200
        assert response.json()["payload"][0]["name"] == "Seeded"
        assert httpx.get(url + PATH, auth=AUTH).status_code == 401
    finally:
        returncode, out, err = _stop(process, signal.SIGINT)
    assert returncode == 0
    assert "sandbox stopped" in out
    assert "Traceback" not in err
    assert db.is_file()


def test_cli_stops_cleanly_on_sigterm_and_reports_faults(tmp_path: Path) -> None:
    process, banner = _start_cli(
        "--empty",
        "--db",
        str(tmp_path / "s.sqlite"),
        "--latency-ms",
        "5",
        "--fault-rate",
        "0.1",
        "--fault-seed",
        "3",
    )
    returncode, out, err = _stop(process, signal.SIGTERM)
    assert "injecting faults: latency-ms 5.0, fault-rate 0.1, fault-seed 3" in banner
    assert returncode == 0, err
    assert "sandbox stopped" in out


def test_cli_port_in_use_is_one_line_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "sandbox",
                "--port",
                port,
                "--db",
                str(tmp_path / "s.sqlite"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: sandbox can't listen on 127.0.0.1:{port}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_start_in_thread_serves_on_a_free_port_until_stopped(
    sandbox_options: SandboxOptions,
) -> None:
    running = start_in_thread(sandbox_options)
    try:
        assert not running.base_url.endswith(":0")
        response = httpx.post(
            running.base_url + PATH, json={"inbox_id": 1, "email": "t@example.com"}, auth=AUTH
        )
        assert response.status_code == 200
        assert running.app.state.store.count() == 1
    finally:
        running.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.base_url + PATH, auth=AUTH)


def test_start_in_thread_on_a_taken_port_is_a_config_error(
    sandbox_options: SandboxOptions, live_sandbox: RunningSandbox
) -> None:
    port = int(live_sandbox.base_url.rsplit(":", 1)[1])
    other = replace(sandbox_options, port=port, db=sandbox_options.db + "-other")
    with pytest.raises(ConfigError, match=f"can't listen on 127.0.0.1:{port}"):
        start_in_thread(other)


def test_server_connections_have_nagle_off(live_sandbox: RunningSandbox) -> None:
    with httpx.Client(base_url=live_sandbox.base_url, auth=AUTH) as client:
        assert client.get(PATH).status_code == 200
        connections = list(live_sandbox.server.server_state.connections)
        assert connections
        for connection in connections:
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_options_repr_hides_the_secret() -> None:
    assert "hidden-secret" not in repr(SandboxOptions(api_secret="hidden-secret"))


def test_the_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    """`reconciler sandbox`, then the README's exports and `reconciler plan examples/contacts`:
    a new database starts with the demo contacts the examples declare."""
    process, banner = _start_cli("--db", str(tmp_path / "sandbox.sqlite"))
    try:
        exports = dict(
            line.split("=", 1)
            for line in " ".join(banner).replace("export ", " ").split()
            if line.startswith("LIVEDESK_")
        )
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", str(REPOSITORY / "examples" / "contacts")],
            env={**os.environ, "PYTHONPATH": str(REPOSITORY), **exports},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        _stop(process, signal.SIGINT)
    assert done.returncode == 0, done.stderr
    assert "Plan: 2 to create, 3 to update, 18 unchanged." in done.stdout
