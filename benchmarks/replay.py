"""A server that does no work: the sandbox's listing, recorded, each page sent back exactly
``--latency-ms`` after its request.

The round-trip bound assumes a server whose every answer takes the latency and nothing
more. The sandbox is not that server: after its sleep it spends its one thread on each
page (about 1 ms), so answers that come due together queue, and that time is in every
client's figure. This server is: it records every page of the listing once (``sort`` as
reconciler asks, at no latency), then answers each request for page N with the recorded
bytes from a timer, parsing nothing but the request line. Any path gets the listing's page;
a page past the end gets the last (empty) one. Prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import urllib.request

LISTING = "/api/v2/accounts/contacts"
_PAGE = re.compile(rb"[?&]page=(\d+)")


def record(base_url: str) -> list[bytes]:
    """Every page of the listing as the server sent it, up to the first empty one."""
    secret = f"{os.environ['LIVEDESK_API_KEY']}:{os.environ['LIVEDESK_API_SECRET']}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(secret.encode()).decode(),
        "Accept": "application/json",
    }
    pages: list[bytes] = []
    while True:
        query = f"sort=created_at&include_contact_inboxes=false&page={len(pages) + 1}"
        url = f"{base_url}{LISTING}?{query}"
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
            body: bytes = answer.read()
        pages.append(body)
        if not json.loads(body)["payload"]:
            return pages


def distinct_contacts(pages: list[bytes]) -> int:
    return len({contact["id"] for page in pages for contact in json.loads(page)["payload"]})


class _Replay(asyncio.Protocol):
    def __init__(self, answers: list[bytes], latency: float) -> None:
        self._answers = answers
        self._latency = latency
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            found = _PAGE.search(head.split(b"\r\n", 1)[0])
            page = int(found.group(1)) if found else 1
            answer = self._answers[min(max(page, 1), len(self._answers)) - 1]
            assert self._transport is not None
            asyncio.get_running_loop().call_later(self._latency, self._transport.write, answer)


async def serve(answers: list[bytes], port: int, latency_ms: float) -> None:
    responses = [
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
        for body in answers
    ]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Replay(responses, latency_ms / 1000), "127.0.0.1", port
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record-from", required=True, help="the sandbox's base URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, required=True)
    parser.add_argument("--contacts", type=int, required=True, help="how many the pages hold")
    args = parser.parse_args()
    pages = record(args.record_from)
    if distinct_contacts(pages) != args.contacts:
        raise SystemExit(f"the recorded listing holds {distinct_contacts(pages)} contacts")
    asyncio.run(serve(pages, args.port, args.latency_ms))


if __name__ == "__main__":
    main()
