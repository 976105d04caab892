"""The field registry and the contacts schema describe the same fields."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import fields
from reconciler.input.schemas import load_schema
from reconciler.sandbox.contacts import downcase

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


# The desk's case folding --------------------------------------------------------------

CAPITAL_SIGMA_LAST = "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3@example.gr"  # ΟΔΥΣΣΕΥΣ
DESK_FOLDED = "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3@example.gr"  # every sigma U+03C3


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        (CAPITAL_SIGMA_LAST, DESK_FOLDED),
        ("\u03a3@x", "\u03c3@x"),  # a lone capital sigma: U+03C3 to Ruby
        ("\u0130x@y", "i\u0307x@y"),  # Ruby's full mapping: İ is i and a combining dot
    ],
)
def test_emails_fold_as_the_desk_folds_them(text: str, folded: str) -> None:
    assert fields.fold_case(text) == folded
    assert fields.indexed("email", text) == folded
    assert downcase(text) == folded  # the sandbox's own, which plays the desk


def test_python_lower_is_not_the_desks_fold() -> None:
    # What the fold exists for: str.lower() gives a word-final sigma its final form.
    assert CAPITAL_SIGMA_LAST.lower() != DESK_FOLDED
    assert fields.comparable("email", CAPITAL_SIGMA_LAST) == DESK_FOLDED


def test_unique_values_compare_as_the_desks_index_does() -> None:
    decomposed, composed = "Jose\u0301", "Jos\u00e9"
    # Compared as values (no change planned), they are one; as keys, the desk tells them apart.
    assert fields.comparable("identifier", decomposed) == fields.comparable("identifier", composed)
    assert fields.indexed("identifier", decomposed) != fields.indexed("identifier", composed)
    assert fields.indexed("identifier", "ABC") != fields.indexed("identifier", "abc")
    assert fields.indexed("phone_number", "") is None
    assert fields.UNIQUE_FIELDS == ("identifier", "email", "phone_number")


def test_the_unique_fields_are_those_the_schema_marks_unique() -> None:
    marked = {name for name, subschema in contact_properties().items() if "x-unique" in subschema}
    assert marked == set(fields.UNIQUE_FIELDS)
