"""The compiled precheck must say "valid" exactly when jsonschema finds no error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.validators import Draft202012Validator

from reconciler.errors import InputError
from reconciler.input import schemas
from reconciler.input.declaration import validator_for
from reconciler.input.document import load_document
from reconciler.input.precheck import Check, compile_precheck

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = schemas.load_schema("contacts")
CONTACT_FIELDS = list(CONTACTS["properties"]["contacts"]["items"]["properties"])


def contacts_precheck() -> Check:
    precheck = compile_precheck(CONTACTS)
    assert precheck is not None
    return precheck


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.0, 1.0, 2.5, -1.0, 2**40]),
    st.sampled_from(
        ["", "a@b", "a @b", "a@b@c", "ada@example.com", "+14155550101", "+0415", "+1", "NO"]
    ),
    st.sampled_from(["x" * 255, "x" * 256, "y" * 243 + "@example.com"]),
    st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["city", "country_code", "social_profiles", "github", "seats", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)
VALID_CONTACT = {
    "id": 1,
    "identifier": "u-1",
    "email": "ada@example.com",
    "name": "Ada",
    "phone_number": "+14155550101",
    "blocked": False,
    "additional_attributes": {"city": "Oslo", "social_profiles": {"github": "ada"}},
    "custom_attributes": {"seats": 3},
}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([*CONTACT_FIELDS, "emial", "id", "email"]),
    values,
    st.sets(st.sampled_from(list(VALID_CONTACT)), max_size=3),
)
def test_agrees_on_one_field_changed_in_a_valid_contact(
    field: str, value: Any, removed: set[str]
) -> None:
    contact = {key: item for key, item in VALID_CONTACT.items() if key not in removed}
    contact[field] = value
    document: dict[str, Any] = {"defaults": {"inbox_id": 1}, "contacts": [VALID_CONTACT, contact]}
    assert contacts_precheck()(document) == validator_for("contacts").is_valid(document)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["contacts", "defaults", "contact"]),
        st.one_of(
            st.lists(st.dictionaries(st.sampled_from(CONTACT_FIELDS), values), max_size=3),
            st.dictionaries(st.sampled_from(["inbox_id", "inbox"]), values, max_size=2),
            values,
        ),
        max_size=3,
    )
    | values
)
def test_agrees_on_whole_documents(document: Any) -> None:
    assert contacts_precheck()(document) == validator_for("contacts").is_valid(document)


EVERY_KEYWORD = {
    "type": "object",
    "required": ["a"],
    "additionalProperties": {"type": ["integer", "null"], "exclusiveMinimum": 0},
    "properties": {
        "a": {"type": "array", "items": {"type": "number", "maximum": 2}, "minItems": 1},
        "b": {"oneOf": [{"type": "integer"}, {"minimum": 1}]},
        "c": {"allOf": [{"minLength": 1}, {"maxLength": 2}], "not": {"pattern": "^x"}},
        "d": {"anyOf": [{"type": "boolean"}, {"maxItems": 1}], "exclusiveMaximum": 3},
        "e": True,
        "f": False,
    },
}


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-2, 4)
            | st.sampled_from([0.5, 1.0, 2.0, 3.0])
            | st.sampled_from(["", "x", "ab", "xyz", "y"]),
            lambda children: st.lists(children, max_size=3),
            max_leaves=5,
        ),
    )
    | st.integers()
)
def test_agrees_on_every_supported_keyword(instance: Any) -> None:
    precheck = compile_precheck(EVERY_KEYWORD)
    assert precheck is not None
    assert precheck(instance) == Draft202012Validator(EVERY_KEYWORD).is_valid(instance)


REFERENCES_AND_CONDITIONS = {
    "$defs": {
        "short": {"type": "string", "maxLength": 1},
        "list": {"type": "array", "items": {"$ref": "#/$defs/short"}},
        "a~b/c": {"minimum": 2},
    },
    "properties": {
        "a": {"$ref": "#/$defs/short"},
        "b": {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"$ref": "#/$defs/list"}},
        "c": {"if": {"type": "integer"}, "then": {"$ref": "#/$defs/a~0b~1c"}},
        "d": {"if": {"type": "array"}, "else": {"type": "null"}},
        "e": {"then": {"type": "null"}, "else": {"type": "null"}},  # no "if": no effect
        "f": {"$ref": "#/$defs/short", "minLength": 1},
    },
}


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e", "f"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(0, 3)
            | st.sampled_from([1.0, 2.5])
            | st.sampled_from(["", "x", "ab"]),
            lambda children: st.lists(children, max_size=3),
            max_leaves=5,
        ),
    )
)
def test_agrees_on_references_and_conditions(instance: Any) -> None:
    precheck = compile_precheck(REFERENCES_AND_CONDITIONS)
    assert precheck is not None
    validator = Draft202012Validator(REFERENCES_AND_CONDITIONS)
    assert precheck(instance) == validator.is_valid(instance)


SETTINGS_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1, max_value=65),
    st.sampled_from([0.0, 0.5, 8.0, 601.0]),
    st.sampled_from(["", "25%", "100%", "101%", "2.5%", "x%", "name", "custom_attributes.a"]),
    st.sampled_from(["a b", "a..b", "https://example.com", "ftp://x", "http://u@host/"]),
    st.lists(
        st.sampled_from(["name", "blocked", "x.y", "a b", "custom_attributes.a"])
        | st.fixed_dictionaries(
            {"contact": st.sampled_from([1, "", "ada"]), "paths": st.sampled_from([[], ["name"]])},
            optional={"other": st.just(1)},
        ),
        max_size=3,
    ),
)
VALID_SETTINGS = {
    "base_url": "https://example.com",
    "concurrency": 8,
    "timeout": 30,
    "rate_limit": 0.5,
    "max_changes": "25%",
    "sensitive": ["date_of_birth"],
    "ignore": ["name", {"contact": "ada", "paths": ["custom_attributes.x"]}],
}


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([*schemas.load_schema("settings")["properties"], "other"]),
    SETTINGS_VALUES,
    st.sets(st.sampled_from(list(VALID_SETTINGS)), max_size=3),
)
def test_agrees_on_one_setting_changed_in_valid_settings(
    name: str, value: Any, removed: set[str]
) -> None:
    document: dict[str, Any] = {
        key: item for key, item in VALID_SETTINGS.items() if key not in removed
    }
    document[name] = value
    precheck = compile_precheck(schemas.load_schema("settings"))
    assert precheck is not None
    assert precheck(document) == validator_for("settings").is_valid(document)
    assert precheck(value) == validator_for("settings").is_valid(value)


def test_agrees_on_the_corpus_and_the_examples() -> None:
    validator = validator_for("contacts")
    paths = [*(ROOT / "tests" / "corpus").rglob("*.yaml"), *(ROOT / "examples").rglob("*.yaml")]
    checked = 0
    for path in paths:
        try:
            data = load_document(str(path), path.read_bytes()).data
        except InputError:
            continue
        assert contacts_precheck()(data) == validator.is_valid(data), path
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "https://example.com/schema#/$defs/x"},
        {"$ref": "#/$defs/missing", "$defs": {"x": {}}},
        {"$ref": "#/$defs/x%20y", "$defs": {"x y": {}}},
        {"$ref": "#/$defs/x", "$defs": {"x": {"items": {"$ref": "#/$defs/x"}}}},  # a cycle
        {"$ref": "#/$defs/x", "$defs": {"x": {"$id": "https://example.com/x"}}},
        {"properties": {"a": {"format": "email"}}},
        {"enum": [1, True]},
        {"patternProperties": {"^x": {}}},
        {"prefixItems": [{}]},
        {"type": "decimal"},
        ["not", "a", "schema"],
    ],
)
def test_no_precheck_when_a_keyword_is_not_handled(schema: Any) -> None:
    assert compile_precheck(schema) is None


def test_annotations_are_ignored() -> None:
    schema = {"title": "t", "description": "d", "examples": [1], "x-error": "m", "type": "integer"}
    precheck = compile_precheck(schema)
    assert precheck is not None
    assert precheck(1)
    assert not precheck("1")
