"""reconciler validate: check contact files offline."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.commands import EXIT_ERROR, EXIT_OK, plural
from reconciler.errors import InputError
from reconciler.input.declaration import read_declaration
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
    if output_format == "json":
        print(render_problems([], output_format))
    elif output_format == "text":
        files = plural(len(declaration.sources), "file")
        print(f"{files}, {plural(len(declaration.contacts), 'contact')}: valid.")
    return EXIT_OK
