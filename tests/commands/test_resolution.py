"""One person, one contact, end to end: a declared contact is found by every unique value
it declares, as the desk finds a person (both faces of a real sandbox, in listing and in
lookup mode, over a listing whose ties the sandbox orders anew each request).

Whatever apply would meet from the desk's uniqueness rules, plan says first."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_testing import (
    Desk,
    after_header,
    point_at,
    run,
    snapshot,
    store_of,
    stored,
    write_contacts,
)

from reconciler.sandbox.server import RunningSandbox

TIED = 1_700_000_000
"""One created_at for every contact, as an import gives a batch: each page of the listing
orders them anew, so a walk repeats some and misses others."""
FILLERS = 80
"""Contacts besides the test's own: 6 pages, more than a few lookups take."""
MODES = {
    # ownership on, no marker label: the whole listing is read for the orphans
    "listing": "marker_label: false\n",
    # ownership off: a few declared contacts in a larger account are looked up exactly
    "lookups": "ownership: false\n",
}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def sandbox(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    desk: Desk,
    mode: str,
) -> RunningSandbox:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    (tmp_path / "reconciler.yaml").write_text(desk.settings + MODES[mode], encoding="utf-8")
    seed(live_sandbox, *({"email": f"filler{n}@example.com"} for n in range(FILLERS)))
    return live_sandbox


def seed(sandbox: RunningSandbox, *contacts: dict[str, Any]) -> list[int]:
    store = store_of(sandbox)
    return [int(store.insert({"created_at": TIED, **contact})["id"]) for contact in contacts]


def converges(capsys: pytest.CaptureFixture[str]) -> str:
    """Apply the files in c/, then plan: No changes. The apply's output."""
    code, out, err = run(capsys, "apply", "c", "--auto-approve")
    assert code == 0, out + err
    code, again, err = run(capsys, "plan", "c", "--detailed-exitcode")
    assert code == 0, again + err
    assert again.startswith("No changes."), again
    return out


# Adoption ---------------------------------------------------------------------------------


def test_a_person_the_widget_made_by_email_is_adopted_not_created(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada,) = seed(sandbox, {"email": "ada@example.com", "name": "Ada"})
    write_contacts(
        tmp_path / "c",
        [{"identifier": "user-42", "email": "Ada@Example.com", "name": "Ada Lovelace"}],
    )
    count = store_of(sandbox).count()

    code, out, err = run(capsys, "plan", "c", "--detailed-exitcode")

    assert code == 2, out + err
    assert f"~ update id {ada}, identifier user-42, found by email (" in out
    assert '~ identifier: null -> "user-42"' in out
    assert '~ name: "Ada" -> "Ada Lovelace"' in out
    assert "+ create" not in out
    assert "Plan: 0 to create, 1 to update" in out
    converges(capsys)
    assert store_of(sandbox).count() == count  # no second Ada
    assert stored(sandbox, ada)["identifier"] == "user-42"
    assert stored(sandbox, ada)["name"] == "Ada Lovelace"


def test_a_person_the_widget_made_by_phone_is_adopted_and_given_the_rest(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (visitor,) = seed(sandbox, {"phone_number": "+14155550100", "name": "+14155550100"})
    declared = {
        "identifier": "user-43",
        "email": "grace@example.com",
        "phone_number": "+14155550100",
        "name": "Grace Hopper",
    }
    write_contacts(tmp_path / "c", [declared])

    code, out, err = run(capsys, "plan", "c", "--detailed-exitcode")

    assert code == 2, out + err
    assert f"~ update id {visitor}, identifier user-43, found by phone_number (" in out
    assert (
        '~ identifier: null -> "user-43"' in out and '~ email: null -> "grace@example.com"' in out
    )
    converges(capsys)
    assert {key: stored(sandbox, visitor)[key] for key in declared} == declared


def test_an_adopted_contact_is_applied_from_a_saved_plan(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ada,) = seed(sandbox, {"email": "ada@example.com"})
    write_contacts(tmp_path / "c", [{"identifier": "user-42", "email": "ada@example.com"}])
    plan_file = tmp_path / "plan.json"
    assert run(capsys, "plan", "c", "--out", str(plan_file))[0] == 0
    change = json.loads(plan_file.read_text("utf-8"))["changes"][0]
    assert (change["action"], change["id"], change["found_by"]) == ("update", ada, "email")

    code, out, err = run(capsys, "apply", "--plan", str(plan_file))

    assert code == 0, out + err
    assert f"id {ada}, identifier user-42, found by email (" in out
    assert stored(sandbox, ada)["identifier"] == "user-42"


# Conflicts ------------------------------------------------------------------------------


def test_a_create_whose_email_another_contact_holds_is_a_plan_error(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (other,) = seed(sandbox, {"identifier": "other-1", "email": "eve@example.com"})
    write_contacts(tmp_path / "c", [{"identifier": "user-44", "email": "EVE@example.com"}])
    before = snapshot(sandbox)

    code, _out, err = run(capsys, "apply", "c", "--auto-approve")

    assert code == 1
    (line,) = after_header(err).strip().splitlines()
    assert (
        "c/c.yaml:4: identifier user-44 is not in the desk, and a create would be refused" in line
    )
    assert (
        f"its email eve@example.com belongs to contact id {other} (identifier other-1, email "
        "eve@example.com)"
    ) in line
    assert f"declare `id: {other}`" in line and "merge the two contacts in the desk" in line
    assert snapshot(sandbox) == before  # nothing sent


def test_keys_that_find_two_contacts_are_a_plan_error_naming_both(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_email, by_phone = seed(
        sandbox,
        {"email": "ada@example.com"},
        {"phone_number": "+14155550101", "name": "Ada (WhatsApp)"},
    )
    declared = {"identifier": "u-1", "email": "ada@example.com", "phone_number": "+14155550101"}
    write_contacts(tmp_path / "c", [declared])
    before = snapshot(sandbox)

    code, _, err = run(capsys, "plan", "c")

    assert code == 1
    assert f"belongs to contact id {by_email} (email ada@example.com)" in err
    assert f"belongs to contact id {by_phone} (phone_number +14155550101)" in err
    assert snapshot(sandbox) == before


def test_a_secondary_key_that_finds_another_identity_is_not_adopted(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (other,) = seed(sandbox, {"identifier": "crm-9", "phone_number": "+14155550102"})
    write_contacts(tmp_path / "c", [{"identifier": "crm-10", "phone_number": "+14155550102"}])

    code, out, err = run(capsys, "plan", "c")

    assert code == 1, out
    assert (
        f"its phone_number +14155550102 belongs to contact id {other} (identifier crm-9, "
        "phone_number +14155550102)"
    ) in err


def test_an_update_that_would_take_another_contacts_email_is_a_plan_error(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine, theirs = seed(
        sandbox,
        {"identifier": "a", "email": "a@example.com"},
        {"identifier": "b", "email": "b@example.com"},
    )
    write_contacts(tmp_path / "c", [{"identifier": "a", "email": "b@example.com"}])
    before = snapshot(sandbox)

    code, _, err = run(capsys, "apply", "c", "--auto-approve")

    assert code == 1
    assert (
        f"identifier a is contact id {mine} (identifier a, email a@example.com), and its "
        f"update would be refused: its email b@example.com belongs to contact id {theirs}"
    ) in err
    assert snapshot(sandbox) == before


def test_a_swap_of_emails_is_refused_with_the_reason(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = seed(
        sandbox,
        {"identifier": "a", "email": "a@example.com"},
        {"identifier": "b", "email": "b@example.com"},
    )
    write_contacts(
        tmp_path / "c",
        [
            {"identifier": "a", "email": "b@example.com"},
            {"identifier": "b", "email": "a@example.com"},
        ],
    )
    before = snapshot(sandbox)

    code, _, err = run(capsys, "apply", "c", "--auto-approve")

    assert code == 1
    lines = after_header(err).strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"error: c/c.yaml:4: its email b@example.com belongs to contact id {b}"
    )
    assert "which c/c.yaml:6 gives another email: a swap or move of unique values" in lines[0]
    assert lines[1].startswith(f"c/c.yaml:6: its email a@example.com belongs to contact id {a}")
    assert snapshot(sandbox) == before


def test_a_conflict_shows_no_personal_value_under_redact(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (other,) = seed(sandbox, {"identifier": "other-1", "email": "eve@example.com"})
    write_contacts(tmp_path / "c", [{"identifier": "user-44", "email": "eve@example.com"}])

    code, out, err = run(capsys, "plan", "c", "--redact")

    assert code == 1
    assert f"belongs to contact id {other}" in err
    for personal in ("user-44", "other-1", "eve@example.com"):
        assert personal not in out + err


# Saved plans ----------------------------------------------------------------------------


def test_a_saved_create_is_stale_once_the_person_writes_in_by_another_key(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_contacts(
        tmp_path / "c", [{"identifier": "eve-1", "email": "eve@example.com", "name": "Eve"}]
    )
    plan_file = tmp_path / "plan.json"
    assert run(capsys, "plan", "c", "--out", str(plan_file))[0] == 0
    (widget,) = seed(sandbox, {"email": "Eve@Example.com", "name": "Visitor"})  # meanwhile
    before = snapshot(sandbox)

    code, _, err = run(capsys, "apply", "--plan", str(plan_file))

    assert code == 1
    assert f"stale: identifier eve-1 (c/c.yaml:4): now exists (id {widget}, found by email)" in err
    assert "nothing was applied" in err
    assert snapshot(sandbox) == before
    # Planned again, the person is adopted.
    code, out, _ = run(capsys, "plan", "c")
    assert f"~ update id {widget}, identifier eve-1, found by email" in out


def test_a_saved_update_is_stale_once_its_new_email_is_taken(
    sandbox: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (mine,) = seed(sandbox, {"identifier": "a", "email": "a@example.com"})
    write_contacts(tmp_path / "c", [{"identifier": "a", "email": "new@example.com"}])
    plan_file = tmp_path / "plan.json"
    assert run(capsys, "plan", "c", "--out", str(plan_file))[0] == 0
    (taker,) = seed(sandbox, {"email": "new@example.com"})

    code, _, err = run(capsys, "apply", "--plan", str(plan_file))

    assert code == 1
    assert (
        f"id {mine}, identifier a (c/c.yaml:4): its email now belongs to contact id {taker}" in err
    )
    assert stored(sandbox, mine)["email"] == "a@example.com"


# A key changed in place (ownership on: the contact is reconciler's) ----------------------


@pytest.mark.parametrize(
    ("before", "after", "found_by"),
    [
        (
            {"email": "old@example.com", "phone_number": "+14155550111", "name": "Ada"},
            {"email": "new@example.com", "phone_number": "+14155550111", "name": "Ada"},
            "phone_number",
        ),
        (
            {"identifier": "u-1", "email": "ada@example.com", "name": "Ada"},
            {"identifier": "U-1", "email": "ada@example.com", "name": "Ada"},
            "email",
        ),
    ],
    ids=["email", "identifier"],
)
def test_a_key_changed_in_place_is_an_update_never_a_removal_and_a_create(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
    before: dict[str, str],
    after: dict[str, str],
    found_by: str,
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    policy = "delete" if desk.name == "chatwoot" else "block"
    (tmp_path / "reconciler.yaml").write_text(
        desk.settings + f"removed: {policy}\n", encoding="utf-8"
    )
    seed(live_sandbox, *({"email": f"filler{n}@example.com"} for n in range(FILLERS)))
    write_contacts(tmp_path / "c", [before])
    code, out, err = run(capsys, "apply", "c", "--auto-approve")
    assert code == 0, out + err
    (created,) = re.findall(r"created \(id (\d+)\)", out)
    count = store_of(live_sandbox).count()
    write_contacts(tmp_path / "c", [after])

    code, out, err = run(capsys, "plan", "c", "--detailed-exitcode")

    assert code == 2, out + err
    changed = next(name for name in after if after[name] != before.get(name))
    key = "identifier" if "identifier" in after else "email"
    named = after[key].lower() if key == "email" else after[key]
    assert f"~ update id {created}, {key} {named}, found by {found_by} (" in out
    assert f'~ {changed}: "{before[changed]}" -> "{after[changed]}"' in out
    assert "Plan: 0 to create, 1 to update, 0 unchanged." in out
    for removal in ("delete", "block", "release"):
        assert removal not in out
    code, out, err = run(capsys, "apply", "c", "--auto-approve", "--allow-removal")
    assert code == 0, out + err
    assert store_of(live_sandbox).count() == count
    assert stored(live_sandbox, int(created))[changed] == after[changed]
    assert stored(live_sandbox, int(created))["blocked"] is False
    code, again, _ = run(capsys, "plan", "c", "--detailed-exitcode")
    assert code == 0 and again.startswith("No changes."), again
