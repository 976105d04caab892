"""The client's contract with a real Chatwoot: ``pytest -m live``, credentials set.

Skipped unless selected with ``-m live`` and CHATWOOT_BASE_URL, CHATWOOT_API_TOKEN and
CHATWOOT_ACCOUNT_ID are in the environment, and always in CI. Only the contact whose
identifier is ``reconciler-live-test-1`` is ever written (created on the first run, reused
after); a test account is best.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from reconciler.errors import NotFoundError
from reconciler.model import Contact, ContactKey
from reconciler.targets.chatwoot import ChatwootClient, Token

IDENTIFIER = "reconciler-live-test-1"
REQUIRED = ("CHATWOOT_BASE_URL", "CHATWOOT_API_TOKEN", "CHATWOOT_ACCOUNT_ID")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        bool(os.environ.get("CI")) or not all(os.environ.get(name) for name in REQUIRED),
        reason=f"needs {', '.join(REQUIRED)}, and never runs in CI",
    ),
]


def client() -> ChatwootClient:
    return ChatwootClient(
        os.environ["CHATWOOT_BASE_URL"],
        Token.from_env(),
        int(os.environ["CHATWOOT_ACCOUNT_ID"]),
        concurrency=2,
        rate_limit=2,
    )


async def the_test_contact(api: ChatwootClient) -> Contact:
    """The account's test contact, created (one POST, no inbox) on the first run."""
    found = await api.find_contacts(identifier=IDENTIFIER)
    if not found:
        await api.create_contact({"identifier": IDENTIFIER, "name": "Live test"})
        found = await api.find_contacts(identifier=IDENTIFIER)
    (contact,) = found
    return contact


def test_opening_reads_the_version_and_a_filter_lookup_proves_presence_and_absence() -> None:
    async def scenario() -> None:
        async with client() as api:
            assert api.version is not None  # GET /api answered
            contact = await the_test_contact(api)
            present, absent = await api.lookup(
                [
                    ContactKey("identifier", IDENTIFIER),
                    ContactKey("identifier", f"{IDENTIFIER}-never-created-{time.time_ns()}"),
                ]
            )
            assert present is not None and present["id"] == contact["id"]
            assert absent is None

    asyncio.run(scenario())


def test_a_write_reads_back_and_a_nested_object_is_replaced_whole() -> None:
    async def scenario() -> None:
        async with client() as api:
            contact = await the_test_contact(api)
            stamp = str(int(time.time()))
            written = await api.update_contact(
                contact["id"], {"custom_attributes": {"reconciler_run": stamp}}
            )
            assert written["custom_attributes"]["reconciler_run"] == stamp
            await api.update_contact(
                contact["id"],
                {"additional_attributes": {"social_profiles": {"github": "a", "twitter": "b"}}},
            )
            written = await api.update_contact(
                contact["id"], {"additional_attributes": {"social_profiles": {"github": "x"}}}
            )
            assert written["additional_attributes"]["social_profiles"] == {"github": "x"}

    asyncio.run(scenario())


def test_an_unknown_id_is_404_and_a_listing_page_has_the_contract_shape() -> None:
    async def scenario() -> None:
        async with client() as api:
            with pytest.raises(NotFoundError):
                await api.get_contact(2**31 - 7)
            contacts, count = await api.list_page(1)
            assert len(contacts) <= api.capabilities.page_size
            assert count >= len(contacts)

    asyncio.run(scenario())
