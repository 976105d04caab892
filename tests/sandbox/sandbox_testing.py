"""Helpers for the sandbox's tests: an API client on a transport, and a create shortcut."""

from __future__ import annotations

from typing import Any

import httpx

BASE_URL = "http://127.0.0.1"
PATH = "/api/v2/accounts/contacts"
AUTH = ("sandbox", "sandbox")


def api_client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """A client of the in-process sandbox, with its credentials."""
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, auth=AUTH)


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a contact in inbox 1 through the API; the contact object it answers."""
    response = await client.post(PATH, json={"inbox_id": 1, **fields})
    assert response.status_code == 200, response.text
    contact: dict[str, Any] = response.json()["payload"]["contact"]
    return contact


async def patch(client: httpx.AsyncClient, contact_id: int, body: Any) -> httpx.Response:
    return await client.patch(f"{PATH}/{contact_id}", json=body)


async def fetch(client: httpx.AsyncClient, contact_id: int) -> dict[str, Any]:
    response = await client.get(f"{PATH}/{contact_id}")
    assert response.status_code == 200, response.text
    contact: dict[str, Any] = response.json()["payload"]
    return contact
