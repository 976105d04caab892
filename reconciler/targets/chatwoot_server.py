"""What a Chatwoot server is, apart from any session with it: the capabilities of each
version, and the limits its rack-attack sets (``config/initializers/rack_attack.rb``)."""

from __future__ import annotations

import re
from dataclasses import replace

from reconciler.fields import ATTRIBUTE_OBJECTS, SCALARS
from reconciler.targets.base import Capabilities
from reconciler.targets.http.connection import is_loopback_url

SERVICE = "Chatwoot"
PAGE_SIZE = 15  # RESULTS_PER_PAGE in Chatwoot's contacts controller
KEYS_PER_FILTER = PAGE_SIZE
"""Keys one filter request looks for: their matches fit on one page, where no tie can hide
one (a page past the first is ordered arbitrarily, as the listing is)."""
CONVERSATIONS_SHOWN = 20
"""A contact's conversations Chatwoot lists, the latest first (``limit(20)``): a delete
destroys them all, however many there are past these."""
SEARCH_PER_MINUTE = 100
"""Chatwoot's rack-attack limit on /contacts/search, per account, on fixed minutes."""
RATE_WINDOW = 60.0
"""rack-attack counts requests in fixed windows of a minute: a 429 waits for the next."""
REQUESTS_PER_WINDOW = 3000
"""rack-attack's limit per client address (``config/initializers/rack_attack.rb``), which
every agent's dashboard behind that address shares; requests from loopback are exempt."""
SHARE_OF_LIMIT = 0.8
"""The part of the limit reconciler takes when ``rate_limit`` doesn't say: 40 requests a
second, steady, leaving 600 a minute to the agents behind the same address. The limit is
known, so no 429 need be provoked to find it: one locks every dashboard out until the
minute ends, and so does a burst that spends the minute's budget early."""
CAPABILITIES = Capabilities(
    service=SERVICE,
    page_size=PAGE_SIZE,
    create_fields=frozenset((*SCALARS, *ATTRIBUTE_OBJECTS)),  # one POST sets them all
    create_needs_inbox=False,
    lists_unkeyed=False,  # resolved_contacts: an email, a phone number or an identifier
    keys_per_lookup=KEYS_PER_FILTER,
    writes_labels=True,
    removes_attributes=True,  # custom_attributes only: destroy_custom_attributes
    deletes=True,  # an administrator's token
    conversations_shown=CONVERSATIONS_SHOWN,
    mutes_block=True,  # app/models/concerns/conversation_mute_helpers.rb
    webhooks="contact_updated",  # a create sends contact_created
    attribute_definitions=True,  # shown to agents only where one is defined
    session_requests=2,  # GET /api (the version) and /api/v1/profile (the token's account)
)
FEATURES: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int]], ...] = (
    # Contacts gained `blocked` in chatwoot/chatwoot#8922 (February 2024), first released
    # in 3.7.0: an older server drops it silently from every request. The contact JSON
    # shows it from 4.0.2 (chatwoot/chatwoot#10899): before, a write stores it unseen.
    ("blocked", (3, 7, 0), (4, 0, 2)),
)
"""Managed fields that older Chatwoot versions lack: the version that first writes each,
and the one that first shows it (a plan can only keep what it can read)."""
_VERSION = re.compile(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: object) -> tuple[int, int, int] | None:
    """``(4, 10, 0)`` from ``"4.10.0"``; None for anything that isn't a version."""
    match = _VERSION.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def capabilities_for(version: str | None, where: str) -> Capabilities:
    """What a Chatwoot of ``version`` (None: unknown, taken as current) can do."""
    parsed = parse_version(version)
    if parsed is None:
        return CAPABILITIES
    dotted = ".".join(map(str, parsed))

    def why(name: str, written: tuple[int, ...], shown: tuple[int, ...]) -> str:
        if parsed < written:
            return (
                f"Chatwoot {dotted} at {where} has no `{name}` on contacts (it came in "
                f"{_dotted(written)}): upgrade Chatwoot, or remove `{name}` from the files"
            )
        return (
            f"Chatwoot {dotted} at {where} stores `{name}` but never shows it on a contact "
            f"(versions {_dotted(written)} to before {_dotted(shown)}), so no plan can see "
            f"what apply wrote: upgrade Chatwoot to {_dotted(shown)} or later, or remove "
            f"`{name}` from the files"
        )

    unsupported = tuple(
        (name, why(name, written, shown)) for name, written, shown in FEATURES if parsed < shown
    )
    return replace(CAPABILITIES, unsupported=unsupported)


def default_pace(base_url: str) -> float | None:
    """Requests a second to a Chatwoot at ``base_url`` with no ``rate_limit`` set: steady,
    under its known limit (``SHARE_OF_LIMIT``); None (found out) on loopback, which
    Chatwoot's limit exempts."""
    if is_loopback_url(base_url):
        return None
    return SHARE_OF_LIMIT * REQUESTS_PER_WINDOW / RATE_WINDOW


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))
