"""Helpers for the reliability tests.

``workload`` seeds a store with contacts and returns the declarations that change most of
them and create others; ``assert_converged`` checks the store against them, field by field,
and that no contact was created twice (the fault and crash tests). ``client_options`` gives
the CLI's client a shorter timeout or quicker retries than the defaults.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.sandbox.store import Store
from reconciler.targets.chatwoot import ChatwootClient
from reconciler.targets.livedesk import LiveDeskClient, RetryPolicy

SCALARS = ("name", "email", "phone_number", "identifier", "blocked")
ATTRIBUTE_OBJECTS = ("additional_attributes", "custom_attributes")
NEW_CONTACT: dict[str, Any] = {
    "name": "",
    "email": None,
    "phone_number": None,
    "identifier": None,
    "blocked": False,
    "additional_attributes": {},
    "custom_attributes": {},
}
"""What a contact is before a create sets anything."""


@dataclass(frozen=True)
class Workload:
    declared: list[dict[str, Any]]  # the contact file's items
    seeded: dict[int, dict[str, Any]]  # id -> the record as seeded
    targets: list[int | None]  # per declared item: the seeded id it changes, None: a create
    changes: int  # how many declared items plan should create or update


def _existing(n: int) -> dict[str, Any]:
    return {
        "identifier": f"c-{n:04d}",
        "email": f"person{n}@example.com",
        "name": f"Person {n}",
        "phone_number": f"+1415555{n:04d}",
        "additional_attributes": {
            "city": "Lisbon",
            "company_name": f"Company {n}",
            "social_profiles": {"twitter": f"tw{n}", "github": f"gh{n}"},
        },
        "custom_attributes": {"tier": "bronze", "legacy_id": n, "keep": True, "score": 1.0},
    }


def _update(n: int, contact_id: int, variant: int) -> dict[str, Any]:
    """A declaration that changes existing contact ``n``; found by id, identifier or email."""
    if variant == 0:
        return {"id": contact_id, "name": f"Renamed {n}", "custom_attributes": {"tier": "gold"}}
    if variant == 1:
        return {
            "identifier": f"c-{n:04d}",
            "blocked": True,
            "additional_attributes": {"social_profiles": {"github": f"new-gh{n}"}},
        }
    if variant == 2:
        return {
            "email": f"Person{n}@Example.COM",
            "phone_number": f"+4930555{n:04d}",
            "custom_attributes": {"score": 1, "flag": True, "nested": {"a": [1, "1", 1.0]}},
        }
    if variant == 3:
        return {
            "id": contact_id,
            "email": f"moved{n}@example.org",
            "additional_attributes": {"city": "Porto", "country_code": "PT"},
        }
    return {
        "identifier": f"c-{n:04d}",
        "name": None,
        "custom_attributes": {"keep": "true", "legacy_id": None},
    }


def _create(m: int) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "email": f"New{m}@Example.com",
        "name": f"New {m}",
        "phone_number": f"+4420555{m:04d}",
        "blocked": m % 2 == 0,
        "additional_attributes": {"city": "Oslo", "social_profiles": {"linkedin": f"li{m}"}},
        "custom_attributes": {"seats": m, "vip": m % 3 == 0},
    }
    if m % 3:  # the rest are found by email alone
        contact["identifier"] = f"new-{m:04d}"
    if m % 5 == 0:  # POST alone makes these: nothing left for a PATCH
        del contact["blocked"], contact["additional_attributes"], contact["custom_attributes"]
    return contact


def workload(store: Store, *, updates: int, creates: int, unchanged: int, seed: int) -> Workload:
    """Seed ``updates + unchanged`` contacts (and a few undeclared); declare the changes."""
    rng = random.Random(seed)
    seeded: dict[int, dict[str, Any]] = {}
    declared: list[dict[str, Any]] = []
    targets: list[int | None] = []
    undeclared = 10
    for n in range(updates + unchanged + undeclared):
        record = store.insert(_existing(n))
        seeded[int(record["id"])] = copy.deepcopy(record)
        if n < updates:
            item = _update(n, int(record["id"]), rng.randrange(5))
        elif n < updates + unchanged:
            item = {"identifier": f"c-{n:04d}", "name": f"Person {n}"}
        else:
            continue
        declared.append(item)
        targets.append(int(record["id"]))
    for m in range(creates):
        declared.append(_create(m))
        targets.append(None)
    order = list(range(len(declared)))
    rng.shuffle(order)
    return Workload(
        declared=[declared[i] for i in order],
        seeded=seeded,
        targets=[targets[i] for i in order],
        changes=updates + creates,
    )


def merged(live: Any, declared: Any) -> Any:
    """The declared value laid over the live one, nested objects key by key."""
    if not isinstance(declared, dict):
        return declared
    result = dict(live) if isinstance(live, dict) else {}
    for key, value in declared.items():
        result[key] = merged(result.get(key), value)
    return result


def expected(before: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    """The managed fields of a contact once ``item`` has been applied to ``before``."""
    result = {name: copy.deepcopy(before[name]) for name in (*SCALARS, *ATTRIBUTE_OBJECTS)}
    for name in SCALARS:
        if name in item:
            value = item[name]
            result[name] = value.lower() if name == "email" and value else value
    for name in ATTRIBUTE_OBJECTS:
        for key, value in item.get(name, {}).items():
            result[name][key] = merged(result[name].get(key), value)
    return result


def as_json(value: Any) -> str:
    """Canonical JSON text: equal only when the values are equal with their JSON types."""
    return json.dumps(value, sort_keys=True)


MARKER = "managed_by_reconciler"  # the default ownership marker's key


def managed(record: Mapping[str, Any]) -> dict[str, Any]:
    """The managed fields as the files can declare them: without the ownership marker."""
    fields = {name: copy.deepcopy(record[name]) for name in (*SCALARS, *ATTRIBUTE_OBJECTS)}
    fields["custom_attributes"].pop(MARKER, None)
    return fields


def _created_match(records: Sequence[Mapping[str, Any]], item: Mapping[str, Any]) -> list[Any]:
    if item.get("identifier"):
        return [r for r in records if r["identifier"] == item["identifier"]]
    return [r for r in records if r["email"] == str(item["email"]).lower()]


def assert_converged(store: Store, work: Workload) -> None:
    """Every contact as declared, every undeclared one untouched, nothing created twice."""
    records = store.all()
    creates = sum(1 for target in work.targets if target is None)
    assert len(records) == len(work.seeded) + creates, "a contact was created twice, or lost"
    for field in ("identifier", "email", "phone_number"):
        values = Counter(r[field] for r in records if r[field])
        assert [v for v, count in values.items() if count > 1] == [], f"duplicate {field}"
    by_id = {int(r["id"]): r for r in records}
    touched: set[int] = set()
    for item, target in zip(work.declared, work.targets, strict=True):
        if target is None:
            matches = _created_match(records, item)
            assert len(matches) == 1, (item, matches)
            record = matches[0]
            assert int(record["id"]) not in work.seeded
            want = expected(NEW_CONTACT, item)
        else:
            record = by_id[target]
            want = expected(work.seeded[target], item)
        touched.add(int(record["id"]))
        assert MARKER in record["custom_attributes"], "a contact apply wrote is not marked"
        assert managed(record) == want, (item, record)
        # Python's == has True == 1 == 1.0: compare the JSON text too, for the types.
        assert as_json(managed(record)) == as_json(want), (item, record)
    for contact_id, before in work.seeded.items():
        if contact_id not in touched:
            assert by_id[contact_id] == before, "an undeclared contact was changed"


QUICK_RETRIES = RetryPolicy(
    attempts=8, timeout=60.0, wait_initial=0.02, wait_max=0.5, wait_jitter=0.02
)
"""The default number of attempts, with waits short enough for a test."""


def client_options(monkeypatch: pytest.MonkeyPatch, **options: Any) -> None:
    """Give the CLI's client, of either target, these constructor options (retry, timeout).

    The settings file has no retry knob; the client is the real one, only built with
    these arguments in place of what the target (LiveDesk or Chatwoot) passes.
    """

    def livedesk(*args: Any, **kwargs: Any) -> LiveDeskClient:
        return LiveDeskClient(*args, **{**kwargs, **options})

    def chatwoot(*args: Any, **kwargs: Any) -> ChatwootClient:
        return ChatwootClient(*args, **{**kwargs, **options})

    monkeypatch.setattr("reconciler.targets.livedesk.LiveDeskClient", livedesk)
    monkeypatch.setattr("reconciler.targets.chatwoot.ChatwootClient", chatwoot)
