from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from itertools import permutations
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import reconciler.engine.plan as plan_module
from reconciler.changes import Action, FieldChange, Operation, OperationKind, Plan
from reconciler.engine.diff import (
    _deep_leaves,
    _value_at,
    attribute_change,
    leaf_changes,
    live_value,
    merged,
    strict_equal,
    values_match,
)
from reconciler.engine.plan import make_plan
from reconciler.engine.projection import projection
from reconciler.errors import PlanError
from reconciler.fields import ATTRIBUTE_OBJECTS
from reconciler.fields import SCALARS as SCALAR_FIELDS
from reconciler.input.settings import IgnoreRule, Settings
from reconciler.model import (
    ABSENT,
    JSON,
    ContactKey,
    Declaration,
    DeclaredContact,
    LiveState,
    Position,
    SourceFile,
)
from reconciler.targets.livedesk import CAPABILITIES

NOW = "2024-05-01T12:00:00Z"


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "target": "livedesk",
        "base_url": None,
        "concurrency": 8,
        "timeout": 30.0,
        "rate_limit": None,
        "max_changes": "25%",
        "sensitive": (),
        "ignore": (),
        # The field rules alone: the ownership marker has its own tests (test_ownership.py).
        "ownership": False,
    }
    values.update(overrides)
    return Settings(**values)


def declared(
    line: int = 4,
    *,
    id: int | None = None,
    inbox_id: int | None = 1,
    file: str = "contacts/vip.yaml",
    **fields: JSON,
) -> DeclaredContact:
    return DeclaredContact(Position(file, line, 5), fields, id=id, inbox_id=inbox_id)


def live(id: int = 318763, **fields: JSON) -> dict[str, JSON]:
    contact: dict[str, JSON] = {
        "additional_attributes": {},
        "availability_status": "offline",
        "email": None,
        "id": id,
        "name": None,
        "phone_number": None,
        "blocked": False,
        "identifier": None,
        "thumbnail": "",
        "custom_attributes": {},
        "last_activity_at": 1714560000,
        "created_at": 1714000000,
    }
    contact.update(fields)
    return contact


def plan_of(
    pairs: Sequence[tuple[DeclaredContact, Mapping[str, JSON] | None]],
    config: Settings | None = None,
) -> Plan:
    declaration = Declaration(
        tuple(contact for contact, _ in pairs), (SourceFile("contacts/vip.yaml", "0" * 64),)
    )
    state = LiveState(tuple(contact for _, contact in pairs), requests=len(pairs))
    return make_plan(declaration, state, config or settings(), CAPABILITIES, now=NOW)


def only_change(plan: Plan) -> tuple[tuple[FieldChange, ...], tuple[Operation, ...]]:
    assert len(plan.changes) == 1
    change = plan.changes[0]
    return change.fields, change.operations


# What counts as a difference -------------------------------------------------------------


def test_a_contact_that_matches_is_unchanged() -> None:
    contact = declared(
        id=318763,
        name="Support",
        email="support@example.com",
        blocked=False,
        custom_attributes={"seats": 40, "vip": True},
        additional_attributes={"social_profiles": {"github": "example"}},
    )
    current = live(
        name="Support",
        email="support@example.com",
        custom_attributes={"seats": 40, "vip": True, "extra": "kept"},
        additional_attributes={
            "social_profiles": {"github": "example", "twitter": "undeclared"},
            "source_id": "server-added",
        },
    )
    plan = plan_of([(contact, current)])
    assert plan.changes == ()
    assert plan.unchanged == 1
    assert plan.created_at == NOW
    assert plan.sources == (SourceFile("contacts/vip.yaml", "0" * 64),)


def test_email_is_compared_lower_cased() -> None:
    plan = plan_of(
        [(declared(id=1, email="Support@Example.com"), live(1, email="support@example.com"))]
    )
    assert plan.changes == ()


def test_a_changed_email_is_sent_lower_cased() -> None:
    fields, requests = only_change(
        plan_of([(declared(id=1, email="New@Example.com"), live(1, email="old@example.com"))])
    )
    assert fields == (FieldChange("email", "old@example.com", "new@example.com"),)
    assert requests[0].body == {"email": "new@example.com"}


@pytest.mark.parametrize("field", ["email", "phone_number", "identifier"])
@pytest.mark.parametrize(("declared_value", "live_value_"), [(None, ""), (None, None)])
def test_blank_and_null_are_alike(field: str, declared_value: JSON, live_value_: JSON) -> None:
    contact = declared(id=1, **{field: declared_value})
    assert plan_of([(contact, live(1, **{field: live_value_}))]).changes == ()


def test_blank_and_null_are_not_alike_for_name() -> None:
    fields, _ = only_change(plan_of([(declared(id=1, name=None), live(1, name=""))]))
    assert fields == (FieldChange("name", "", None),)


JSON_LOOKALIKES: list[JSON] = [1, True, 1.0, "1"]


@pytest.mark.parametrize(("before", "after"), list(permutations(JSON_LOOKALIKES, 2)))
def test_attribute_values_keep_their_json_types(before: JSON, after: JSON) -> None:
    contact = declared(id=1, custom_attributes={"seats": after})
    fields, requests = only_change(
        plan_of([(contact, live(1, custom_attributes={"seats": before}))])
    )
    assert len(fields) == 1
    assert fields[0].path == "custom_attributes.seats"
    assert type(fields[0].before) is type(before)
    assert type(fields[0].after) is type(after)
    assert requests[0].body == {"custom_attributes": {"seats": after}}


@pytest.mark.parametrize(
    ("before", "after"),
    [([1], [True]), ([1.0], [1]), ({"a": 0}, {"a": False}), ({"a": None}, {"a": 0})],
)
def test_types_count_inside_lists_and_objects(before: JSON, after: JSON) -> None:
    contact = declared(id=1, custom_attributes={"v": after})
    plan = plan_of([(contact, live(1, custom_attributes={"v": before}))])
    assert len(plan.changes) == 1


def test_blocked_true_is_not_one() -> None:
    # blocked is a boolean; a live 1 (or 0) is not what the file says.
    plan = plan_of([(declared(id=1, blocked=False), live(1, blocked=0))])
    assert plan.changes[0].fields == (FieldChange("blocked", 0, False),)


def test_undeclared_fields_and_keys_never_count() -> None:
    contact = declared(id=1, name="Same")
    current = live(
        1,
        name="Same",
        email="whatever@example.com",
        blocked=True,
        thumbnail="https://example.com/a.png",
        availability_status="online",
        custom_attributes={"anything": 1},
        additional_attributes={"source_id": "x"},
        contact_inboxes=[{"source_id": "s", "inbox": {"id": 1}}],
    )
    assert plan_of([(contact, current)]).changes == ()


# Updates ---------------------------------------------------------------------------------


def test_update_sends_only_what_changed() -> None:
    contact = declared(
        id=318763,
        name="New",
        email="same@example.com",
        custom_attributes={"vip_level": "platinum", "seats": 40},
    )
    current = live(
        name="Old",
        email="same@example.com",
        custom_attributes={"seats": 40, "undeclared": "stays"},
    )
    plan = plan_of([(contact, current)])
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.id == 318763
    assert change.key == ContactKey("id", 318763)
    assert change.source == Position("contacts/vip.yaml", 4, 5)
    assert change.fields == (
        FieldChange("name", "Old", "New"),
        FieldChange("custom_attributes.vip_level", ABSENT, "platinum"),
    )
    assert change.operations == (
        Operation(
            OperationKind.UPDATE,
            {"name": "New", "custom_attributes": {"vip_level": "platinum"}},
        ),
    )


def test_nested_object_is_sent_whole_with_undeclared_keys_kept() -> None:
    contact = declared(
        id=7,
        additional_attributes={
            "company_name": "Example Ltd",
            "social_profiles": {"github": "new", "linkedin": "added"},
        },
    )
    current = live(
        7,
        additional_attributes={
            "company_name": "Example Ltd",
            "city": "Singapore",
            "social_profiles": {"twitter": "keep", "github": "old"},
        },
    )
    fields, requests = only_change(plan_of([(contact, current)]))
    assert fields == (
        FieldChange("additional_attributes.social_profiles.github", "old", "new"),
        FieldChange("additional_attributes.social_profiles.linkedin", ABSENT, "added"),
    )
    assert requests == (
        Operation(
            OperationKind.UPDATE,
            {
                "additional_attributes": {
                    "social_profiles": {"twitter": "keep", "github": "new", "linkedin": "added"}
                }
            },
        ),
    )


def test_deeper_nesting_merges_recursively() -> None:
    contact = declared(id=7, custom_attributes={"prefs": {"ui": {"theme": "dark"}}})
    current = live(
        7, custom_attributes={"prefs": {"ui": {"theme": "light", "font": 12}, "lang": "en"}}
    )
    fields, requests = only_change(plan_of([(contact, current)]))
    assert fields == (FieldChange("custom_attributes.prefs.ui.theme", "light", "dark"),)
    assert requests[0].body == {
        "custom_attributes": {"prefs": {"ui": {"theme": "dark", "font": 12}, "lang": "en"}}
    }


def test_a_list_is_one_value() -> None:
    contact = declared(id=7, custom_attributes={"tags": ["a", "c"], "o": {"l": [1, 2]}})
    current = live(7, custom_attributes={"tags": ["a", "b"], "o": {"l": [1, 3]}})
    fields, _ = only_change(plan_of([(contact, current)]))
    assert fields == (
        FieldChange("custom_attributes.tags", ["a", "b"], ["a", "c"]),
        FieldChange("custom_attributes.o.l", [1, 3], [1, 2]),
    )


def test_an_object_where_live_has_a_scalar_replaces_it() -> None:
    contact = declared(id=7, additional_attributes={"social_profiles": {"github": "g"}})
    current = live(7, additional_attributes={"social_profiles": "garbage"})
    fields, requests = only_change(plan_of([(contact, current)]))
    assert fields == (
        FieldChange("additional_attributes.social_profiles", "garbage", {"github": "g"}),
    )
    assert requests[0].body == {"additional_attributes": {"social_profiles": {"github": "g"}}}


@pytest.mark.parametrize("live_object", [None, "text", ABSENT])
def test_a_missing_or_broken_live_attribute_object_counts_as_empty(live_object: JSON) -> None:
    current = live(7)
    if live_object is ABSENT:
        del current["custom_attributes"]
    else:
        current["custom_attributes"] = live_object
    fields, requests = only_change(plan_of([(declared(id=7, custom_attributes={"a": 1}), current)]))
    assert fields == (FieldChange("custom_attributes.a", ABSENT, 1),)
    assert requests[0].body == {"custom_attributes": {"a": 1}}


def test_null_is_a_value_for_attributes() -> None:
    contact = declared(id=7, custom_attributes={"gone": None, "kept": None})
    current = live(7, custom_attributes={"gone": "x", "kept": None})
    fields, requests = only_change(plan_of([(contact, current)]))
    assert fields == (FieldChange("custom_attributes.gone", "x", None),)
    assert requests[0].body == {"custom_attributes": {"gone": None}}


def test_a_scalar_cleared_with_null() -> None:
    fields, requests = only_change(
        plan_of([(declared(id=7, phone_number=None), live(7, phone_number="+14155552671"))])
    )
    assert fields == (FieldChange("phone_number", "+14155552671", None),)
    assert requests[0].body == {"phone_number": None}


def test_a_contact_found_by_identifier_is_patched_by_its_live_id() -> None:
    contact = declared(identifier="2222", name="New")
    plan = plan_of([(contact, live(99, identifier="2222", name="Old"))])
    (change,) = plan.changes
    assert change.key == ContactKey("identifier", "2222")
    assert change.id == 99
    assert change.operations[0].kind is OperationKind.UPDATE


# Ignore rules ----------------------------------------------------------------------------


def test_global_ignore_drops_fields_and_keys() -> None:
    contact = declared(
        id=7,
        name="New",
        custom_attributes={"last_seen": "today", "plan": "pro"},
        additional_attributes={"social_profiles": {"twitter": "new", "github": "new"}},
    )
    current = live(
        7,
        name="Old",
        custom_attributes={"last_seen": "yesterday", "plan": "free"},
        additional_attributes={"social_profiles": {"twitter": "old", "github": "old"}},
    )
    rules = (
        IgnoreRule(("name", "custom_attributes.last_seen")),
        IgnoreRule(("additional_attributes.social_profiles.twitter",)),
    )
    fields, requests = only_change(plan_of([(contact, current)], settings(ignore=rules)))
    assert [field.path for field in fields] == [
        "additional_attributes.social_profiles.github",
        "custom_attributes.plan",
    ]
    assert requests[0].body == {
        "additional_attributes": {"social_profiles": {"twitter": "old", "github": "new"}},
        "custom_attributes": {"plan": "pro"},
    }


def test_ignoring_a_parent_drops_everything_under_it() -> None:
    contact = declared(id=7, additional_attributes={"social_profiles": {"github": "new"}})
    current = live(7, additional_attributes={"social_profiles": {"github": "old"}})
    rules = (IgnoreRule(("additional_attributes.social_profiles",)),)
    assert plan_of([(contact, current)], settings(ignore=rules)).changes == ()
    rules = (IgnoreRule(("additional_attributes",)),)
    assert plan_of([(contact, current)], settings(ignore=rules)).changes == ()


@pytest.mark.parametrize("name", ["7", "2222", "Support@Example.COM"])
def test_per_contact_ignore_applies_to_that_contact_only(name: str) -> None:
    first = declared(4, identifier="2222", email="support@example.com", name="New")
    second = declared(9, id=8, name="New")
    pairs = [
        (first, live(7, identifier="2222", email="support@example.com", name="Old")),
        (second, live(8, name="Old")),
    ]
    plan = plan_of(pairs, settings(ignore=(IgnoreRule(("name",), contact=name),)))
    assert [change.id for change in plan.changes] == [8]
    assert plan.unchanged == 1
    assert plan.warnings == ()


def test_a_per_contact_rule_that_names_no_contact_is_a_warning() -> None:
    rules = (IgnoreRule(("name",)), IgnoreRule(("name",), contact="nobody@example.com"))
    plan = plan_of([(declared(id=7, name="A"), live(7, name="A"))], settings(ignore=rules))
    assert plan.warnings == ("settings: ignore[1] names a contact that no file declares",)


def test_ignore_rules_do_not_hold_back_a_create() -> None:
    # Like Terraform's ignore_changes: the declared value is used to create the contact.
    contact = declared(email="new@example.com", name="Support")
    rules = (IgnoreRule(("name",), contact="new@example.com"),)
    plan = plan_of([(contact, None)], settings(ignore=rules))
    assert plan.changes[0].operations[0].body["name"] == "Support"
    assert plan.warnings == ()


# Creates ---------------------------------------------------------------------------------


def test_create_posts_then_patches_what_post_cannot_set() -> None:
    contact = declared(
        20,
        file="contacts/partners.yaml",
        inbox_id=3,
        identifier="2222",
        name="Support",
        email="Support@Example.com",
        phone_number=None,
        blocked=True,
        additional_attributes={"city": "Singapore", "social_profiles": {"github": "example"}},
        custom_attributes={"seats": 40},
    )
    (change,) = plan_of([(contact, None)]).changes
    assert change.action is Action.CREATE
    assert change.id is None
    assert change.key == ContactKey("identifier", "2222")
    assert change.fields == (
        FieldChange("name", ABSENT, "Support"),
        FieldChange("email", ABSENT, "support@example.com"),
        FieldChange("phone_number", ABSENT, None),
        FieldChange("identifier", ABSENT, "2222"),
        FieldChange("blocked", ABSENT, True),
        FieldChange("additional_attributes.city", ABSENT, "Singapore"),
        # an object that did not exist is one added value, as in an update
        FieldChange("additional_attributes.social_profiles", ABSENT, {"github": "example"}),
        FieldChange("custom_attributes.seats", ABSENT, 40),
    )
    assert change.operations == (
        Operation(
            OperationKind.CREATE,
            {
                "inbox_id": 3,
                "name": "Support",
                "email": "support@example.com",
                "identifier": "2222",
            },
        ),
        Operation(
            OperationKind.UPDATE,
            {
                "blocked": True,
                "additional_attributes": {
                    "city": "Singapore",
                    "social_profiles": {"github": "example"},
                },
                "custom_attributes": {"seats": 40},
            },
        ),
    )


def test_a_create_with_only_post_fields_is_one_request() -> None:
    contact = declared(email="a@example.com", identifier=None, custom_attributes={})
    (change,) = plan_of([(contact, None)]).changes
    assert change.operations == (
        Operation(OperationKind.CREATE, {"inbox_id": 1, "email": "a@example.com"}),
    )


def test_creates_without_an_inbox_fail_together() -> None:
    pairs = [
        (declared(3, email="a@example.com", inbox_id=None), None),
        (declared(8, email="b@example.com"), None),
        (declared(12, email="c@example.com", inbox_id=None), None),
    ]
    with pytest.raises(PlanError) as raised:
        plan_of(pairs)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("contacts/vip.yaml:3: ")
    assert lines[1].startswith("contacts/vip.yaml:12: ")
    assert all("`inbox_id`" in line and "`defaults.inbox_id`" in line for line in lines)
    # personal data stays out of errors: the place is enough
    assert "a@example.com" not in str(raised.value)


def test_an_unknown_id_is_a_plan_error() -> None:
    with pytest.raises(PlanError) as raised:
        plan_of([(declared(id=42, name="X"), None)])
    assert str(raised.value) == (
        "the target has no contact with id 42 (contacts/vip.yaml:4); remove `id` to create it"
    )


def test_two_declarations_of_one_live_contact_is_a_plan_error() -> None:
    pairs = [
        (declared(4, identifier="2222"), live(5, identifier="2222", email="a@example.com")),
        (declared(9, email="a@example.com"), live(5, identifier="2222", email="a@example.com")),
    ]
    with pytest.raises(PlanError, match=r"vip.yaml:4 and contacts/vip.yaml:9 .* \(id 5\)"):
        plan_of(pairs)


# The plan as a whole ---------------------------------------------------------------------


def test_changes_keep_declaration_order_and_the_plan_is_deterministic() -> None:
    pairs: list[tuple[DeclaredContact, Mapping[str, JSON] | None]] = [
        (declared(line, id=line, name=f"New {line}"), live(line, name="Old")) for line in (9, 3, 5)
    ]
    pairs.insert(1, (declared(40, email="new@example.com"), None))
    first = plan_of(pairs)
    assert [change.where for change in first.changes] == [
        f"contacts/vip.yaml:{n}" for n in (9, 40, 3, 5)
    ]
    assert plan_of(pairs) == first


def test_fields_come_in_a_fixed_order_whatever_the_declaration_order() -> None:
    contact = declared(id=1, custom_attributes={"b": 2}, email="x@example.com", name="N")
    fields, _ = only_change(plan_of([(contact, live(1))]))
    assert [field.path for field in fields] == ["name", "email", "custom_attributes.b"]


def ten_contacts(changed: int) -> list[tuple[DeclaredContact, Mapping[str, JSON] | None]]:
    return [
        (declared(n, id=n, name="New" if n < changed else "Same"), live(n, name="Same"))
        for n in range(10)
    ]


@pytest.mark.parametrize(
    ("max_changes", "changed", "warned"),
    [("25%", 2, False), ("25%", 3, True), (3, 3, False), (0, 1, True), ("100%", 10, False)],
)
def test_a_plan_over_max_changes_warns(max_changes: int | str, changed: int, warned: bool) -> None:
    plan = plan_of(ten_contacts(changed), settings(max_changes=max_changes))
    assert len(plan.changes) == changed
    if warned:
        (warning,) = plan.warnings
        assert f"changes {changed} of 10 contacts" in warning
        assert warning.endswith("apply will refuse without --force")
    else:
        assert plan.warnings == ()


def test_a_percentage_limit_waits_for_ten_contacts() -> None:
    pairs = [(declared(n, id=n, name="New"), live(n, name="Old")) for n in range(9)]
    assert plan_of(pairs).warnings == ()


# The shortcut for unchanged contacts -----------------------------------------------------

NUMBERS = [0, 0.0, False, 1, 1.0, True]
LOOKALIKES = st.sampled_from([*NUMBERS, "1", "", "a", "A", None, math.nan])
VALUES = st.recursive(
    LOOKALIKES,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("abc"), inner),
    max_leaves=6,
)


def near(value: JSON) -> st.SearchStrategy[JSON]:
    """Mostly ``value`` again (objects may hold more keys), or under another JSON type
    (1 -> 1.0, True); else another value, or ABSENT for a key left out."""
    again: st.SearchStrategy[JSON]
    if isinstance(value, dict):
        again = st.builds(
            lambda extra, copied: {**extra, **copied},
            st.dictionaries(st.sampled_from("xy"), VALUES, max_size=2),
            st.fixed_dictionaries({key: near(child) for key, child in value.items()}),
        ).map(lambda copied: {key: child for key, child in copied.items() if child is not ABSENT})
    elif isinstance(value, list):
        items = st.tuples(*map(near, value))
        again = items.map(lambda copied: [child for child in copied if child is not ABSENT])
    else:
        again = st.just(value)
    twins = [twin for twin in NUMBERS if twin == value and type(twin) is not type(value)]
    return st.one_of(
        again, again, again, st.sampled_from(twins or [value]), VALUES, st.just(ABSENT)
    )


@st.composite
def declared_and_live(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    fields: dict[str, JSON] = draw(st.dictionaries(st.sampled_from(SCALAR_FIELDS), LOOKALIKES))
    for name in draw(st.lists(st.sampled_from(ATTRIBUTE_OBJECTS), unique=True)):
        fields[name] = draw(st.dictionaries(st.sampled_from("abc"), VALUES, max_size=3))
    contact = draw(near(fields))
    return fields, {**(contact if isinstance(contact, dict) else {}), "id": 1}


def _plan_or_error(contact: DeclaredContact, state: LiveState, config: Settings) -> object:
    try:
        return make_plan(Declaration((contact,)), state, config, CAPABILITIES, now=NOW)
    except PlanError as error:
        return str(error)


@hypothesis.settings(deadline=None, max_examples=300)
@given(declared_and_live(), st.booleans())
@example(  # every declared leaf is there: the declared object stands for the live one
    (
        {"additional_attributes": {"a": {"b": 1}}},
        live(1, additional_attributes={"a": {"b": 1, "c": 2}}),
    ),
    False,
)
@example(  # one leaf differs: the nested object is sent whole, its undeclared keys too
    (
        {"additional_attributes": {"a": {"b": 1}}},
        live(1, additional_attributes={"a": {"b": 2, "c": 2}}),
    ),
    True,
)
def test_a_listed_contact_plans_as_the_whole_contact_would(
    pair: tuple[dict[str, JSON], dict[str, JSON]], owned: bool
) -> None:
    fields, contact = pair
    config = settings(ownership=owned)
    mine = declared(id=1, **fields)
    keep = projection(Declaration((mine,)), config.marker_key)
    kept = keep(contact)
    assert keep.matched == {ContactKey("id", 1): kept}
    whole = LiveState((contact,), 1)
    projected = LiveState((kept,), 1, scanned=True, marker_key=config.marker_key)
    # Compared as text: a NaN equals no other NaN object, though the plans are the same.
    assert repr(_plan_or_error(mine, projected, config)) == repr(
        _plan_or_error(mine, whole, config)
    )


# Changes inside a nested attribute object ------------------------------------------------

KEYS = st.sampled_from(["a", "b", "a.b", "__c", "x"])  # a dot; DeepDiff's "private" keys
SCALARS = LOOKALIKES | st.builds(float, st.just("nan"))  # NaN: one shared object, or not
LEAVES = SCALARS | st.lists(
    SCALARS | st.lists(SCALARS, max_size=2) | st.dictionaries(KEYS, SCALARS, max_size=2),
    max_size=2,
)
NESTED = st.dictionaries(KEYS, LEAVES | st.dictionaries(KEYS, LEAVES, max_size=3), max_size=4)


@st.composite
def nested_pairs(draw: st.DrawFn) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """A live object and another like it, or not; often merged as _update does."""
    before = draw(NESTED)
    after = draw(st.one_of(near(before), near(before), NESTED))
    if draw(st.booleans()):
        after = merged(before, after)
    return before, after if isinstance(after, dict) else {}


def _apply_leaves(before: dict[str, JSON], changes: list[FieldChange]) -> dict[str, JSON]:
    """``before`` with each change's ``after`` put at its leaf path."""
    result: dict[str, JSON] = json.loads(json.dumps(before, allow_nan=True))
    for change in changes:
        *parents, last = change.key_path[2:]
        target = result
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = change.after
    return result


@hypothesis.settings(deadline=None, max_examples=200)
@given(nested_pairs())
@example(({"a": 1, "b": "s"}, {"a": True, "b": "t", "x": None}))
@example(({"a": 1.0, "b": None}, {"a": 1, "b": ""}))
@example(({"a": [1], "b": 0}, {"a": [True], "b": 1}))  # difflib finds 1 == True
@example(({"a": {"b": 1}, "x": 0}, {"a": {"b": 1.0}, "x": 1}))
@example(({"a.b": 0, "__c": 0}, {"a.b": False, "__c": 0.0}))
@example(({"a": {"b": 1}}, {"a": [{"b": 1}], "x": {"a.b": {}}}))
def test_deepdiff_finds_the_leaves_of_every_nested_change(
    pair: tuple[dict[str, JSON], dict[str, JSON]],
) -> None:
    before, declared_value = pair
    hypothesis.assume("NaN" not in json.dumps([before, declared_value], allow_nan=True))
    after = merged(before, declared_value)  # as plan sends it: live keys stay at every depth
    prefix = ("additional_attributes", "social_profiles")
    changes = leaf_changes(prefix, before, after)
    assert (changes == []) is strict_equal(before, after)
    # every leaf reported differs, and setting them all on ``before`` gives ``after``
    for change in changes:
        assert not strict_equal(change.before, change.after)
    assert strict_equal(_apply_leaves(before, changes), after)


FLAT = st.dictionaries(KEYS, SCALARS | st.lists(SCALARS | NESTED, max_size=2), max_size=4)


@hypothesis.settings(deadline=None, max_examples=100)
@given(NESTED, FLAT)
@example({"a": {"b": 1}, "x": [1]}, {"a": 1, "x": [True]})
@example({"a": 1, "b": 2}, {"a": 1})  # a key removed alone: the whole object
def test_an_object_of_no_object_has_the_leaves_deepdiff_finds(
    before: dict[str, JSON], after: dict[str, JSON]
) -> None:
    hypothesis.assume("NaN" not in json.dumps([before, after], allow_nan=True))
    prefix = ("custom_attributes", "o")
    deep = _deep_leaves(before, after)
    expected = (
        []
        if strict_equal(before, after)
        else [
            attribute_change((*prefix, *parts), _value_at(before, parts), _value_at(after, parts))
            for parts in deep
        ]
        or [attribute_change(prefix, before, after)]
    )
    assert leaf_changes(prefix, before, after) == expected


def test_leaf_changes_cover_added_retyped_and_changed_keys_at_any_depth() -> None:
    before: dict[str, JSON] = {"a": 1, "b": "s", "c": [1], "d": {"e": 1}, "f": {"e": {"g": 1}}}
    after: dict[str, JSON] = {
        **before,
        "a": True,
        "b": "t",
        "c": {},
        "d": [1],
        "a.b": {"g": 0},
        "f": {"e": {"g": 2}},
    }
    assert leaf_changes(("custom_attributes", "o"), before, after) == [
        FieldChange("custom_attributes.o.a", 1, True),
        FieldChange("custom_attributes.o.b", "s", "t"),
        FieldChange("custom_attributes.o.c", [1], {}),
        FieldChange("custom_attributes.o.d", {"e": 1}, [1]),
        FieldChange("custom_attributes.o.f.e.g", 1, 2),
        FieldChange("custom_attributes.o.a.b", ABSENT, {"g": 0}, ("custom_attributes", "o", "a.b")),
    ]
    assert leaf_changes(("custom_attributes", "o"), before, dict(before)) == []


# Runs make_plan on one contact (argv[1]: its declared fields, argv[2]: its live fields).
PLAN_PROBE = """
import json, sys
from reconciler.model import Declaration, DeclaredContact, LiveState, Position
from reconciler.engine.plan import make_plan
from reconciler.input.settings import Settings

fields, live = map(json.loads, sys.argv[1:])
contact = DeclaredContact(Position("contacts/vip.yaml", 4, 5), fields, id=7)
from reconciler.targets.livedesk import CAPABILITIES
settings = Settings("livedesk", None, 8, 30.0, None, "100%", (), ())
plan = make_plan(
    Declaration((contact,)), LiveState(({**live, "id": 7},), 1), settings, CAPABILITIES
)
paths = [field.path for change in plan.changes for field in change.fields]
print(json.dumps({"paths": paths, "deepdiff": "deepdiff" in sys.modules}))
"""


@pytest.mark.parametrize(
    ("fields", "current", "paths", "deepdiff"),
    [
        (  # scalars, lists and top-level attribute keys: no nested object differs
            {"name": "New", "custom_attributes": {"seats": 2, "tags": ["a"]}},
            {"name": "Old", "custom_attributes": {"seats": 1, "tags": ["b"]}},
            ["name", "custom_attributes.seats", "custom_attributes.tags"],
            False,
        ),
        (
            {"additional_attributes": {"social_profiles": {"github": "new", "x": 1}}},
            {"additional_attributes": {"social_profiles": {"github": "old", "twitter": "t"}}},
            [
                "additional_attributes.social_profiles.github",
                "additional_attributes.social_profiles.x",
            ],
            False,  # an object of no object: each key is a leaf, no DeepDiff needed
        ),
        (
            {"custom_attributes": {"prefs": {"ui": {"theme": "dark"}}}},
            {"custom_attributes": {"prefs": {"ui": {"theme": "light"}}}},
            ["custom_attributes.prefs.ui.theme"],
            True,
        ),
    ],
)
def test_deepdiff_is_loaded_only_where_a_nested_object_differs(
    fields: dict[str, JSON], current: dict[str, JSON], paths: list[str], deepdiff: bool
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PLAN_PROBE, json.dumps(fields), json.dumps(current)],
        env={**os.environ, "PYTHONPATH": str(Path(plan_module.__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"paths": paths, "deepdiff": deepdiff}


# Helpers apply uses ----------------------------------------------------------------------


def test_strict_equal_is_type_strict_all_the_way_down() -> None:
    assert strict_equal({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not strict_equal({"a": [1]}, {"a": [1.0]})
    assert not strict_equal({"a": 1}, {"a": 1, "b": 2})
    assert not strict_equal(True, 1)
    assert not strict_equal(ABSENT, None)


def test_values_match_follows_the_contract() -> None:
    assert values_match("email", "support@example.com", "Support@Example.com")
    assert values_match("phone_number", "", None)
    assert values_match("identifier", None, "")
    assert not values_match("name", "", None)
    assert not values_match("custom_attributes.x", 1, True)
    assert not values_match("name", ABSENT, None)
    assert values_match("name", ABSENT, ABSENT)


def test_live_value_walks_keys() -> None:
    contact = live(1, additional_attributes={"social_profiles": {"github": "g"}, "city": "S"})
    assert live_value(contact, ("additional_attributes", "social_profiles", "github")) == "g"
    assert live_value(contact, ("name",)) is None
    assert live_value(contact, ("additional_attributes", "social_profiles", "twitter")) is ABSENT
    assert live_value(contact, ("additional_attributes", "city", "deeper")) is ABSENT
    assert live_value(contact, ("custom_attributes", "missing")) is ABSENT
