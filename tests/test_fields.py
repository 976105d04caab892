"""The field registry and the contacts schema describe the same fields."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import fields
from reconciler.input.schemas import load_schema

NOT_MANAGED = {"id", "inbox_id"}  # where a contact is, not what it holds


def contact_properties() -> dict[str, Any]:
    properties: dict[str, Any] = load_schema("contacts")["properties"]["contacts"]["items"][
        "properties"
    ]
    return {
        name: subschema
        for name, subschema in properties.items()
        if name not in NOT_MANAGED
        and subschema.get("not") != {}  # refused fields are "not": {}
        and "type" in subschema
    }


def test_every_declarable_field_is_in_the_registry_and_no_other() -> None:
    assert set(contact_properties()) == set(fields.BY_NAME)


def test_the_directives_are_the_schemas_other_contact_keys() -> None:
    properties = load_schema("contacts")["properties"]["contacts"]["items"]["properties"]
    others = {
        name
        for name, subschema in properties.items()
        if name not in NOT_MANAGED and "type" not in subschema and subschema.get("not") != {}
    }
    assert others == set(fields.DIRECTIVES)


@pytest.mark.parametrize("field", fields.FIELDS, ids=lambda field: field.name)
def test_each_field_has_the_kind_and_rules_the_schema_gives_it(field: fields.Field) -> None:
    subschema = contact_properties()[field.name]
    types = subschema["type"] if isinstance(subschema["type"], list) else [subschema["type"]]
    assert ("object" in types) is (field.kind is fields.Kind.ATTRIBUTES)
    assert ("array" in types) is (field.kind is fields.Kind.SET)
    unique = subschema.get("x-unique")
    if field.kind is not fields.Kind.SET:  # a set's names are unique within it, not across
        assert (unique == "case-insensitive") is field.folds_case
    if field.key_rank is not None:
        assert unique is not None  # a field that finds a contact can't be shared
    if field.blank_is_null:
        assert "null" in types


def test_key_fields_are_tried_in_rank_order() -> None:
    assert fields.KEY_FIELDS == ("identifier", "email")


def test_comparable_follows_the_registry() -> None:
    assert fields.comparable("email", "Ada@Example.COM") == "ada@example.com"
    assert fields.comparable("identifier", "") is None
    assert fields.comparable("identifier", "AbC") == "AbC"
    assert fields.comparable("name", "") == ""
    assert fields.comparable("custom_attributes", {"a": "B"}) == {"a": "B"}
