"""The values a contact attribute definition accepts, as Chatwoot's dashboard checks them."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.definitions import AttributeDefinition


def definition(display_type: str, **more: Any) -> AttributeDefinition:
    return AttributeDefinition("key", "Key", display_type, **more)


@pytest.mark.parametrize(
    ("kind", "more", "accepted", "refused"),
    [
        ("list", {"values": ("gold", "silver")}, ["gold", None], ["bronze", "Gold", 1, True]),
        ("number", {}, [40, 2.5, -1, 0], ["40", True, [1]]),
        ("currency", {}, [9.99], ["9.99"]),
        ("percent", {}, [50], ["50%"]),
        ("checkbox", {}, [True, False], ["true", 1, "yes"]),
        (
            "date",
            {},
            ["2024-05-01", "2024-05-01T10:00:00.000Z"],
            ["May 1st", "2024-13-01", 20240501],
        ),
        (
            "link",
            {},
            ["https://example.com/a?b=c", "http://www.example.org"],
            ["example.com", "ftp://example.com", "https://localhost", 5],
        ),
        ("text", {}, ["anything", ""], [40, True]),
        ("text", {"regex_pattern": "/^[A-Z]{2}-\\d+$/"}, ["AB-12"], ["ab-12", "AB-"]),
        ("text", {"regex_pattern": "/^[a-z]+$/i"}, ["AbC"], ["A1"]),
        ("text", {"regex_pattern": "/(/"}, ["anything"], []),  # JavaScript can't compile it
    ],
)
def test_each_display_type_accepts_what_the_dashboard_does(
    kind: str, more: dict[str, Any], accepted: list[Any], refused: list[Any]
) -> None:
    rule = definition(kind, **more)
    for value in accepted:
        assert rule.refusal(value) is None, value
    for value in refused:
        assert rule.refusal(value) is not None, value


def test_a_refusal_says_what_is_allowed_and_never_the_value() -> None:
    listed = definition("list", values=("gold", "silver")).refusal("platinum-secret")
    assert listed == "is a list of gold, silver: use one of them"
    cued = definition("text", regex_pattern="/^\\d+$/", regex_cue="digits only").refusal("x7")
    assert cued == "must match /^\\d+$/ (digits only)"


def test_a_definition_goes_to_the_api_and_back() -> None:
    declared = AttributeDefinition("tier", "Tier", "list", "Support tier", ("gold",))
    document = {**declared.to_api(), "id": 4}
    assert document["attribute_model"] == "contact_attribute"
    assert AttributeDefinition.from_api(document) == AttributeDefinition(
        "tier", "Tier", "list", "Support tier", ("gold",), id=4
    )
