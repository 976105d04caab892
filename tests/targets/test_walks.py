"""The orders a listing is walked in, from its first page."""

from __future__ import annotations

from reconciler.model import Contact
from reconciler.targets.walks import WALK_ORDERS, walk_orders


def page(**columns: list[object]) -> list[Contact]:
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def test_a_page_with_no_ties_keeps_the_listings_own_order() -> None:
    sample = page(created_at=[1, 2, 3], email=["a@x", "b@x", None], phone_number=[None] * 3)
    assert walk_orders("created_at", sample)[:3] == ["created_at", "email", "phone_number"]


def test_an_import_is_walked_first_by_the_key_that_ties_least() -> None:
    sample = page(created_at=[7] * 4, email=["a@x", "b@x", "c@x", None], phone_number=["+1"] * 4)
    assert walk_orders("created_at", sample)[:3] == ["email", "created_at", "phone_number"]
    phones = page(created_at=[7] * 3, email=[None] * 3, phone_number=["+1", "+2", "+3"])
    assert walk_orders("created_at", phones)[0] == "phone_number"


def test_every_order_is_walked_once_and_the_descending_ones_after() -> None:
    orders = walk_orders("created_at", page(created_at=[1] * 2, email=[None] * 2))
    assert len(orders) == len(set(orders)) == len({"created_at", *WALK_ORDERS})
    assert orders[:3] == ["created_at", "email", "phone_number"]  # all tie: its own first
