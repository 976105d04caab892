"""The sandbox stores values as the real server does, and fails where it fails.

Each of these is a trap a declared value can fall into: a value the server normalises
never converges, and one it can't store must not poison later reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sandbox_testing import PATH, api_client, create, fetch, patch

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(asgi_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(asgi_transport) as client:
        yield client


async def test_values_come_back_as_the_server_stores_them(client: httpx.AsyncClient) -> None:
    contact = await create(client, identifier="n-1")
    raw = (
        b'{"custom_attributes": {"tags": ["a", null, ["b", null]], "big": 2.5e16,'
        b' "negative_zero": -0.0, "huge": 1e400, "small": 2.5e15, "int": 3}}'
    )
    response = await client.patch(
        f"{PATH}/{contact['id']}", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    stored = (await fetch(client, contact["id"]))["custom_attributes"]
    assert stored == {
        "tags": ["a", ["b"]],  # nulls dropped from lists, at any depth
        "big": 25000000000000000,  # a float of 1e16 or more comes back an integer
        "negative_zero": 0.0,
        "huge": None,  # not a finite number: stored as null
        "small": 2.5e15,
        "int": 3,
    }
    assert type(stored["big"]) is int
    assert str(stored["negative_zero"]) == "0.0"
    assert (await client.get(PATH)).status_code == 200  # the listing holding it still reads


async def test_a_nul_character_fails_the_write_and_poisons_nothing(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(client, identifier="n-2", name="Before")
    response = await patch(client, contact["id"], {"name": "a\x00b"})
    assert response.status_code == 500
    assert response.json() == {"status": 500, "error": "Internal Server Error"}
    assert (await fetch(client, contact["id"]))["name"] == "Before"
    assert (await client.get(PATH)).status_code == 200


async def test_nesting_over_100_levels_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(client, identifier="n-3")
    deep: object = "end"
    for _ in range(99):  # the body, custom_attributes, then 99 more: 101 levels
        deep = [deep]
    response = await patch(client, contact["id"], {"custom_attributes": {"x": deep}})
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]
    assert (await fetch(client, contact["id"]))["custom_attributes"] == {}
    deep = [[[1]]]
    assert (await patch(client, contact["id"], {"custom_attributes": {"x": deep}})).is_success
    very_deep = b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await client.patch(
        f"{PATH}/{contact['id']}", content=very_deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_a_city_over_255_is_accepted_once_then_every_save_fails(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(client, identifier="n-4")
    long_city = {"additional_attributes": {"city": "x" * 256}}
    assert (await patch(client, contact["id"], long_city)).status_code == 200
    for fix in ({"additional_attributes": {"city": "Oslo"}}, {"name": "Anything"}):
        response = await patch(client, contact["id"], fix)
        assert response.status_code == 422
        assert response.json()["message"] == "Location is too long (maximum is 255 characters)"
    assert (await fetch(client, contact["id"]))["additional_attributes"]["city"] == "x" * 256
