"""The leaves at which two nested attribute values differ, found by DeepDiff.

Plan finds a change one level deep itself; it imports this module (and with it DeepDiff,
which loads numpy and pydantic) only for a difference that may lie deeper down.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from deepdiff import DeepDiff

from reconciler.engine.plan import attribute_change
from reconciler.model import ABSENT, JSON, FieldChange


def deep_leaf_changes(
    prefix: tuple[str, ...], before: dict[str, JSON], after: dict[str, JSON]
) -> list[FieldChange]:
    """One FieldChange per leaf of ``after`` that differs, in key order; a list is one leaf."""
    # DeepDiff skips keys that start with "__" unless told not to: attribute keys may.
    difference = DeepDiff(
        before, after, view="tree", threshold_to_diff_deeper=0, ignore_private_variables=False
    )
    changed: set[tuple[str, ...]] = set()
    for levels in difference.values():
        for level in levels:
            parts: list[str] = []
            for part in level.path(output_format="list"):
                if not isinstance(part, str):  # a list index: lists are compared whole
                    break
                parts.append(part)
            changed.add(tuple(parts))
    ordered = [parts for parts in _node_paths(after) if parts in changed]
    if not ordered:  # the values differ (strict_equal): never let a diff tool hide that
        return [attribute_change(prefix, before, after)]
    return [
        attribute_change((*prefix, *parts), _value_at(before, parts), _value_at(after, parts))
        for parts in ordered
    ]


def _node_paths(value: JSON, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of nested dicts, depth first in key order: the stable field order."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _node_paths(child, (*prefix, key))


def _value_at(value: JSON, parts: Sequence[str]) -> JSON:
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return ABSENT
        value = value[part]
    return value
