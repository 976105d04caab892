"""young_collections_only: cycles are still freed, what is kept is not rescanned."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.runtime import young_collections_only


class Node:
    other: Node | None = None


@pytest.fixture
def generations_collected() -> Iterator[list[int]]:
    collected: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collected.append(info["generation"])

    gc.callbacks.append(record)
    yield collected
    gc.callbacks.remove(record)


def test_cycles_are_freed_and_only_young_objects_scanned(
    generations_collected: list[int],
) -> None:
    thresholds = gc.get_threshold()
    with young_collections_only():
        cycle = Node()
        cycle.other = cycle
        freed = weakref.ref(cycle)
        del cycle
        kept = [[n] for n in range(300_000)]  # enough allocations for many collections
        assert freed() is None  # a young collection freed the cycle
        assert generations_collected and set(generations_collected) == {0}
    assert gc.get_threshold() == thresholds
    assert len(kept) == 300_000


def test_nothing_changes_when_the_collector_is_off(generations_collected: list[int]) -> None:
    gc.disable()
    try:
        with young_collections_only():
            kept = [[n] for n in range(100_000)]
        assert not generations_collected and not gc.isenabled()
    finally:
        gc.enable()
    assert len(kept) == 100_000
