"""Exact lookups of contacts by the values that find them: a GET per id, the others in
batches as many a request as the target allows (``Capabilities.keys_per_lookup``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from reconciler.concurrency import gather_bounded
from reconciler.errors import NotFoundError
from reconciler.model import Contact, ContactKey
from reconciler.targets.base import ContactsApi

ProgressCallback = Callable[[int], None]
"""Called with the number of declared contacts just resolved."""


async def fetch_exactly(
    client: ContactsApi, keys: Iterable[ContactKey], advance: ProgressCallback
) -> dict[ContactKey, Contact | None]:
    """Each key's contact by exact lookups: a GET per id, the others in batches."""
    unique = list(dict.fromkeys(keys))
    ids = [key for key in unique if key.field == "id"]
    others = [key for key in unique if key.field != "id"]
    size = max(client.capabilities.keys_per_lookup, 1)
    batches = [[key] for key in ids] + [
        others[start : start + size] for start in range(0, len(others), size)
    ]

    async def read(batch: list[ContactKey]) -> list[Contact | None]:
        if batch[0].field == "id":
            contacts = [await read_contact(client, batch[0])]
        else:
            contacts = await client.lookup(batch)
        advance(len(batch))
        return contacts

    results = await gather_bounded((read(batch) for batch in batches), limit=client.concurrency * 2)
    return {
        key: contact
        for batch, contacts in zip(batches, results, strict=True)
        for key, contact in zip(batch, contacts, strict=True)
    }


def lookup_requests(keys: Iterable[ContactKey], keys_per_lookup: int) -> int:
    """Requests the exact lookups of ``keys`` take: one an id, the others in batches."""
    unique = set(keys)
    by_id = sum(1 for key in unique if key.field == "id")
    return by_id + math.ceil((len(unique) - by_id) / max(keys_per_lookup, 1))


async def read_contact(client: ContactsApi, key: ContactKey) -> Contact | None:
    """The one live contact ``key`` finds (GET by id, else exact search), None if none."""
    if key.field == "id":
        try:
            return await client.get_contact(int(key.value))
        except NotFoundError:
            return None
    (contact,) = await client.lookup([key])
    return contact
