"""The two validators agree, and both read ``pattern`` as ECMA-262 does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.input.document import load_document
from reconciler.input.schemas import ecma_regex, fast_validator_for, validator_for

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "invalid"


def agree(name: str, instance: Any) -> bool:
    fast = fast_validator_for(name).is_valid(instance)
    full = next(iter(validator_for(name).iter_errors(instance)), None) is None
    assert fast is full, instance
    return fast


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "a@b.c\n"), ("phone_number", "+14155552671\n")],
)
def test_a_trailing_newline_is_refused_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    contact = tmp_path / "c.yaml"
    quoted = value.replace("\n", "\\n")  # YAML's escape inside double quotes
    contact.write_text(f'contacts:\n  - identifier: x\n    {field}: "{quoted}"\n', "utf-8")
    assert main(["validate", "--no-cache", str(contact)]) == 1
    out = capsys.readouterr().out
    assert f"$.contacts[0].{field}" in out
    assert "c.yaml:3:" in out
    assert not agree("contacts", {"contacts": [{"identifier": "x", field: value}]})


def test_python_and_ecma_dollar_differ_and_ecma_wins() -> None:
    assert ecma_regex("^a$").find("a\n") is None
    assert ecma_regex("^a$").find("a") is not None


def test_every_corpus_file_that_loads_gets_the_same_answer_from_both() -> None:
    checked = 0
    for path in sorted(CORPUS.glob("*.yaml")):
        try:
            document = load_document(str(path), path.read_bytes())
        except InputError:
            continue
        agree("contacts", document.data)
        checked += 1
    assert checked > 20


emails = st.text(alphabet="ab@.\n \t\u00a0\ufeffé", max_size=8)
phones = st.text(alphabet="+0123456789 \n", max_size=18)


@settings(max_examples=300, deadline=None)
@given(emails, phones)
def test_the_validators_agree_on_emails_and_phones(email: str, phone: str) -> None:
    agree("contacts", {"contacts": [{"identifier": "x", "email": email}]})
    agree("contacts", {"contacts": [{"identifier": "x", "phone_number": phone}]})
