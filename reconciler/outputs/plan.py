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
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Final, TextIO

from reconciler.changes import Action, Change, FieldChange, KindChange, Plan
from reconciler.engine.cost import cost_line
from reconciler.engine.planfile import dumps
from reconciler.model import ABSENT, JSON

MARKDOWN_LIMIT = 60_000
_STYLE = {"+": "green", "~": "yellow", "-": "red"}
_DIFF_MARK = {"+": "+", "~": "!", "-": "-"}  # `!` is what GitHub's diff highlighting colours orange
_HEADER_MARK = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.RELEASE: "~",
    Action.BLOCK: "-",
    Action.DELETE: "-",
}


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
    unchanged = plan.unchanged + plan.marks  # a marker alone changes nothing a person sees
    if not plan.has_changes:
        if unchanged == 0 and plan.selection is not None:
            line = "No changes. The selection holds no contacts."
        elif unchanged == 0:
            line = "No changes. The files declare no contacts."
        elif unchanged == 1:
            line = "No changes. 1 contact matches the files."
        else:
            line = f"No changes. {unchanged} contacts match the files."
    else:
        removing = f"{plan.removals} to remove, " if plan.removals else ""
        line = (
            f"Plan: {removing}{plan.creates} to create, {plan.updates} to update, "
            f"{unchanged} unchanged."
        )
        if plan.releases:
            line += f" {plan.releases} no longer managed, to release."
    return line


def partial_line(plan: Plan, quote: Callable[[str], str] = str) -> str | None:
    """What part of the declared contacts a partial plan covers, and what that leaves."""
    selection = plan.selection
    if selection is None:
        return None
    dropped = f", and {selection.dropped} the files dropped" if selection.dropped else ""
    line = (
        f"Partial plan: {len(selection.keys)} of {selection.declared} declared contacts"
        f"{dropped} ({quote(_printable(str(selection)))}). Contacts outside it may still differ"
    )
    if not selection.removes:
        return line + "; it releases and removes nothing."
    return line + "; it releases and removes only contacts the files dropped since then."


def kinds_line(plan: Plan) -> str | None:
    """What the plan does to the other kinds: ``Attribute definitions: 1 to create.``"""
    if not plan.kinds:
        return None
    lines = []
    for kind in dict.fromkeys(change.kind for change in plan.kinds):
        changes = [change for change in plan.kinds if change.kind == kind]
        counts = ", ".join(
            f"{sum(1 for c in changes if c.action is action)} to {action.value}"
            for action in (Action.CREATE, Action.UPDATE, Action.DELETE)
            if any(c.action is action for c in changes)
        )
        lines.append(f"{_kind_name(kind).capitalize()}s: {counts}.")
    return " ".join(lines)


def _kind_name(kind: str) -> str:
    return kind.replace("_", " ")


def marks_line(plan: Plan) -> str | None:
    """The bookkeeping apply does besides: markers written where nothing else changes."""
    if not plan.marks:
        return None
    noun = "contact" if plan.marks == 1 else "contacts"
    return f"Apply also records reconciler's ownership marker on {plan.marks} unchanged {noun}."


def shown_changes(plan: Plan) -> list[Change]:
    """The changes a person reads: not the marker-only ones."""
    return [
        change for change in plan.changes if change.action is not Action.UPDATE or change.fields
    ]


# Text -----------------------------------------------------------------------------------


def render_text(plan: Plan, *, color: bool) -> str:
    # Imported here: markdown and JSON (what CI writes) never need rich, 27 modules of it.
    from rich.text import Text

    text = Text()
    changes: list[Change | KindChange] = [*plan.kinds, *shown_changes(plan)]
    for change in changes:
        for index, (mark, line) in enumerate(_change_lines(change)):
            text.append("      " if index else "  ")
            text.append(mark, style=_STYLE[mark])
            text.append(f" {line}\n")
        text.append("\n")
    text.append(summary_line(plan) + "\n", style="bold")
    kinds = kinds_line(plan)
    if kinds is not None:
        text.append(kinds + "\n", style="bold")
    partial = partial_line(plan)
    if partial is not None:
        text.append(partial + "\n", style="bold yellow")
    marks = marks_line(plan)
    if marks is not None:
        text.append(marks + "\n")
    if plan.redacted:
        text.append("Personal values are redacted.\n")
    if plan.cost is not None:
        text.append(cost_line(plan.cost) + "\n")
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


def _change_lines(change: Change | KindChange) -> Iterator[tuple[str, str]]:
    """(mark, text) for the change's header, then one per field."""
    if isinstance(change, KindChange):
        header = f"{change.action.value} {_kind_name(change.kind)} {_printable(change.key)}"
        yield _HEADER_MARK[change.action], f"{header} ({_printable(change.where)})"
    else:
        yield _HEADER_MARK[change.action], _header(change)
    for field in change.fields:
        yield _field_line(field)


def _header(change: Change) -> str:
    who = _printable(change.label)
    header = f"{change.action.value} {who} ({_printable(change.where)})"
    conversations = change.conversations_text
    if conversations and change.action is Action.DELETE:
        header += f", and its {conversations}"
    elif change.conversations == 0 and change.action is Action.DELETE:
        header += ", which has no conversations"
    elif conversations:
        header += f": not deleted, for its {conversations} (delete_with_conversations)"
    return header


def _field_line(field: FieldChange) -> tuple[str, str]:
    path = _printable(field.path)
    if field.before is ABSENT:
        return "+", f"{path}: {_value(field.after)}"
    if field.after is ABSENT:
        return "-", f"{path}: {_value(field.before)}"
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
    kinds = kinds_line(plan)
    if kinds is not None:
        head += [f"**{kinds}**", ""]
    partial = partial_line(plan, quote=_code)
    if partial is not None:
        head += [f"> {partial}", ""]
    marks = marks_line(plan)
    if marks is not None:
        head += [f"_{marks}_", ""]
    if plan.redacted:
        head += ["_Personal values are redacted._", ""]
    if plan.cost is not None:
        head += [f"_{cost_line(plan.cost)}_", ""]
    for warning in plan.warnings:
        head += [f"> **Warning:** {warning}", ""]
    changes: list[Change | KindChange] = [*plan.kinds, *shown_changes(plan)]
    if not changes:
        return _cut("\n".join(head), limit)
    blocks = ["\n".join(_diff_lines(change)) for change in changes]
    fence = "`" * max(3, _longest_backtick_run(blocks) + 1)
    count = len(changes)
    opening = "\n".join(
        [*head, f"<details><summary>Changes to {_counted(plan)}</summary>", "", fence + "diff", ""]
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


def _counted(plan: Plan) -> str:
    """``3 contacts``, ``1 attribute definition and 2 contacts``."""
    counts = Counter(_kind_name(change.kind) for change in plan.kinds)
    counts["contact"] = len(shown_changes(plan))
    parts = [f"{n} {noun}{'' if n == 1 else 's'}" for noun, n in counts.items() if n]
    return " and ".join(parts)


def _diff_lines(change: Change | KindChange) -> Iterator[str]:
    for index, (mark, line) in enumerate(_change_lines(change)):
        yield f"{_DIFF_MARK[mark]} {'    ' if index else ''}{line}"


def _left_out_note(left_out: int, limit: int) -> str:
    noun = "change is" if left_out == 1 else "changes are"
    return (
        f"\n_{left_out} more {noun} left out to keep this comment under {limit:,} "
        "characters; run `reconciler plan` to see them all._\n"
    )


def _code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds."""
    fence = "`" * (_longest_backtick_run([text]) + 1)
    return f"{fence} {text} {fence}"


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
