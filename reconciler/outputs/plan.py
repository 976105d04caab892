"""Plan -> text for a terminal (Terraform's shape), markdown for a pull request, or JSON.

Values are written as JSON so their types show: ``1``, ``"1"``, ``1.0`` and ``true`` differ.
JSON also escapes control characters, so a live value can't drive the terminal.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Final, TextIO

from rich.text import Text

from reconciler.engine.planfile import dumps
from reconciler.model import ABSENT, JSON, Action, Change, FieldChange, Plan

MARKDOWN_LIMIT = 60_000
_STYLE = {"+": "green", "~": "yellow"}
_DIFF_MARK = {"+": "+", "~": "!"}  # `!` is what GitHub's diff highlighting colours orange


def color_enabled(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def render_plan(plan: Plan, output_format: str, *, color: bool = False) -> str:
    """The plan in one of the formats ``plan --format`` and ``show --format`` accept."""
    render = PLAN_FORMAT_BY_NAME.get(output_format)
    if render is None:
        raise AssertionError(f"unknown plan format {output_format!r}")
    return render(plan, color)


def print_plan(plan: Plan, output_format: str) -> None:
    """Print the plan to stdout, in colour when stdout is a terminal that wants it."""
    rendered = render_plan(plan, output_format, color=color_enabled(sys.stdout))
    print(rendered, end="" if rendered.endswith("\n") else "\n")


def render_json(plan: Plan) -> str:
    return dumps(plan)


def summary_line(plan: Plan) -> str:
    if not plan.changes:
        if plan.unchanged == 0:
            return "No changes. The files declare no contacts."
        if plan.unchanged == 1:
            return "No changes. 1 contact matches the files."
        return f"No changes. {plan.unchanged} contacts match the files."
    return f"Plan: {plan.creates} to create, {plan.updates} to update, {plan.unchanged} unchanged."


# Text -----------------------------------------------------------------------------------


def render_text(plan: Plan, *, color: bool) -> str:
    text = Text()
    for change in plan.changes:
        for index, (mark, line) in enumerate(_change_lines(change)):
            text.append("      " if index else "  ")
            text.append(mark, style=_STYLE[mark])
            text.append(f" {line}\n")
        text.append("\n")
    text.append(summary_line(plan) + "\n", style="bold")
    if plan.redacted:
        text.append("Personal values are redacted.\n")
    for warning in plan.warnings:
        text.append("Warning:", style="bold yellow")
        text.append(f" {warning}\n")
    if not color:
        return text.plain
    # Imported here: only a terminal gets colour; piped and saved output never needs it.
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=True,
        color_system="standard",
        no_color=False,
        soft_wrap=True,
        highlight=False,
        width=10_000,
    )
    console.print(text, end="")
    return buffer.getvalue()


def _change_lines(change: Change) -> Iterator[tuple[str, str]]:
    """(mark, text) for the change's header, then one per field."""
    yield ("+" if change.action is Action.CREATE else "~"), _header(change)
    for field in change.fields:
        yield _field_line(field)


def _header(change: Change) -> str:
    who = _printable(change.label)
    return f"{change.action.value} {who} ({_printable(change.source.file_line)})"


def _field_line(field: FieldChange) -> tuple[str, str]:
    path = _printable(field.path)
    if field.before is ABSENT:
        return "+", f"{path}: {_value(field.after)}"
    return "~", f"{path}: {_value(field.before)} -> {_value(field.after)}"


def _value(value: JSON) -> str:
    return json.dumps(value, ensure_ascii=False)


def _printable(text: str) -> str:
    return text if text.isprintable() else json.dumps(text)[1:-1]


# Markdown -------------------------------------------------------------------------------


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: the summary first, the changes folded, under ``limit`` chars.

    A long plan is cut between two contacts, with a note saying how many were left out.
    """
    head = [f"**{summary_line(plan)}**", ""]
    if plan.redacted:
        head += ["_Personal values are redacted._", ""]
    for warning in plan.warnings:
        head += [f"> **Warning:** {warning}", ""]
    if not plan.changes:
        return _cut("\n".join(head), limit)
    blocks = ["\n".join(_diff_lines(change)) for change in plan.changes]
    fence = "`" * max(3, _longest_backtick_run(blocks) + 1)
    count = len(plan.changes)
    noun = "contact" if count == 1 else "contacts"
    opening = "\n".join(
        [*head, f"<details><summary>Changes to {count} {noun}</summary>", "", fence + "diff", ""]
    )
    closing = "\n" + fence + "\n\n</details>\n"
    shown = len(opening) + len(closing)
    kept = 0
    for index, block in enumerate(blocks):
        separator = 2 if index else 0
        note = len(_left_out_note(count - index - 1, limit)) if index + 1 < count else 0
        if shown + separator + len(block) + note > limit:
            break
        shown += separator + len(block)
        kept += 1
    body = "\n\n".join(blocks[:kept])
    if kept < count:
        closing += _left_out_note(count - kept, limit)
    return _cut(opening + body + closing, limit)


def _diff_lines(change: Change) -> Iterator[str]:
    for index, (mark, line) in enumerate(_change_lines(change)):
        yield f"{_DIFF_MARK[mark]} {'    ' if index else ''}{line}"


def _left_out_note(left_out: int, limit: int) -> str:
    noun = "change is" if left_out == 1 else "changes are"
    return (
        f"\n_{left_out} more {noun} left out to keep this comment under {limit:,} "
        "characters; run `reconciler plan` to see them all._\n"
    )


def _longest_backtick_run(blocks: list[str]) -> int:
    return max((len(run) for block in blocks for run in re.findall("`+", block)), default=0)


def _cut(text: str, limit: int) -> str:
    # Only a limit too small for even the head of the comment gets here with a long text.
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


PLAN_FORMAT_BY_NAME: Final[Mapping[str, Callable[[Plan, bool], str]]] = {
    "text": lambda plan, color: render_text(plan, color=color),
    "json": lambda plan, _color: render_json(plan),
    "markdown": lambda plan, _color: render_markdown(plan),
}
"""Each plan format by the name ``--format`` gives it; colour matters to text alone."""
