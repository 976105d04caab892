"""Answers that lie or shout: each is named for what it is, nothing is obeyed or lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_testing import point_at, run, store_of, stored, write_contacts
from starlette.types import Message, Receive, Scope, Send

from reconciler.sandbox.server import RunningSandbox, SandboxOptions, start_in_thread
from reconciler.targets.http.responses import server_message
from reconciler.targets.livedesk import Credentials, LiveDeskClient


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"errors": {"email": ["has already been taken"]}}', "email has already been taken"),
        (b'{"errors": ["Name is too long"]}', "Name is too long"),
        (b'["Identifier is invalid", 3]', "Identifier is invalid"),
        (b"[]", "a JSON body with no error message"),
        (b'{"message": "Email has already been taken"}', "Email has already been taken"),
        (b'{"message": ["Email is invalid", "Name is blank"]}', "Email is invalid; Name is blank"),
        (b'{"error": {"message": "Phone is taken"}}', "Phone is taken"),
        (b'{"message": [], "attributes": ["email"]}', "a JSON body with no error message"),
        (b'{"error": [{"email": "is taken"}]}', "email is taken"),
        (b'{"message": 42, "error": "Blank name"}', "Blank name"),
        (b'{"message": "\\u001b[2J\\u001b[31mred\\rgone"}', "\\x1b[2J\\x1b[31mred\\rgone"),
    ],
)
def test_a_422_of_any_shape_gives_the_servers_reason_with_controls_shown(
    body: bytes, message: str
) -> None:
    assert server_message("application/json; charset=utf-8", body) == message


def _answering(inner: Any, rewrite: Any) -> Any:
    """The sandbox, with each PATCH's answer passed through ``rewrite(document, count)``."""
    patches = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal patches
        if scope["type"] != "http" or scope["method"] != "PATCH":
            await inner(scope, receive, send)
            return
        patches += 1
        number = patches
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)

        await inner(scope, receive, keep)
        status, document = rewrite(sent[0]["status"], json.loads(sent[1]["body"]), number)
        body = json.dumps(document).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture
def wrapped_sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    options = SandboxOptions(port=0, db=str(tmp_path / "s.sqlite"))
    with start_in_thread(options, wrap=lambda inner: _answering(inner, request.param)) as running:
        yield running


def another_contact(status: int, document: Any, number: int) -> tuple[int, Any]:
    return status, {"payload": {**document["payload"], "id": document["payload"]["id"] + 1000}}


def refused_after_three(status: int, document: Any, number: int) -> tuple[int, Any]:
    if number > 3:
        return 401, {"error": "Invalid Access Token"}
    return status, document


@pytest.mark.parametrize("wrapped_sandbox", [another_contact], indirect=True)
def test_a_patch_answered_with_another_contact_is_a_failure(
    wrapped_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (contact_id,) = [int(store_of(wrapped_sandbox).insert({"identifier": "a"})["id"])]
    files = write_contacts(tmp_path / "c", [{"identifier": "a", "name": "New"}])
    point_at(monkeypatch, wrapped_sandbox, tmp_path)
    code, out, _ = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 1
    assert f"answered the update with another contact (id {contact_id + 1000})" in out
    assert "Apply complete: 0 created, 0 updated, 1 failed." in out


@pytest.mark.parametrize("wrapped_sandbox", [refused_after_three], indirect=True)
def test_a_401_in_the_middle_of_apply_stops_it_with_one_message(
    wrapped_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = store_of(wrapped_sandbox)
    for n in range(60):
        store.insert({"identifier": f"c-{n}", "name": "Old", "created_at": 1_700_000_000 + n})
    files = write_contacts(
        tmp_path / "c", [{"identifier": f"c-{n}", "name": "New"} for n in range(60)]
    )
    point_at(monkeypatch, wrapped_sandbox, tmp_path)
    (tmp_path / "reconciler.yaml").write_text('max_changes: "100%"\nconcurrency: 4\n', "utf-8")
    code, out, err = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 1
    assert err.count("answered 401") == 1
    assert "Invalid Access Token (check LIVEDESK_API_KEY and LIVEDESK_API_SECRET)" in err
    assert out.count(": failed: ") == 0  # not one failure line per contact
    updated = sum(1 for n in range(60) if stored_name(wrapped_sandbox, n) == "New")
    assert updated < 3 + 2 * 4  # what was under way when the 401 came, no more


def stored_name(sandbox: RunningSandbox, n: int) -> Any:
    record = next(r for r in store_of(sandbox).all() if r["identifier"] == f"c-{n}")
    return record["name"]


def test_plain_http_to_loopback_never_goes_through_a_proxy(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (contact_id,) = [int(store_of(live_sandbox).insert({"identifier": "a"})["id"])]
    files = write_contacts(tmp_path / "c", [{"identifier": "a", "name": "New"}])
    point_at(monkeypatch, live_sandbox, tmp_path)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # a proxy that would see the secret
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    code, _, err = run(capsys, "apply", str(files), "--auto-approve")
    assert code == 0, err
    assert stored(live_sandbox, contact_id)["name"] == "New"


@pytest.mark.anyio
async def test_a_cookie_the_server_sets_is_never_sent_back(sandbox_app: Any) -> None:
    """The API sets no cookies: the client keeps none, so a server can plant nothing in it."""
    cookies: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        cookies.extend(value for name, value in scope.get("headers", []) if name == b"cookie")

        async def planting(message: Message) -> None:
            if message["type"] == "http.response.start":
                planted = (b"set-cookie", b"session=planted; Path=/")
                message = {**message, "headers": [*message["headers"], planted]}
            await send(message)

        await sandbox_app(scope, receive, planting)

    planted = httpx.ASGITransport(app=app)
    sandbox = Credentials("sandbox", "sandbox")
    async with LiveDeskClient("http://127.0.0.1", sandbox, transport=planted) as client:
        for _ in range(3):
            await client.list_page(1)
        assert client.request_count == 3
    assert cookies == []
