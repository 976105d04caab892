"""The least a client can do to read the listing: the floor the sandbox allows a fetch.

Raw sockets, ``--connections`` kept-alive HTTP/1.1 connections started together (as
reconciler's are), each sending the next page as soon as it has read an answer and decoded
its JSON; no retries, no checks, no projection. Prints one JSON line: the wall time.

``--httpx`` reads the same pages the same way through plain httpx (one ``AsyncClient`` of
``--connections`` connections, a task each): what the HTTP stack reconciler keeps costs
before reconciler adds anything. ``--httpcore`` reads them through httpcore alone, the layer
under httpx (a pool of one connection a task, as each of reconciler's lanes has).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import time
import urllib.parse


async def _connection(host: str, port: int, pages: list[int], path: str, auth: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while pages:
            page = pages.pop()
            request = (
                f"GET {path}?sort=created_at&include_contact_inboxes=false&page={page} HTTP/1.1\r\n"
                f"Host: {host}\r\nAccept: application/json\r\nAuthorization: {auth}\r\n\r\n"
            )
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            json.loads(await reader.readexactly(length))
    finally:
        writer.close()


async def _fetch(base_url: str, pages: int, connections: int) -> float:
    url = urllib.parse.urlsplit(base_url)
    secret = f"{os.environ['LIVEDESK_API_KEY']}:{os.environ['LIVEDESK_API_SECRET']}"
    auth = "Basic " + base64.b64encode(secret.encode()).decode()
    todo = list(range(pages, 0, -1))
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(
                url.hostname or "127.0.0.1", url.port or 80, todo, "/api/v2/accounts/contacts", auth
            )
            for _ in range(connections)
        )
    )
    return time.perf_counter() - started


async def _fetch_httpx(base_url: str, pages: int, connections: int) -> float:
    import httpx

    secret = (os.environ["LIVEDESK_API_KEY"], os.environ["LIVEDESK_API_SECRET"])
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    todo = list(range(pages, 0, -1))
    async with httpx.AsyncClient(base_url=base_url, auth=secret, limits=limits) as client:

        async def task() -> None:
            while todo:
                params = {"sort": "created_at", "include_contact_inboxes": "false"}
                answer = await client.get(
                    "/api/v2/accounts/contacts", params={**params, "page": todo.pop()}
                )
                json.loads(answer.content)

        started = time.perf_counter()
        await asyncio.gather(*(task() for _ in range(connections)))
        return time.perf_counter() - started


async def _fetch_httpcore(base_url: str, pages: int, connections: int) -> float:
    import httpcore

    secret = f"{os.environ['LIVEDESK_API_KEY']}:{os.environ['LIVEDESK_API_SECRET']}"
    host = urllib.parse.urlsplit(base_url).netloc
    headers = [
        (b"Host", host.encode()),
        (b"Accept", b"application/json"),
        (b"Authorization", b"Basic " + base64.b64encode(secret.encode())),
    ]
    todo = list(range(pages, 0, -1))
    pools = [httpcore.AsyncConnectionPool(max_connections=1) for _ in range(connections)]

    async def task(pool: httpcore.AsyncConnectionPool) -> None:
        while todo:
            query = f"sort=created_at&include_contact_inboxes=false&page={todo.pop()}"
            url = f"{base_url}/api/v2/accounts/contacts?{query}"
            answer = await pool.request("GET", url, headers=headers)
            json.loads(answer.content)

    started = time.perf_counter()
    await asyncio.gather(*(task(pool) for pool in pools))
    wall = time.perf_counter() - started
    for pool in pools:
        await pool.aclose()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    stack = parser.add_mutually_exclusive_group()
    stack.add_argument("--httpx", action="store_true", help="through plain httpx")
    stack.add_argument("--httpcore", action="store_true", help="through httpcore alone")
    args = parser.parse_args()
    fetch = _fetch_httpx if args.httpx else _fetch_httpcore if args.httpcore else _fetch
    wall = asyncio.run(fetch(args.base_url, args.pages, args.connections))
    print(json.dumps({"fetch_s": wall, "pages": args.pages}))


if __name__ == "__main__":
    main()
