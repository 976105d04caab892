"""Problems -> the text a user, GitHub Actions or a program reads.

* text:   ``file:line:col: error: path: message``, one a line (compilers' form, so editors
          and terminals link to the place)
* github: ``::error file=…,line=…,col=…::path: message`` workflow commands, which GitHub
          shows as annotations on the pull request's lines
* json:   a list of ``{file, line, column, path, message}``
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from reconciler.model import Problem


def _text(problems: Sequence[Problem]) -> str:
    return "\n".join(str(problem) for problem in problems)


def _github(problems: Sequence[Problem]) -> str:
    return "\n".join(_github_annotation(problem) for problem in problems)


def _json(problems: Sequence[Problem]) -> str:
    return json.dumps([_as_json(problem) for problem in problems], indent=2, ensure_ascii=False)


PROBLEM_FORMAT_BY_NAME: Final[Mapping[str, Callable[[Sequence[Problem]], str]]] = {
    "text": _text,
    "github": _github,
    "json": _json,
}
FORMATS: Final = tuple(PROBLEM_FORMAT_BY_NAME)


def render_problems(problems: Sequence[Problem], output_format: str) -> str:
    """All the problems in one format, without a trailing newline."""
    render = PROBLEM_FORMAT_BY_NAME.get(output_format)
    if render is None:
        raise ValueError(f"unknown problem format {output_format!r}; expected one of {FORMATS}")
    return render(problems)


def _as_json(problem: Problem) -> dict[str, str | int]:
    return {
        "file": problem.position.file,
        "line": problem.position.line,
        "column": problem.position.column,
        "path": problem.path,
        "message": problem.message,
    }


def _github_annotation(problem: Problem) -> str:
    position = problem.position
    properties = (
        f"file={_escape_property(position.file)},line={position.line},col={position.column}"
    )
    return f"::error {properties}::{_escape_data(f'{problem.path}: {problem.message}')}"


def _escape_data(text: str) -> str:
    # GitHub's workflow-command escaping (actions/toolkit, command.ts).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
