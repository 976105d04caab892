"""Walks over a paged listing, and the orders they go in: ties in the sort key hide
contacts from a walk (PostgreSQL orders tied rows anew for each page's LIMIT and OFFSET), so
the first walk goes in the order that ties least, and each walk after in another."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.concurrency import gather_bounded
from reconciler.errors import InvalidResponseError
from reconciler.model import JSON, Contact

logger = logging.getLogger(__name__)

MAX_STALE_PAGES = 20
"""Pages in a row with no contact not seen before, after which a walk is given up."""


@dataclass(frozen=True, slots=True)
class Listing:
    """A paged request: the listing, a search or a filter; ``page`` is added to ``params``."""

    path: str
    params: Mapping[str, str]
    method: str = "GET"
    body: JSON = field(default=None)


@dataclass(frozen=True)
class Pages:
    """Reads a listing's pages through ``read`` (page 1 gives the count), ``parallel`` at
    once; ``service`` names the API in messages."""

    read: Callable[[Listing, int], Awaitable[tuple[list[Contact], int]]]
    page_size: int
    parallel: int
    service: str

    async def collect(
        self,
        listing: Listing,
        first_page: tuple[list[Contact], int] | None = None,
        *,
        walks: int = 1,
        keep: Callable[[Contact], Contact] | None = None,
    ) -> tuple[list[Contact], int]:
        """Page 1 for the total, the other pages at once, each contact once (by id); and
        the total the server counted.

        The server orders ties in the sort key arbitrarily for each page request, so one
        walk may repeat some contacts and miss others: up to ``walks`` walks are made
        while fewer contacts than the total have been seen, where the listing is sorted
        the first in the order that ties least on page 1, each after in another
        (``walk_orders``). ``keep`` makes what is kept of each contact as it arrives.
        """
        first, count = first_page or await self.read(listing, 1)
        by_id: dict[int, Contact] = {
            contact["id"]: contact if keep is None else keep(contact) for contact in first
        }
        sort = listing.params.get("sort")
        orders = walk_orders(sort, first) if sort is not None else []
        for walk in range(walks):
            if not first or len(by_id) >= count:
                break
            order = orders[walk] if walk < len(orders) else sort
            walked = listing
            if order != sort:
                walked = Listing(listing.path, {**listing.params, "sort": str(order)})
            start = 2 if walk == 0 and order == sort else 1  # its page 1 is ``first``
            await self._walk(walked, by_id, count, start=start, keep=keep)
        if len(by_id) < count:
            logger.info(
                "%s counted %d contacts but listed %d (ties in its order, or changes meanwhile)",
                self.service,
                count,
                len(by_id),
            )
        return list(by_id.values()), count

    async def _walk(
        self,
        listing: Listing,
        by_id: dict[int, Contact],
        count: int,
        *,
        start: int,
        keep: Callable[[Contact], Contact] | None = None,
    ) -> None:
        """Read pages from ``start`` into ``by_id``, a few at a time, up to the first empty one.

        Bounded by what the listing returns, not only by what it says: the pages a
        ``count`` promises are read lazily (a count of 1e9 makes no billion tasks), the
        walk ends at the first empty page, reads on past the count while contacts created
        meanwhile keep coming, and fails when pages keep repeating what was seen. A walk
        after the first (``start`` 1) mostly repeats what the first saw: there, only pages
        past the count may not.
        """
        counted = end = -(-count // self.page_size)  # as the count says
        again = start == 1
        stale = 0

        async def read(page: int) -> None:
            nonlocal end, stale
            contacts, _ = await self.read(listing, page)
            if not contacts:
                end = min(end, page - 1)
                return
            before = len(by_id)
            for contact in contacts:
                if contact["id"] not in by_id:
                    by_id[contact["id"]] = contact if keep is None else keep(contact)
            if not (again and page <= counted):
                stale = 0 if len(by_id) > before else stale + 1
            if stale > MAX_STALE_PAGES:
                raise InvalidResponseError(
                    f"{self.service}'s answer to {listing.method} {listing.path} repeats itself: "
                    f"{MAX_STALE_PAGES} pages in a row held no contact not seen already"
                )
            if page >= end and len(by_id) < count:
                end = page + 1  # created meanwhile: others moved to later pages

        def pages() -> Iterator[int]:
            page = start
            while page <= end:
                yield page
                page += 1

        await gather_bounded((read(page) for page in pages()), limit=self.parallel)


WALK_ORDERS = (
    "email",
    "-email",
    "phone_number",
    "-phone_number",
    "name",
    "-name",
    "-created_at",
    "last_activity_at",
    "-last_activity_at",
    "company",
    "-company",
)
"""The orders a listing is walked again in, after those of ``FEW_TIES``, while ties hide
contacts: PostgreSQL orders tied rows by each page's LIMIT and OFFSET, so walking the same
order again can show the same gaps, where another order (descending puts the nulls first)
shows what the first hid."""


FEW_TIES = ("created_at", "email", "phone_number")
"""The sort keys that tie least: ``created_at`` is kept to the microsecond (an import gives
a whole batch one), email and phone number are unique where present (their nulls tie)."""


def walk_orders(sort: str, sample: Sequence[Contact]) -> list[str]:
    """The orders to walk a listing sorted by ``sort`` in, one a walk: first the one of
    ``FEW_TIES`` whose key ties least in ``sample`` (the listing's first page), ``sort`` on
    equal terms; then the others by their ties, then ``WALK_ORDERS``."""
    own = sort.lstrip("-")
    few = sorted(FEW_TIES, key=lambda key: (_ties(sample, key), key != own))
    orders = [sort if few[0] == own else few[0], *few[1:], *WALK_ORDERS]
    return list(dict.fromkeys(orders))


def _ties(sample: Sequence[Contact], key: str) -> int:
    """How many of ``sample`` share their ``key`` with another (its blanks all tie)."""
    values = [contact.get(key) for contact in sample]
    present = {str(value) for value in values if value not in (None, "")}
    blanks = len(values) - sum(1 for value in values if value not in (None, ""))
    return len(values) - len(present) - (1 if blanks else 0)
