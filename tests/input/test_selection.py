"""Selectors choose declared contacts offline: each form, together, and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.input.declaration import read_declaration
from reconciler.input.selection import Selectors, select
from reconciler.model import Declaration

VIP = """\
defaults: {inbox_id: 1}
contacts:
  - id: 7
    name: Ada
    labels: [vip, partner]
  - identifier: grace-1
    email: Grace@Example.com
    phone_number: "+15550100"
"""
TEAM = """\
contacts:
  - email: ops@example.com
    labels: [staff]
  - identifier: lin
    labels: [vip]
"""


@pytest.fixture
def declaration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Declaration:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()  # the repository's root
    (tmp_path / "contacts" / "team").mkdir(parents=True)
    (tmp_path / "contacts" / "vip.yaml").write_text(VIP, encoding="utf-8")
    (tmp_path / "contacts" / "team" / "all.yaml").write_text(TEAM, encoding="utf-8")
    return read_declaration(["contacts"], use_cache=False)


def chosen(declaration: Declaration, *targets: str, exclude: tuple[str, ...] = ()) -> list[str]:
    selected = select(declaration, Selectors(targets=targets, excludes=exclude))
    return [str(contact.key) for contact in selected.contacts]


def test_no_selector_is_the_whole_declaration(declaration: Declaration) -> None:
    assert select(declaration, Selectors()) is declaration


@pytest.mark.parametrize(
    ("selector", "keys"),
    [
        ("id:7", ["id 7"]),
        ("identifier:grace-1", ["identifier grace-1"]),
        ("email:GRACE@example.COM", ["identifier grace-1"]),  # as the desk folds it
        ("email:ops@example.com", ["email ops@example.com"]),
        ("phone:+15550100", ["identifier grace-1"]),
        ("label:VIP", ["identifier lin", "id 7"]),  # labels fold case
        ("contacts/vip.yaml", ["id 7", "identifier grace-1"]),
        ("contacts/team", ["email ops@example.com", "identifier lin"]),
        ("contacts/team/", ["email ops@example.com", "identifier lin"]),
        ("contacts/**/all.y*ml", ["email ops@example.com", "identifier lin"]),
        ("./contacts/../contacts/vip.yaml", ["id 7", "identifier grace-1"]),
    ],
)
def test_each_form_selects_its_contacts(
    declaration: Declaration, selector: str, keys: list[str]
) -> None:
    assert chosen(declaration, selector) == keys


def test_targets_add_up_and_excludes_take_away(declaration: Declaration) -> None:
    # In the files' order: contacts/team/ comes before contacts/vip.yaml.
    assert chosen(declaration, "id:7", "contacts/team") == [
        "email ops@example.com",
        "identifier lin",
        "id 7",
    ]
    assert chosen(declaration, "label:vip", exclude=("contacts/team",)) == ["id 7"]
    assert chosen(declaration, exclude=("label:vip",)) == [
        "email ops@example.com",
        "identifier grace-1",
    ]


def test_the_selection_records_what_it_chose(declaration: Declaration) -> None:
    selected = select(declaration, Selectors(targets=("label:vip",), excludes=("id:7",)))
    selection = selected.selection
    assert selection is not None
    assert (selection.declared, [str(key) for key in selection.keys]) == (4, ["identifier lin"])
    assert str(selection) == "--target label:vip --exclude id:7"
    assert not selection.removes  # selectors never release or remove
    assert not selected.covers("contacts/vip.yaml")


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("id:abc", "--target id:abc: an id is a positive whole number"),
        ("id:0", "--target id:0: an id is a positive whole number"),
        ("phone:555", "--target phone:555: a phone number is + and its digits"),
        ("email:", "--target email:: give a value after email:"),
        ("name:Ada", "--target name:Ada: name: is no selector; give id:N, identifier:X"),
        ("id:8", "--target id:8: no contact the files declare matches it"),
        ("email:nobody@example.com", "no contact the files declare matches it"),
        ("label:gold", "--target label:gold: no contact the files declare matches it"),
        ("contacts/nope.yaml", "--target contacts/nope.yaml: matches none of the files"),
        ("elsewhere/*.yaml", "matches none of the files this plan reads"),
    ],
)
def test_a_selector_that_cant_be_used_is_named(
    declaration: Declaration, selector: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        select(declaration, Selectors(targets=(selector,)))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_bad_selector_is_named_at_once(declaration: Declaration) -> None:
    with pytest.raises(ConfigError) as raised:
        select(declaration, Selectors(targets=("id:9",), excludes=("label:gold",)))
    assert "--target id:9" in str(raised.value)
    assert "--exclude label:gold" in str(raised.value)


def test_a_file_outside_the_paths_planned_matches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "one.yaml").write_text(TEAM, encoding="utf-8")
    (tmp_path / "b" / "two.yaml").write_text(VIP, encoding="utf-8")
    declaration = read_declaration(["a"], use_cache=False)
    with pytest.raises(ConfigError, match="matches none of the files this plan reads"):
        select(declaration, Selectors(targets=("b/two.yaml",)))
