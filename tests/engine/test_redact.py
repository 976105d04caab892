from __future__ import annotations

import json

from reconciler.changes import (
    Action,
    Change,
    FieldChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.engine.redact import REDACTED, redact_plan
from reconciler.model import ABSENT, ContactKey, Position

PERSONAL = ["Ada Lovelace", "Old Name", "ada@example.com", "+14155552671", "ext-2222", "1815-12-10"]

TARGET = TargetIdentity("livedesk", "https://livedesk.example", "0123456789abcdef")


def personal_plan() -> Plan:
    update = Change(
        action=Action.UPDATE,
        key=ContactKey("identifier", "ext-2222"),
        source=Position("contacts/vip.yaml", 4, 5),
        fields=(
            FieldChange("name", "Old Name", "Ada Lovelace"),
            FieldChange("phone_number", ABSENT, "+14155552671"),
            FieldChange("custom_attributes.date_of_birth", None, "1815-12-10"),
            FieldChange("custom_attributes.vip_level", "gold", "platinum"),
            FieldChange("additional_attributes.social_profiles.github", "old", "ada-gh"),
        ),
        operations=(
            Operation(
                OperationKind.UPDATE,
                {
                    "name": "Ada Lovelace",
                    "phone_number": "+14155552671",
                    "custom_attributes": {"date_of_birth": "1815-12-10", "vip_level": "platinum"},
                    "additional_attributes": {
                        "social_profiles": {"github": "ada-gh", "twitter": "ada-tw"}
                    },
                },
            ),
        ),
        id=318763,
    )
    create = Change(
        action=Action.CREATE,
        key=ContactKey("email", "ada@example.com"),
        source=Position("contacts/vip.yaml", 20, 5),
        fields=(
            FieldChange("email", ABSENT, "ada@example.com"),
            FieldChange("identifier", ABSENT, None),
        ),
        operations=(Operation(OperationKind.CREATE, {"inbox_id": 1, "email": "ada@example.com"}),),
    )
    return Plan(
        changes=(update, create), unchanged=3, created_at="2024-05-01T12:00:00Z", target=TARGET
    )


SENSITIVE = ("date_of_birth", "additional_attributes.social_profiles")


def everything_in(plan: Plan) -> str:
    """Every value the plan holds, as text, to search for leaks."""
    parts: list[object] = []
    for change in plan.changes:
        parts.append(change.key.value)
        for field in change.fields:
            parts += [field.before, field.after]
        for request in change.operations:
            parts.append(request.body)
    return json.dumps(parts, default=str)


def test_no_personal_value_is_left() -> None:
    text = everything_in(redact_plan(personal_plan(), SENSITIVE))
    for value in [*PERSONAL, "ada-gh", "ada-tw"]:
        assert value not in text


def test_masked_values_still_show_that_they_change() -> None:
    redacted = redact_plan(personal_plan(), SENSITIVE)
    update, create = redacted.changes
    assert update.fields == (
        FieldChange("name", REDACTED, REDACTED),
        FieldChange("phone_number", ABSENT, REDACTED),
        FieldChange("custom_attributes.date_of_birth", None, REDACTED),
        FieldChange("custom_attributes.vip_level", "gold", "platinum"),
        FieldChange("additional_attributes.social_profiles.github", REDACTED, REDACTED),
    )
    assert create.fields == (
        FieldChange("email", ABSENT, REDACTED),
        FieldChange("identifier", ABSENT, None),
    )


def test_request_bodies_are_masked_key_by_key() -> None:
    update, create = redact_plan(personal_plan(), SENSITIVE).changes
    assert update.operations[0].kind is OperationKind.UPDATE
    assert update.operations[0].body == {
        "name": REDACTED,
        "phone_number": REDACTED,
        "custom_attributes": {"date_of_birth": REDACTED, "vip_level": "platinum"},
        "additional_attributes": {"social_profiles": REDACTED},
    }
    assert create.operations[0].body == {"inbox_id": 1, "email": REDACTED}


def test_a_bare_sensitive_key_matches_at_any_depth() -> None:
    redacted = redact_plan(personal_plan(), ["twitter", "github"])
    body = redacted.changes[0].operations[0].body
    assert body["additional_attributes"] == {
        "social_profiles": {"github": REDACTED, "twitter": REDACTED}
    }
    assert body["custom_attributes"]["date_of_birth"] == "1815-12-10"


def test_keys_are_masked_except_ids() -> None:
    update, create = redact_plan(personal_plan(), ()).changes
    assert update.key == ContactKey("identifier", REDACTED)
    assert update.id == 318763
    assert create.key == ContactKey("email", REDACTED)
    id_keyed = Plan(
        changes=(
            Change(Action.UPDATE, ContactKey("id", 5), Position("f.yaml", 1, 1), (), (), id=5),
        ),
        unchanged=0,
    )
    assert redact_plan(id_keyed, ()).changes[0].key == ContactKey("id", 5)


def test_the_plan_is_marked_and_the_original_untouched() -> None:
    original = personal_plan()
    redacted = redact_plan(original, SENSITIVE)
    assert redacted.redacted
    assert not original.redacted
    assert original == personal_plan()
    assert (redacted.unchanged, redacted.created_at) == (3, "2024-05-01T12:00:00Z")


def test_a_sensitive_key_inside_a_list_is_masked_everywhere() -> None:
    change = Change(
        Action.UPDATE,
        ContactKey("id", 5),
        Position("f.yaml", 1, 1),
        (
            FieldChange(
                "custom_attributes.family",
                ABSENT,
                [{"name": "x", "date_of_birth": "1815-12-10"}, [{"date_of_birth": "1816"}]],
            ),
        ),
        (
            Operation(
                OperationKind.UPDATE,
                {"custom_attributes": {"family": [{"date_of_birth": "1815-12-10", "n": 1}]}},
            ),
        ),
        id=5,
    )
    plan = redact_plan(Plan((change,), unchanged=0, target=TARGET), ("date_of_birth",))
    shown = repr(plan)
    assert "1815" not in shown and "1816" not in shown
    (field,) = plan.changes[0].fields
    assert field.after == [{"name": "x", "date_of_birth": REDACTED}, [{"date_of_birth": REDACTED}]]
