"""The client's contract with a real LiveDesk account: ``pytest -m live``, credentials set.

Skipped unless selected with ``-m live`` and LIVEDESK_API_KEY and LIVEDESK_API_SECRET are
in the environment (LIVEDESK_BASE_URL picks the data centre; LIVEDESK_TEST_INBOX_ID the
inbox a first run creates its contact in), and always in CI. Only contacts whose identifier
starts with ``reconciler-live-test-`` are ever written: LiveDesk has no delete, so every
run reuses the same one instead of leaving new ones behind.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from reconciler.errors import NotFoundError
from reconciler.model import Contact
from reconciler.targets.livedesk import Credentials, LiveDeskClient, base_url_from_env

IDENTIFIER = "reconciler-live-test-1"
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        bool(os.environ.get("CI"))
        or not (os.environ.get("LIVEDESK_API_KEY") and os.environ.get("LIVEDESK_API_SECRET")),
        reason="needs LIVEDESK_API_KEY and LIVEDESK_API_SECRET, and never runs in CI",
    ),
]


def client() -> LiveDeskClient:
    return LiveDeskClient(base_url_from_env(), Credentials.from_env(), concurrency=2, rate_limit=2)


async def the_test_contact(api: LiveDeskClient) -> Contact:
    """The account's test contact, created on the first run; found by an exact lookup."""
    found = await api.find_contacts(identifier=IDENTIFIER)
    if not found:
        inbox = int(os.environ.get("LIVEDESK_TEST_INBOX_ID", "1"))
        await api.create_contact({"inbox_id": inbox, "identifier": IDENTIFIER})
        found = await api.find_contacts(identifier=IDENTIFIER)
    (contact,) = found
    return contact


def test_an_exact_lookup_finds_one_contact_and_a_write_reads_back() -> None:
    async def scenario() -> None:
        async with client() as api:
            contact = await the_test_contact(api)
            assert contact["identifier"] == IDENTIFIER
            stamp = str(int(time.time()))
            written = await api.update_contact(
                contact["id"],
                {"name": f"Live test {stamp}", "custom_attributes": {"reconciler_run": stamp}},
            )
            assert written["name"] == f"Live test {stamp}"
            read = await api.get_contact(contact["id"])
            assert read["custom_attributes"]["reconciler_run"] == stamp
            assert list(read)[:4] == ["additional_attributes", "availability_status", "email", "id"]

    asyncio.run(scenario())


def test_a_nested_object_is_replaced_whole_and_other_keys_are_merged() -> None:
    async def scenario() -> None:
        async with client() as api:
            contact = await the_test_contact(api)
            profiles = {"github": "reconciler-live", "twitter": "reconciler_live"}
            await api.update_contact(
                contact["id"], {"additional_attributes": {"social_profiles": profiles}}
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
