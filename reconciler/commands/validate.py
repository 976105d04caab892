"""reconciler validate: check contact files offline (against the schema, and against the
contact attribute definitions the last plan read, where it read some)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from reconciler.commands import EXIT_ERROR, EXIT_OK, plural
from reconciler.engine.definitions import check_values, load_snapshot
from reconciler.errors import InputError, ReconcilerError
from reconciler.input.declaration import read_declaration
from reconciler.input.settings import default_settings, load_settings
from reconciler.model import Declaration, Problem
from reconciler.outputs.problems import render_problems


def validate_command(paths: Sequence[str], *, output_format: str, use_cache: bool) -> int:
    """Check contact files offline: print every problem, or a one-line summary if none."""
    try:
        declaration = read_declaration(paths, use_cache=use_cache)
    except InputError as error:
        print(render_problems(error.problems, output_format))
        if output_format == "text":
            count = len({problem.position.file for problem in error.problems})
            print(f"{plural(len(error.problems), 'problem')} in {plural(count, 'file')}.")
        return EXIT_ERROR
    problems = _against_definitions(declaration)
    if problems:
        print(render_problems(problems, output_format))
        if output_format == "text":
            count = len({problem.position.file for problem in problems})
            print(f"{plural(len(problems), 'problem')} in {plural(count, 'file')}.")
        return EXIT_ERROR
    if output_format == "json":
        print(render_problems([], output_format))
    elif output_format == "text":
        files = plural(len(declaration.sources), "file")
        print(f"{files}, {plural(len(declaration.contacts), 'contact')}: valid.")
    return EXIT_OK


def _against_definitions(declaration: Declaration) -> list[Problem]:
    """The values the attribute definitions the last plan read refuse (offline), and
    warnings on stderr for undefined keys; nothing where no plan kept them."""
    snapshot = load_snapshot()
    if snapshot is None:
        return []
    if isinstance(snapshot, str):
        print(f"warning: {snapshot}", file=sys.stderr)
        return []
    settings_marker = _marker_key()
    problems, warnings = check_values(declaration.contacts, snapshot.definitions, settings_marker)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if problems or warnings:
        print(
            f"(custom attributes checked against the definitions of {snapshot.target}, "
            f"read by plan at {snapshot.read_at})",
            file=sys.stderr,
        )
    return problems


def _marker_key() -> str | None:
    """The ownership marker's key as the settings name it; the default where they can't
    be read (validate needs no settings, and doesn't fail for them)."""
    try:
        return load_settings(None).marker_key
    except ReconcilerError:
        return default_settings().marker_key
