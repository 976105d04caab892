from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.input.document import MAX_FILE_BYTES, Document, json_path, load_document
from reconciler.input.values import MAX_DEPTH
from reconciler.model import Position
from reconciler.outputs.contactfiles import _Dumper as ExportDumper

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contacts"


def load(text: str | bytes, path: str = "f.yaml") -> Document:
    return load_document(path, text.encode() if isinstance(text, str) else text)


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(InputError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.problems]


def assert_plain(value: Any) -> None:
    """Only exact JSON types: DeepDiff sees a subclass as a type change."""
    assert type(value) in (dict, list, str, int, float, bool, type(None))
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str
            assert_plain(item)
    elif type(value) is list:
        for item in value:
            assert_plain(item)


def test_values_and_positions_of_every_node() -> None:
    document = load("contacts:\n  - id: 7\n    name: Ada\n    tags: [a, {b: FALSE}]\n")
    assert document.data == {"contacts": [{"id": 7, "name": "Ada", "tags": ["a", {"b": False}]}]}
    assert document.marks.raw == {
        (): (1, 1),
        ("contacts",): (2, 3),
        ("contacts", 0): (2, 5),
        ("contacts", 0, "id"): (2, 9),
        ("contacts", 0, "name"): (3, 11),
        ("contacts", 0, "tags"): (4, 11),
        ("contacts", 0, "tags", 0): (4, 12),
        ("contacts", 0, "tags", 1): (4, 15),
        ("contacts", 0, "tags", 1, "b"): (4, 19),
    }
    assert document.key_marks[("contacts", 0, "name")] == Position("f.yaml", 3, 5)
    assert document.marks[("contacts", 0, "id")] == Position("f.yaml", 2, 9)
    assert document.bool_texts == {("contacts", 0, "tags", 1, "b"): "FALSE"}


def test_columns_count_characters_not_bytes() -> None:
    document = load("name: Zoë\nbé: [1, é, x]\n")
    assert document.marks.raw[("bé", 2)] == (2, 12)


def test_position_falls_back_to_the_nearest_ancestor_and_to_the_key() -> None:
    document = load("a:\n  b: 1\n")
    assert document.position(("a", "b", "missing")) == Position("f.yaml", 2, 6)
    assert document.position(("a", "b"), key=True) == Position("f.yaml", 2, 3)
    assert load("").position(("contacts",)) == Position("f.yaml", 1, 1)


def test_values_are_plain_json_types() -> None:
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        assert_plain(load_document(str(path), path.read_bytes()).data)


def test_values_equal_pyyaml_safe_load_on_the_examples() -> None:
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        content = path.read_bytes()
        assert load_document(str(path), content).data == yaml.load(content, Loader=yaml.CSafeLoader)


def test_scalars_yaml_1_1_and_1_2_agree_on_resolve_as_pyyaml_does() -> None:
    text = "a: 0x1F\ne: -2.5e+3\nf: ~\nh: '12'\ni: \nk: TRUE\nl: 1.\nm: .5\nn: +7\n"
    assert load(text).data == yaml.safe_load(text)


@pytest.mark.parametrize(
    ("scalar", "spellings"),
    [
        ("yes", 'write true or "yes"'),
        ("Off", 'write false or "Off"'),
        ("on", 'write true or "on"'),
        ("017", 'write 15 or 17 or "017"'),  # octal to YAML 1.1, decimal to 1.2
        ("0o17", 'write "0o17" or 15'),
        ("1_000", 'write 1000 or "1_000"'),
        ("1:30", 'write 90 or "1:30"'),  # sexagesimal in YAML 1.1
        ("1e3", 'write "1e3" or 1000.0'),  # no dot: text to YAML 1.1
        ("2.5e3", 'write "2.5e3" or 2500.0'),  # no exponent sign: text to YAML 1.1
    ],
)
def test_a_scalar_yaml_1_1_and_1_2_read_differently_is_refused_with_both_spellings(
    scalar: str, spellings: str
) -> None:
    (problem,) = problems(f"contacts:\n  - custom_attributes: {{x: [{scalar}]}}\n")
    assert problem.startswith("f.yaml:2:29: error: $.contacts[0].custom_attributes.x[0]: ")
    assert "to reconciler (YAML 1.1) but" in problem
    assert "to editors and other tools (YAML 1.2)" in problem
    assert problem.endswith(f"{spellings}, whichever you mean")


def test_empty_file_and_comments_only_are_null() -> None:
    assert load("").data is None
    assert load("# only a comment\n").data is None


def test_utf8_byte_order_mark_is_accepted() -> None:
    assert load(b"\xef\xbb\xbfcontacts: []\n").data == {"contacts": []}


def test_sha256_of_the_bytes() -> None:
    assert load("a: 1\n").sha256 == hashlib.sha256(b"a: 1\n").hexdigest()


def test_document_is_immutable() -> None:
    document = load("a: 1\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        document.path = "other"  # type: ignore[misc]


def test_every_duplicate_key_is_reported_naming_both_lines() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    assert problems(text) == [
        "f.yaml:4:3: error: $.b.c: duplicate key 'c': line 3 has it too, and YAML would keep "
        "only the last one; remove one of them",
        "f.yaml:5:1: error: $.a: duplicate key 'a': line 1 has it too, and YAML would keep "
        "only the last one; remove one of them",
    ]


def test_quoted_keys_that_look_like_other_types_stay_text() -> None:
    assert load("1: a\nyes: b\n'<<': c\n").data == {"1": "a", "yes": "b", "<<": "c"}


def test_aliases_share_values_and_positions_point_at_the_anchor() -> None:
    document = load("x: &acme {company_name: Acme, city: Oslo}\ny: *acme\n")
    assert document.data["y"] == {"company_name": "Acme", "city": "Oslo"}
    assert document.marks[("y",)] == Position("f.yaml", 2, 4)  # the alias itself
    assert document.marks[("y", "city")] == Position("f.yaml", 1, 37)  # inside the anchor


def test_merge_keys_take_anchored_mappings_and_explicit_keys_win() -> None:
    text = (
        "base: &base {city: Oslo, country_code: 'NO', seats: 1}\n"
        "more: &more {seats: 2, tier: gold}\n"
        "contact:\n"
        "  <<: [*base, *more]\n"
        "  city: Bergen\n"
    )
    document = load(text)
    assert document.data["contact"] == {
        "country_code": "NO",
        "seats": 1,
        "tier": "gold",
        "city": "Bergen",
    }
    assert document.marks[("contact", "city")] == Position("f.yaml", 5, 9)
    assert document.marks[("contact", "tier")] == Position("f.yaml", 2, 30)
    assert document.key_marks[("contact", "seats")] == Position("f.yaml", 1, 46)


def test_alias_bomb_is_refused_quickly() -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    started = time.perf_counter()
    found = problems("\n".join(levels) + "\n")
    assert time.perf_counter() - started < 5
    assert len(found) == 1
    assert "aliases expand to more than 200,000 values (an alias bomb?)" in found[0]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 60_000 + "]" * 60_000,  # flow: libyaml itself may refuse it first
        "".join(f"{'  ' * level}k{level}:\n" for level in range(MAX_DEPTH + 5)) + "    x\n",
    ],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused_without_crashing(text: str) -> None:
    # PyYAML's C composer crashes the interpreter on this; the event loop doesn't recurse.
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith("f.yaml:")
    assert "nested" in found[0]
    assert found[0].endswith("flatten the data")


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(InputError) as caught:
        load_document("big.yaml", b"#" * (MAX_FILE_BYTES + 1))
    assert [str(problem) for problem in caught.value.problems] == [
        "big.yaml:1:1: error: $: the file is 20.0 MB, over the 20 MB limit; split it into "
        "smaller files"
    ]


def test_not_utf8_points_at_the_first_bad_byte() -> None:
    assert problems(b"a: 1\nname: Zo\xc3\xab L\xe9on\n") == [
        "f.yaml:2:12: error: $: is not UTF-8 text (byte 0xe9 here); save the file with the "
        "UTF-8 encoding"
    ]


def test_problems_that_do_not_stop_reading_are_all_reported() -> None:
    text = "a: 2024-01-01\nb: !!binary aGk=\nc: .nan\nd: !!int seven\n"
    assert problems(text) == [
        "f.yaml:1:4: error: $.a: YAML reads this unquoted value as a date, which JSON has no "
        "type for; quote it to keep it as text",
        "f.yaml:2:4: error: $.b: the tag !!binary is not allowed: contact files hold plain "
        "mappings, lists, text, numbers, booleans and null; remove the tag",
        "f.yaml:3:4: error: $.c: YAML reads this unquoted value as an infinite or not-a-number "
        "float, which JSON can't hold; quote it to keep it as text",
        "f.yaml:4:4: error: $.d: can't be read as a whole number; correct it or quote it",
    ]


def test_set_and_ordered_map_tags_are_refused() -> None:
    found = problems("a: !!set {x, y}\nb: !!omap [x: 1]\n")
    assert [line.split(": error: ")[0] for line in found] == ["f.yaml:1:4", "f.yaml:2:4"]
    assert "the tag !!set is not allowed" in found[0]
    assert "the tag !!omap is not allowed" in found[1]


def test_json_path_quotes_keys_that_are_not_names() -> None:
    assert json_path(()) == "$"
    assert json_path(("contacts", 3, "email")) == "$.contacts[3].email"
    assert json_path(("custom_attributes", "vip-level", "it's")) == (
        "$.custom_attributes['vip-level']['it\\'s']"
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    # floats the server would store as another value are refused (test_value_rules)
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: abs(f) < 1e16 and not (f == 0 and math.copysign(1, f) < 0)
    )
    | st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20
    )  # NUL: refused
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=10), children, max_size=4
    )


json_values = st.recursive(json_scalars, _containers, max_leaves=25)


def every_path(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += every_path(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += every_path(item, (*path, index))
    return paths


@settings(max_examples=150, deadline=None)
@given(json_values, st.booleans())
def test_loads_what_pyyaml_loads_with_a_position_for_every_value(value: Any, flow: bool) -> None:
    # export's dumper: it quotes text that YAML 1.2 would read as a number, as files must
    text = yaml.dump(value, Dumper=ExportDumper, default_flow_style=flow, allow_unicode=True)
    document = load(text)
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    assert document.data == expected
    assert_plain(document.data)
    assert set(every_path(expected)) <= set(document.marks)


def test_a_nul_character_is_refused_where_it_stands() -> None:
    assert problems('contacts:\n  - name: "Ada\\0Lovelace"\n') == [
        "f.yaml:2:11: error: $.contacts[0].name: holds a NUL character (\\0), which the "
        "server can't store; remove it"
    ]
