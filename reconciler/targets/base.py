"""The seam between the engine and a help desk's API: what a target is and what it can do.

The engine talks to a target only through these: a ``Target`` (where, as whom, and what it
can do) that opens ``ContactsApi`` sessions. It asks ``Capabilities`` instead of assuming
one API's rules. Nothing here imports the HTTP stack.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from reconciler.changes import TargetIdentity
from reconciler.definitions import AttributeDefinition
from reconciler.model import JSON, Contact, ContactKey

__all__ = [
    "Capabilities",
    "ContactsApi",
    "Target",
    "TargetIdentity",
    "account_fingerprint",
    "marker_secret",
    "plan_secret",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one API can do, for the engine to plan and fetch by."""

    service: str  # the API's name, for messages: "LiveDesk"
    page_size: int  # contacts a listing page holds, fixed by the server
    create_fields: frozenset[str]  # the managed fields one create request can set
    create_needs_inbox: bool  # a create must name an inbox_id
    lists_unkeyed: bool  # the listing returns contacts with no email, phone or identifier
    search_adds: frozenset[str] = frozenset()  # additional_attributes keys search results add
    keys_per_lookup: int = 1  # contacts one exact-lookup request can look for
    writes_labels: bool = False  # reads and replaces a contact's labels
    removes_attributes: bool = False  # deletes custom_attributes keys (else null is all)
    deletes: bool = False  # deletes a contact
    conversations_shown: int = 0  # a contact's conversations it lists, at most; 0: none
    mutes_block: bool = False  # muting a conversation blocks its contact: unblocking unmutes
    webhooks: str = ""  # the event each contact write sends the desk's webhooks; "": none
    attribute_definitions: bool = False  # has contact attribute definitions (read, written)
    session_requests: int = 0  # what opening a session sends before any contact
    unsupported: tuple[tuple[str, str], ...] = ()  # (field, why) this server can't keep

    def why_unsupported(self, field: str) -> str | None:
        """Why the server can't keep ``field``, or None when it can."""
        return next((why for name, why in self.unsupported if name == field), None)


def marker_secret(kind: str, credential: str) -> bytes:
    """The key that signs ownership markers, derived one way from the credential: whoever
    holds the credential (the plan and apply jobs) can sign and verify, no one else can,
    and the credential can't be had back from it. A new credential makes every marker
    unverified until apply writes it again (nothing is removable meanwhile)."""
    material = "\0".join(("reconciler-marker", kind, credential))
    return hashlib.sha256(material.encode()).digest()


def plan_secret(kind: str, credential: str) -> bytes:
    """The key that signs saved plans, derived one way from the credential as the marker's
    is (under another label): the plan job signs, the apply job (with the same credential)
    verifies, and whoever can only edit the file can't sign an edit."""
    material = "\0".join(("reconciler-plan", kind, credential))
    return hashlib.sha256(material.encode()).digest()


def account_fingerprint(kind: str, endpoint: str, account_key: str) -> str:
    """A short digest that tells two accounts apart and reveals nothing of ``account_key``."""
    material = "\0".join(("reconciler-account", kind, endpoint, account_key))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


class ContactsApi(Protocol):
    """One session with a contacts API (``async with``); every method may raise ApiError."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def concurrency(self) -> int:
        """Requests it sends at once."""
        ...

    @property
    def marker_secret(self) -> bytes:
        """The key that signs and verifies ownership markers (``marker_secret``)."""
        ...

    @property
    def request_count(self) -> int:
        """Requests sent so far."""
        ...

    @property
    def rate(self) -> float | None:
        """Requests a second it sends at most (the limit set, or one a 429 found); None:
        no limit."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def stop_at(self, when: float) -> None:
        """Past ``when`` (``time.monotonic``), start no request, first or retry: those under
        way get their own timeout at most (the run's deadline)."""
        ...

    def expect(self, requests: int) -> None:
        """About ``requests`` follow (an apply's): while the server's rate limit is unknown,
        few enough go at once that meeting it costs a small share of them."""
        ...

    async def get_contact(self, contact_id: int) -> Contact:
        """The contact with this id; NotFoundError when there is none."""
        ...

    async def find_contacts(
        self,
        *,
        identifier: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
    ) -> list[Contact]:
        """Contacts equal to every given value (email case-insensitive, the others exact):
        an exact lookup, that proves absence."""
        ...

    async def lookup(self, keys: Sequence[ContactKey]) -> list[Contact | None]:
        """For each identifier, email or phone key, the one contact equal to it, or None:
        exact lookups (in as few requests as the API allows) that prove absence."""
        ...

    async def list_page(self, page: int) -> tuple[list[Contact], int]:
        """One page of the listing, and the total the server counts."""
        ...

    async def list_contacts(
        self,
        *,
        first_page: tuple[list[Contact], int] | None = None,
        include_contact_inboxes: bool = False,
        walks: int = 1,
        keep: Callable[[Contact], Contact] | None = None,
        label: str | None = None,
    ) -> list[Contact]:
        """Every listed contact seen once; ``first_page`` is ``list_page(1)`` if already read;
        ``keep`` makes what is kept of each as it arrives; ``label``: only those with it.

        A listing can prove that a contact exists, never that it doesn't: ties in the
        server's order hide some contacts from a walk. Up to ``walks`` walks are made.
        """
        ...

    async def list_counted(
        self,
        *,
        first_page: tuple[list[Contact], int] | None = None,
        include_contact_inboxes: bool = False,
        walks: int = 1,
        keep: Callable[[Contact], Contact] | None = None,
        label: str | None = None,
    ) -> tuple[list[Contact], int]:
        """``list_contacts``, and how many contacts the server counted: fewer seen means
        ties hid some from every walk. Each walk after the first is in another order."""
        ...

    async def search_contacts(
        self, query: str, *, include_contact_inboxes: bool = False, walks: int = 1
    ) -> list[Contact]:
        """The server's own matches for a search text (the same caveat as the listing)."""
        ...

    async def get_labels(self, contact_id: int) -> list[str]:
        """The contact's labels (``writes_labels`` only)."""
        ...

    async def set_labels(self, contact_id: int, labels: Sequence[str]) -> list[str]:
        """Replace the contact's labels with ``labels``; the labels as stored."""
        ...

    async def remove_attributes(self, contact_id: int, keys: Sequence[str]) -> Contact:
        """Delete these custom_attributes keys (``removes_attributes`` only)."""
        ...

    async def count_conversations(self, contact_id: int) -> int:
        """How many conversations the contact has, up to ``conversations_shown``
        (``conversations_shown`` only): what a delete would destroy with it."""
        ...

    async def delete_contact(self, contact_id: int) -> None:
        """Delete the contact (``deletes`` only); NotFoundError when it is gone already."""
        ...

    async def create_contact(self, body: Mapping[str, JSON]) -> Contact:
        """Create a contact, never twice for one call; the contact as stored."""
        ...

    async def update_contact(self, contact_id: int, body: Mapping[str, JSON]) -> Contact:
        """Change the fields the body holds; the contact as stored."""
        ...

    # Contact attribute definitions (``attribute_definitions`` only): a second kind.

    async def list_definitions(self) -> list[AttributeDefinition]:
        """The account's contact attribute definitions."""
        ...

    async def create_definition(self, definition: AttributeDefinition) -> AttributeDefinition:
        """Create one; as stored (with its id)."""
        ...

    async def update_definition(
        self, definition_id: int, definition: AttributeDefinition
    ) -> AttributeDefinition:
        """Replace one's display name, type, description, choices and pattern; as stored."""
        ...

    async def delete_definition(self, definition_id: int) -> None:
        """Delete one (the contacts keep their values)."""
        ...


class Target(Protocol):
    """A help desk to reconcile against: its identity, capabilities, and sessions."""

    @property
    def identity(self) -> TargetIdentity: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def cleartext(self) -> bool:
        """Whether requests leave this machine unencrypted (plain http, opted into)."""
        ...

    @property
    def plan_secret(self) -> bytes:
        """The key that signs and verifies saved plans (``plan_secret``)."""
        ...

    def client(self) -> ContactsApi:
        """A new session; open one per event loop."""
        ...
