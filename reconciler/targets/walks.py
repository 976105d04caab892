"""The orders a listing is walked in: ties in the sort key hide contacts from a walk
(PostgreSQL orders tied rows anew for each page's LIMIT and OFFSET), so the first walk goes
in the order that ties least, and each walk after in another."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import Contact

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
