from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from reconciler.changes import (
    Action,
    Change,
    FieldChange,
    Operation,
    OperationKind,
    Plan,
    TargetIdentity,
)
from reconciler.engine.planfile import plan_to_document
from reconciler.engine.redact import redact_plan
from reconciler.model import ABSENT, ContactKey, Position
from reconciler.outputs.plan import (
    color_enabled,
    render_json,
    render_markdown,
    render_plan,
    render_text,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")

TARGET = TargetIdentity("livedesk", "https://livedesk.example", "0123456789abcdef")


def update(contact_id: int = 318763, *fields: FieldChange, line: int = 4) -> Change:
    return Change(
        action=Action.UPDATE,
        key=ContactKey("id", contact_id),
        source=Position("contacts/vip.yaml", line, 5),
        fields=fields
        or (
            FieldChange("name", "Old", "New"),
            FieldChange("custom_attributes.vip_level", ABSENT, "platinum"),
        ),
        operations=(Operation(OperationKind.UPDATE, {"name": "New"}),),
        id=contact_id,
    )


def create() -> Change:
    return Change(
        action=Action.CREATE,
        key=ContactKey("identifier", "2222"),
        source=Position("contacts/partners.yaml", 20, 5),
        fields=(
            FieldChange("name", ABSENT, "Support"),
            FieldChange("email", ABSENT, "support@example.com"),
        ),
        operations=(Operation(OperationKind.CREATE, {"inbox_id": 1, "name": "Support"}),),
    )


def example_plan() -> Plan:
    return Plan(
        changes=(update(), create()), unchanged=96, created_at="2024-05-01T12:00:00Z", target=TARGET
    )


EXAMPLE_TEXT = """\
  ~ update id 318763 (contacts/vip.yaml:4)
      ~ name: "Old" -> "New"
      + custom_attributes.vip_level: "platinum"

  + create identifier 2222 (contacts/partners.yaml:20)
      + name: "Support"
      + email: "support@example.com"

Plan: 1 to create, 1 to update, 96 unchanged.
"""


# Text ------------------------------------------------------------------------------------


def test_text_has_terraforms_shape() -> None:
    assert render_text(example_plan(), color=False) == EXAMPLE_TEXT


def test_colour_only_when_enabled() -> None:
    coloured = render_text(example_plan(), color=True)
    assert "\x1b[32m+\x1b[0m" in coloured  # green +
    assert "\x1b[33m~\x1b[0m" in coloured  # yellow ~
    assert ANSI.sub("", coloured) == EXAMPLE_TEXT
    assert "\x1b" not in render_text(example_plan(), color=False)


def test_no_changes() -> None:
    assert render_text(Plan((), unchanged=98), color=False) == (
        "No changes. 98 contacts match the files.\n"
    )
    assert render_text(Plan((), unchanged=1), color=False).startswith(
        "No changes. 1 contact matches the files."
    )


def test_values_show_their_json_types() -> None:
    fields = (
        FieldChange("custom_attributes.a", 1, "1"),
        FieldChange("custom_attributes.b", 1.0, True),
        FieldChange("custom_attributes.c", None, {"x": [1, False]}),
    )
    text = render_text(Plan((update(5, *fields),), unchanged=0), color=False)
    assert '~ custom_attributes.a: 1 -> "1"\n' in text
    assert "~ custom_attributes.b: 1.0 -> true\n" in text
    assert '~ custom_attributes.c: null -> {"x": [1, false]}\n' in text


def test_a_contact_found_by_identifier_shows_both_id_and_key() -> None:
    change = Change(
        Action.UPDATE,
        ContactKey("identifier", "2222"),
        Position("c.yaml", 4, 5),
        (FieldChange("name", "A", "B"),),
        (),
        id=9,
    )
    text = render_text(Plan((change,), unchanged=0), color=False)
    assert text.startswith("  ~ update id 9, identifier 2222 (c.yaml:4)\n")


def test_control_characters_cannot_reach_the_terminal() -> None:
    fields = (FieldChange("custom_attributes.x\x1b[2J", ABSENT, "evil\x1b[31m\n"),)
    text = render_text(Plan((update(5, *fields),), unchanged=0), color=True)
    assert "\x1b[2J" not in text
    assert "\x1b[31m\n" not in text
    assert "evil\\u001b[31m\\n" in text


def test_warnings_and_redaction_follow_the_summary() -> None:
    plan = redact_plan(
        Plan((update(),), unchanged=1, warnings=("the plan is big: apply will refuse",)), ()
    )
    lines = render_text(plan, color=False).splitlines()
    assert lines[-3:] == [
        "Plan: 0 to create, 1 to update, 1 unchanged.",
        "Personal values are redacted.",
        "Warning: the plan is big: apply will refuse",
    ]


@pytest.fixture
def terminal() -> Iterator[io.TextIOWrapper]:
    main, secondary = os.openpty()
    try:
        with os.fdopen(secondary, "w") as stream:
            yield stream
    finally:
        os.close(main)


def test_colour_is_on_for_a_terminal(
    terminal: io.TextIOWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert color_enabled(terminal)


def test_no_color_and_pipes_turn_colour_off(
    terminal: io.TextIOWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert not color_enabled(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_enabled(terminal)
    monkeypatch.setenv("NO_COLOR", "")  # an empty NO_COLOR doesn't count (no-color.org)
    assert color_enabled(terminal)
    monkeypatch.setenv("TERM", "dumb")
    assert not color_enabled(terminal)


# Markdown --------------------------------------------------------------------------------


def test_markdown_is_a_pr_comment() -> None:
    comment = render_markdown(example_plan())
    assert comment.splitlines()[0] == "**Plan: 1 to create, 1 to update, 96 unchanged.**"
    assert "<details><summary>Changes to 2 contacts</summary>" in comment
    assert comment.rstrip().endswith("</details>")
    diff = comment.split("```diff\n", 1)[1].split("\n```", 1)[0]
    assert diff == (
        "! update id 318763 (contacts/vip.yaml:4)\n"
        '!     name: "Old" -> "New"\n'
        '+     custom_attributes.vip_level: "platinum"\n'
        "\n"
        "+ create identifier 2222 (contacts/partners.yaml:20)\n"
        '+     name: "Support"\n'
        '+     email: "support@example.com"'
    )


def test_markdown_without_changes_has_no_details() -> None:
    comment = render_markdown(Plan((), unchanged=98, warnings=("careful",)))
    assert comment.startswith("**No changes. 98 contacts match the files.**")
    assert "> **Warning:** careful" in comment
    assert "<details>" not in comment


def big_plan(count: int) -> Plan:
    fields = tuple(FieldChange(f"custom_attributes.k{n}", n, n + 1) for n in range(20))
    changes = tuple(update(1000 + n, *fields, line=n + 1) for n in range(count))
    return Plan(changes, unchanged=0, target=TARGET)


@pytest.mark.parametrize("limit", [60_000, 5_000, 1_234])
def test_a_long_plan_is_cut_between_contacts_with_a_note(limit: int) -> None:
    plan = big_plan(200)
    comment = render_markdown(plan, limit=limit)
    assert len(comment) <= limit
    shown = re.findall(r"^! update id (\d+) ", comment, flags=re.MULTILINE)
    assert 0 < len(shown) < 200
    # every shown contact is whole: its 20 field lines are all there
    assert comment.count("!     custom_attributes.k19: 19 -> 20") == len(shown)
    left_out = 200 - len(shown)
    assert f"_{left_out} more changes are left out to keep this comment under {limit:,}" in comment
    assert comment.rstrip().endswith("._")
    # the cut is as late as it can be: one more contact would not have fit
    one_more = render_markdown(big_plan(len(shown) + 1), limit=10**9)
    assert len(one_more) + len(f"_{left_out} more changes are left out") > limit


def test_a_plan_that_fits_is_not_cut() -> None:
    comment = render_markdown(big_plan(3))
    assert "left out" not in comment
    assert len(re.findall(r"^! update id", comment, flags=re.MULTILINE)) == 3


def test_backticks_in_values_cannot_close_the_code_block() -> None:
    fields = (FieldChange("custom_attributes.note", ABSENT, "```\n</details>"),)
    comment = render_markdown(Plan((update(5, *fields),), unchanged=0))
    assert "\n````diff\n" in comment
    assert comment.count("\n````") == 2


# JSON ------------------------------------------------------------------------------------


def test_json_is_the_plan_document() -> None:
    plan = example_plan()
    assert json.loads(render_json(plan)) == plan_to_document(plan)
    assert render_plan(plan, "json") == render_json(plan)
    assert render_plan(plan, "markdown") == render_markdown(plan)
    assert render_plan(plan, "text") == render_text(plan, color=False)


def removal(contact_id: int = 42) -> Change:
    return Change(
        action=Action.DELETE,
        key=ContactKey("identifier", "gone"),
        source=None,
        fields=(),
        operations=(Operation(OperationKind.DELETE, {}),),
        id=contact_id,
        marker='{"by":"reconciler","fields":[]}',
    )


def marker_only(contact_id: int = 7) -> Change:
    body = {"custom_attributes": {"managed_by_reconciler": '{"by":"reconciler"}'}}
    return Change(
        action=Action.UPDATE,
        key=ContactKey("id", contact_id),
        source=Position("contacts/vip.yaml", 9, 5),
        fields=(),
        operations=(Operation(OperationKind.UPDATE, body),),
        id=contact_id,
        marker='{"by":"reconciler"}',
    )


def test_a_removal_is_red_and_its_removed_values_are_minus_lines() -> None:
    dropped = update(5, FieldChange("custom_attributes.tier", "gold", ABSENT))
    plan = Plan((removal(), dropped), unchanged=0, target=TARGET)
    assert render_text(plan, color=False).splitlines()[:4] == [
        "  - delete id 42, identifier gone (no longer in the files)",
        "",
        "  ~ update id 5 (contacts/vip.yaml:4)",
        '      - custom_attributes.tier: "gold"',
    ]
    coloured = render_text(plan, color=True)
    assert "\x1b[31m-\x1b[0m delete" in coloured  # red -
    assert "Plan: 1 to remove, 0 to create, 1 to update, 0 unchanged." in coloured
    markdown = render_markdown(plan)
    assert "- delete id 42, identifier gone (no longer in the files)" in markdown
    assert '-     custom_attributes.tier: "gold"' in markdown


def test_a_marker_alone_is_counted_not_shown() -> None:
    plan = Plan((marker_only(),), unchanged=2, target=TARGET)
    assert not plan.has_changes
    text = render_text(plan, color=False)
    assert text.splitlines()[:2] == [
        "No changes. 3 contacts match the files.",
        "Apply also records reconciler's ownership marker on 1 unchanged contact.",
    ]
    assert "update" not in text and "update" not in render_markdown(plan)


def test_markdown_and_json_need_no_rich() -> None:
    # CI writes markdown to a file, and compiles every module a run imports: rich's 27
    # are for a terminal's text and progress bar alone.
    script = (
        "import sys\n"
        "from reconciler.changes import Plan, TargetIdentity\n"
        "from reconciler.outputs.plan import render_plan\n"
        "import reconciler.commands.plan\n"
        "target = TargetIdentity('livedesk', 'https://x', 'a')\n"
        "plan = Plan(changes=(), unchanged=0, target=target)\n"
        "for name in ('markdown', 'json'):\n"
        "    render_plan(plan, name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
        "render_plan(plan, 'text')\n"
        "print('rich' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.split("\n")[:2] == ["[]", "True"]
