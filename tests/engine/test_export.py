"""reconciler export: live contacts -> contact files that plan finds already in sync."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_testing import Desk, after_header, point_at, run, store_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.engine.diff import strict_equal
from reconciler.engine.export import (
    UNLISTED_NOTE,
    default_inbox,
    drop_undeclarable,
    exported_contact,
)
from reconciler.input.check import CONTACTS_SCHEMA, check_document
from reconciler.input.document import load_document
from reconciler.outputs.contactfiles import render_file
from reconciler.sandbox.server import RunningSandbox

# Values YAML would misread unquoted, and every JSON type, nested too.
TRICKY_VALUES: list[Any] = [
    1,
    1.0,
    "1",
    True,
    False,
    None,
    0,
    -0.5,
    2.5e-07,
    1.5e15,
    2**70,
    "NO",
    "yes",
    "off",
    "~",
    "null",
    "",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "12:30",
    "0x1F",
    "0o17",
    "1_000",
    "+1",
    "1e3",
    ".5",
    "-",
    "=",
    "<<",
    "#hash",
    "a: b",
    "- item",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "trailing space ",
    " leading",
    "multi\nline\n",
    "multi\nline, no end",
    "  indented\nblock\n\n",
    "tab\there",
    "unicode São ☃ 😀",
    "line\u2028separator",
    "next\x85line",
    "bell\x07",
    [],
    {},
    [1, "1", 1.0, True, "None"],  # no null: the server drops it from a list
    {"nested": {"deep": [1, {"x": None}]}, "": "empty key", "1": "numeric key"},
]
UNLISTED_IDS = (201, 202, 203)


def _live_contact(number: int) -> dict[str, Any]:
    """Contact ``number`` of 200, kinds rotating so that every field and shape is in use."""
    kind = number % 8
    email = f"person{number}@example.com" if kind in (0, 1, 4, 5, 7) else None
    phone: str | None = f"+1415555{number:04d}" if kind in (0, 2, 6) else None
    if kind == 4:
        phone = ""
    identifier = f"user-{number}" if kind in (0, 3, 5, 6) else None
    if number == 7:
        identifier = ""  # LiveDesk holds at most one blank identifier
    names: dict[int, str | None] = {6: None, 7: "", 3: "NO"}
    name = names.get(kind, f"Person {number} Ünïcødé")
    custom = {
        f"value_{index}": value
        for index, value in enumerate(TRICKY_VALUES)
        if (index + number) % 5 == 0
    }
    additional: dict[str, Any] = {}
    if number % 3:
        additional = {
            "company_name": f"Company {number % 17}",
            "city": "Oslo",
            "country_code": "NO",
            "description": "Two lines:\nrenews in March.",
            "telegram": f"tg_{number}",
            "social_profiles": {
                network: f"{network}-{number}"
                for network in ("facebook", "github", "instagram", "linkedin", "twitter")
            },
            "employees": number * 10,
            "source": None,
        }
    if number == 13:
        additional["city"] = 12  # contact files can't declare it: left out with a note
    if number == 14:
        additional["social_profiles"] = {"github": 5}
    inboxes = [{"source_id": f"s-{number}", "inbox": {"id": 1, "name": "API", "channel_type": "x"}}]
    if number % 10 == 0:
        inboxes.append({"source_id": f"t-{number}", "inbox": {"id": 2, "name": "Web"}})
    return {
        "id": number,
        "name": name,
        "email": email,
        "phone_number": phone,
        "identifier": identifier,
        "blocked": kind == 5,
        "thumbnail": f"https://avatars.example.com/{number}.png",
        "availability_status": "online" if number % 2 else "offline",
        "additional_attributes": additional,
        "custom_attributes": custom,
        "created_at": 1_700_000_000 + number,
        "last_activity_at": 1_700_100_000 + number,
        "contact_inboxes": inboxes,
    }


def _unlisted_contact(contact_id: int) -> dict[str, Any]:
    return {"id": contact_id, "name": f"Walk-in {contact_id}", "phone_number": ""}


@pytest.fixture
def sandbox_200(
    live_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, desk: Desk
) -> RunningSandbox:
    """200 listed contacts and a few unlisted ones, through each target's face in turn."""
    seed = [_live_contact(number) for number in range(1, 201)]
    seed += [_unlisted_contact(contact_id) for contact_id in UNLISTED_IDS]
    assert store_of(live_sandbox).seed_if_empty(seed)
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    return live_sandbox


def test_round_trip_of_200_contacts_single_file_and_split(
    sandbox_200: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "export", "contacts/all.yaml")
    assert code == 0, err
    assert out == "Exported 200 contacts to contacts/all.yaml (1 file written).\n"
    assert f"note: {UNLISTED_NOTE}" in err
    assert "contact 13: additional_attributes.city left out" in err
    assert "contact 14: additional_attributes.social_profiles left out" in err
    text = (tmp_path / "contacts" / "all.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schemas/contacts.schema.json\n")
    assert "defaults:\n  inbox_id: 1\ncontacts:\n  - id: 1\n" in text
    for server_managed in ("created_at", "last_activity_at", "availability_status", "thumbnail"):
        assert server_managed not in text
    assert "contact_inboxes" not in text
    assert "country_code: 'NO'" in text
    assert "Walk-in" not in text  # the listing can't return them

    code, out, err = run(capsys, "plan", "contacts/all.yaml")
    assert code == 0, err
    assert out.startswith("No changes. 200 contacts match the files.")

    code, out, _ = run(capsys, "export", "contacts/all.yaml")  # stable: nothing rewritten
    assert out == "Exported 200 contacts to contacts/all.yaml (0 files written).\n"

    code, out, err = run(capsys, "export", "--split", "split")
    assert code == 0, err
    assert out == "Exported 200 contacts to split (200 files written).\n"
    files = sorted(path.name for path in (tmp_path / "split").iterdir())
    assert files == sorted(f"contact-{number}.yaml" for number in range(1, 201))
    code, out, err = run(capsys, "plan", "split", "--detailed-exitcode")
    assert code == 0, err
    assert out.startswith("No changes. 200 contacts match the files.")


def test_export_keeps_contacts_known_by_id_and_notes_the_gone(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    store_of(live_sandbox).seed_if_empty(
        [_live_contact(1), _live_contact(2), _unlisted_contact(201), _unlisted_contact(202)]
    )
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    directory = tmp_path / "contacts"
    directory.mkdir()
    # A file an earlier export wrote, since edited into a problem, still says which ids it
    # knows (and export may overwrite it).
    (directory / "contact-201.yaml").write_text(
        "# Written by `reconciler export`\ncontacts:\n  - id: 201\n    emial: typo\n",
        encoding="utf-8",
    )
    (directory / "contact-999.yaml").write_text("contacts:\n  - id: 999\n", encoding="utf-8")

    code, out, err = run(capsys, "export", "--split", "contacts")
    assert code == 0, err
    assert out == "Exported 3 contacts to contacts (3 files written).\n"
    assert "read 1 contact(s) the listing can't return" in err
    assert "the target has no contact with id 999 any more" in err
    assert "contacts also holds files this export didn't write (contact-999.yaml)" in err
    walk_in = yaml.safe_load((directory / "contact-201.yaml").read_text(encoding="utf-8"))
    assert walk_in["contacts"] == [{"id": 201, "name": "Walk-in 201"}]  # no blocked: false
    (directory / "contact-999.yaml").unlink()
    code, out, err = run(capsys, "plan", "contacts")
    assert (code, out.splitlines()[0]) == (0, "No changes. 3 contacts match the files."), err


def test_export_to_stdout_with_a_query(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    store_of(live_sandbox).seed_if_empty([_live_contact(number) for number in range(1, 30)])
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    code, out, err = run(capsys, "export", "--query", "person1")
    assert code == 0, err
    exported = yaml.safe_load(out)
    ids = [contact["id"] for contact in exported["contacts"]]
    assert ids == [1, 12, 13, 15, 16, 17]  # person1@, person1x@ of the kinds with an email
    assert out.startswith("# yaml-language-server: $schema=schemas/contacts.schema.json\n")
    assert err.splitlines()[-1] == "Exported 6 contacts."
    assert UNLISTED_NOTE not in err  # a search is not meant to find everything


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--split"], "error: --split writes one file per contact"),
        (["export", "."], "error: . is a directory: give a file name, or use --split"),
        (["export", "--split", "file.yaml"], "error: file.yaml is a file; --split needs"),
    ],
)
def test_export_refuses_a_destination_that_cant_take_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.yaml").write_text("contacts: []\n", encoding="utf-8")
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith(message)


def test_default_inbox_is_the_most_common_then_the_lowest() -> None:
    def contact(*inbox_ids: int) -> dict[str, Any]:
        return {"contact_inboxes": [{"inbox": {"id": inbox_id}} for inbox_id in inbox_ids]}

    assert default_inbox([contact(3), contact(2, 3), contact(2)]) == 2
    assert default_inbox([contact(5), contact(5), contact(1)]) == 5
    assert default_inbox([{"id": 1}, contact()]) is None


def test_blank_keys_are_left_out_and_server_fields_never_written() -> None:
    live = _live_contact(4)
    declared = exported_contact(live)
    assert list(declared) == [
        "id",
        "email",
        "name",
        "additional_attributes",
        "custom_attributes",
    ]  # phone_number "" and identifier null: not declared, so never cleared


def test_only_a_blocked_contact_is_exported_with_blocked() -> None:
    # `blocked: false` in a file would unblock, at every apply, each contact an agent blocked
    # or (on Chatwoot) whose conversation they muted.
    assert "blocked" not in exported_contact({**_live_contact(4), "blocked": False})
    assert exported_contact({**_live_contact(4), "blocked": True})["blocked"] is True


def test_undeclarable_values_are_dropped_by_their_top_level_key() -> None:
    contacts = [exported_contact(_live_contact(14)), exported_contact(_live_contact(13))]
    notes = drop_undeclarable(contacts)
    assert "social_profiles" not in contacts[0]["additional_attributes"]
    assert "city" not in contacts[1]["additional_attributes"]
    assert contacts[1]["additional_attributes"]["social_profiles"]["github"] == "github-13"
    assert notes == [
        "contact 14: additional_attributes.social_profiles left out: LiveDesk holds a number "
        "at additional_attributes.social_profiles.github, which a contact file can't declare; "
        "it stays unmanaged",
        "contact 13: additional_attributes.city left out: LiveDesk holds a number at "
        "additional_attributes.city, which a contact file can't declare; it stays unmanaged",
    ]


def _storable(value: float) -> bool:
    # What the server stores as sent: a float under 1e16, never -0.0.
    return abs(value) < 1e16 and not (value == 0 and math.copysign(1, value) < 0)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # The server drops null from a list: a live list never holds one.
    items = children.filter(lambda value: value is not None)
    return st.lists(items, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


# Every value the server can hand back.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False).filter(_storable)
    | st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    ),  # the server can't store NUL
    _containers,
    max_leaves=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6),
    # names a file can declare: no invisible or format characters (the schema refuses them)
    name=st.none()
    | st.text(
        st.characters(exclude_categories=["Cf", "Cs"], exclude_characters="\x00"), max_size=20
    ),
)
def test_every_json_value_reads_back_with_its_type(
    attributes: dict[str, Any], name: str | None
) -> None:
    # Two contacts: what ends one (a block of text, say) must not run into the next.
    contacts = [
        exported_contact({"id": number, "name": name, "custom_attributes": attributes})
        for number in (1, 2)
    ]
    text = render_file(contacts, 1, "schemas/contacts.schema.json")
    document = load_document("export.yaml", text.encode("utf-8"))
    assert check_document(document, CONTACTS_SCHEMA) == []
    assert strict_equal(document.data["contacts"], contacts), text


def test_tricky_values_read_back_with_their_types() -> None:
    attributes = {f"k{index}": value for index, value in enumerate(TRICKY_VALUES)}
    contact = {"id": 1, "name": "NO", "blocked": True, "custom_attributes": attributes}
    text = render_file([exported_contact(contact)], None, "s.json")
    document = load_document("export.yaml", text.encode("utf-8"))
    assert check_document(document, CONTACTS_SCHEMA) == []
    (read_back,) = document.data["contacts"]
    assert strict_equal(read_back, exported_contact(contact)), text
    assert json.dumps(read_back, sort_keys=True) == json.dumps(
        exported_contact(contact), sort_keys=True
    )


def test_export_never_overwrites_a_file_it_did_not_write_without_force(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_of(live_sandbox).seed_if_empty([_live_contact(1)])
    point_at(monkeypatch, live_sandbox, tmp_path)
    hand_written = tmp_path / "mine.yaml"
    hand_written.write_text("contacts:\n  - identifier: mine\n", encoding="utf-8")
    code, out, err = run(capsys, "export", "mine.yaml")
    assert (code, out) == (1, "")
    assert after_header(err).startswith(
        "error: mine.yaml exists and was not written by reconciler export"
    )
    assert hand_written.read_text(encoding="utf-8") == "contacts:\n  - identifier: mine\n"
    code, _, err = run(capsys, "export", "mine.yaml", "--force")
    assert code == 0, err
    assert "Written by `reconciler export`" in hand_written.read_text(encoding="utf-8")
    assert run(capsys, "export", "mine.yaml")[0] == 0  # its own file: no --force needed


def test_export_refuses_a_tree_where_its_contacts_are_declared_already(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_of(live_sandbox).seed_if_empty([_live_contact(1), _live_contact(2)])
    point_at(monkeypatch, live_sandbox, tmp_path)
    assert run(capsys, "export", "contacts/all.yaml")[0] == 0
    before = (tmp_path / "contacts" / "all.yaml").read_bytes()
    for argv in (["export", "--split", "contacts"], ["export", "contacts/again.yaml", "--force"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, "")
        assert "contacts/all.yaml already declares id 1 (and " in err
        assert "nothing was written" in err
    assert sorted(path.name for path in (tmp_path / "contacts").iterdir()) == ["all.yaml"]
    assert (tmp_path / "contacts" / "all.yaml").read_bytes() == before
    assert run(capsys, "validate", "contacts")[0] == 0


# Walks that end: every counted contact, or nothing written ----------------------------------


@pytest.mark.parametrize("repeat", range(3))
def test_an_export_of_an_import_that_ties_every_contact_is_complete(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
    repeat: int,
) -> None:
    # A CSV import: one created_at for all 300, so the first walk repeats some and misses
    # others; the walks after it go by email, where nothing ties.
    store = store_of(live_sandbox)
    for n in range(300):
        store.insert({"email": f"imported{n}@example.com", "created_at": 1_700_000_000})
    point_at(monkeypatch, live_sandbox, tmp_path, desk)

    code, out, err = run(capsys, "export", "all.yaml")

    assert code == 0, err
    assert out == "Exported 300 contacts to all.yaml (1 file written).\n"
    exported = yaml.safe_load((tmp_path / "all.yaml").read_text(encoding="utf-8"))
    assert len({contact["id"] for contact in exported["contacts"]}) == 300


async def _counting_one_more(app: Any, scope: Any, receive: Any, send: Any) -> None:
    """The sandbox, its listings counting one contact more than any walk can show."""
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    started: dict[str, Any] = {}

    async def rewrite(message: Any) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
            return
        body = json.loads(message["body"])
        if isinstance(body, dict) and isinstance(body.get("meta"), dict):
            body["meta"]["count"] += 1
        raw = json.dumps(body).encode()
        headers = [(k, v) for k, v in started["headers"] if k != b"content-length"]
        await send({**started, "headers": [*headers, (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})

    await app(scope, receive, rewrite)


@pytest.mark.anyio
async def test_an_export_that_cant_see_every_counted_contact_writes_nothing(
    sandbox_app: Any,
) -> None:
    import httpx

    from reconciler.engine.export import read_export
    from reconciler.errors import IncompleteError
    from reconciler.targets.livedesk import Credentials, LiveDeskClient

    for n in range(20):
        sandbox_app.state.store.insert({"email": f"c{n}@example.com"})
    asked: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        asked.append(scope.get("query_string", b""))
        await _counting_one_more(sandbox_app, scope, receive, send)

    transport = httpx.ASGITransport(app=app)
    async with LiveDeskClient(
        "http://127.0.0.1", Credentials("sandbox", "sandbox"), transport=transport
    ) as client:
        with pytest.raises(IncompleteError) as raised:
            await read_export(client, query=None)
    assert str(raised.value).startswith(
        "LiveDesk counts 21 listed contacts, but 12 walks of its listing in 12 orders showed "
        "20: 1 missing"
    )
    assert "nothing was written" in str(raised.value)
    # Each walk after the first went in another order.
    orders = {query.split(b"sort=")[1].split(b"&")[0] for query in asked if b"sort=" in query}
    assert {b"created_at", b"email", b"-email", b"phone_number"} <= orders


@pytest.mark.anyio
async def test_a_plan_whose_scan_missed_contacts_says_so(sandbox_app: Any) -> None:
    import httpx

    from reconciler.engine.fetch import fetch_live
    from reconciler.engine.plan import make_plan
    from reconciler.input.settings import default_settings
    from reconciler.model import Declaration, DeclaredContact, Position
    from reconciler.targets.livedesk import CAPABILITIES, Credentials, LiveDeskClient

    for n in range(20):
        sandbox_app.state.store.insert({"email": f"c{n}@example.com"})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _counting_one_more(sandbox_app, scope, receive, send)

    declaration = Declaration(
        (DeclaredContact(Position("c.yaml", 3, 5), {"email": "c1@example.com"}),)
    )
    settings = default_settings()
    async with LiveDeskClient(
        "http://127.0.0.1",
        Credentials("sandbox", "sandbox"),
        transport=httpx.ASGITransport(app=app),
    ) as client:
        live = await fetch_live(client, declaration, marker_key=settings.marker_key, scan=True)
    assert live.unseen == 1
    plan = make_plan(declaration, live, settings, CAPABILITIES)
    assert plan.warnings == (
        "ties in the desk's order hid 1 listed contact(s) from every walk of the listing: a "
        "managed contact the files dropped among them is released or removed by a later plan, "
        "not this one",
    )
