from __future__ import annotations

import json

import pytest

from reconciler.model import Position, Problem
from reconciler.outputs.problems import render_problems

PROBLEMS = [
    Problem(Position("contacts/vip.yaml", 12, 5), "$.contacts[3].emial", "'emial' is bad"),
    Problem(Position("a,b:c.yaml", 1, 1), "$", "100% wrong\nsecond line"),
]


def test_text_is_one_line_a_problem() -> None:
    assert render_problems(PROBLEMS[:1], "text") == (
        "contacts/vip.yaml:12:5: error: $.contacts[3].emial: 'emial' is bad"
    )
    assert render_problems([], "text") == ""


def test_github_annotations_escape_what_workflow_commands_need() -> None:
    assert render_problems(PROBLEMS, "github").splitlines() == [
        "::error file=contacts/vip.yaml,line=12,col=5::$.contacts[3].emial: 'emial' is bad",
        "::error file=a%2Cb%3Ac.yaml,line=1,col=1::$: 100%25 wrong%0Asecond line",
    ]


def test_json_is_a_list_of_objects() -> None:
    assert json.loads(render_problems(PROBLEMS[:1], "json")) == [
        {
            "file": "contacts/vip.yaml",
            "line": 12,
            "column": 5,
            "path": "$.contacts[3].emial",
            "message": "'emial' is bad",
        }
    ]
    assert json.loads(render_problems([], "json")) == []


def test_json_keeps_non_ascii_readable() -> None:
    problem = Problem(Position("équipe.yaml", 1, 1), "$", "ok")
    assert "équipe.yaml" in render_problems([problem], "json")


def test_an_unknown_format_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown problem format"):
        render_problems(PROBLEMS, "xml")
