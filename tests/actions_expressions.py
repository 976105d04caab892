"""A small evaluator of GitHub Actions expressions, for the workflow tests.

It reads what the example workflows and action.yml use: dotted names (looked up in a dict,
missing ones are ""), 'strings', true/false, !, ==, != (case-insensitive on strings, as
GitHub compares), && and || (which return an operand, as GitHub's do), cancelled(),
always(), success(), failure() and parentheses. Anything else fails the test that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(\|\||&&|==|!=|!|\(|\)|'(?:[^']|'')*'|[A-Za-z_][\w.\-\[\]']*\(\)|[A-Za-z_][\w.\-]*)"
)
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def truthy(value: Any) -> bool:
    return value not in ("", None, False, 0, "false")


def evaluate(expression: str, names: Mapping[str, Any], *, failed: bool = False) -> Any:
    """The value of ``expression`` (with or without ``${{ }}``)."""
    match = _EXPRESSION.fullmatch(expression.strip())
    text = match.group(1) if match else expression
    tokens = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None or not found.group(1):
            if text[position:].strip() == "":
                break
            raise AssertionError(f"the test can't read {text!r} at {text[position:]!r}")
        tokens.append(found.group(1))
        position = found.end()
    value, rest = _or(tokens, names, failed)
    assert not rest, f"the test can't read {text!r}: left {rest}"
    return value


def substitute(text: str, names: Mapping[str, Any]) -> str:
    """``text`` with each ``${{ ... }}`` replaced by its value."""
    return _EXPRESSION.sub(lambda match: _text(evaluate(match.group(1), names)), text)


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _or(tokens: list[str], names: Mapping[str, Any], failed: bool) -> tuple[Any, list[str]]:
    left, tokens = _and(tokens, names, failed)
    while tokens[:1] == ["||"]:
        right, tokens = _and(tokens[1:], names, failed)
        left = left if truthy(left) else right
    return left, tokens


def _and(tokens: list[str], names: Mapping[str, Any], failed: bool) -> tuple[Any, list[str]]:
    left, tokens = _compare(tokens, names, failed)
    while tokens[:1] == ["&&"]:
        right, tokens = _compare(tokens[1:], names, failed)
        left = right if truthy(left) else left
    return left, tokens


def _compare(tokens: list[str], names: Mapping[str, Any], failed: bool) -> tuple[Any, list[str]]:
    left, tokens = _unary(tokens, names, failed)
    while tokens[:1] in (["=="], ["!="]):
        operator = tokens[0]
        right, tokens = _unary(tokens[1:], names, failed)
        same = _text(left).casefold() == _text(right).casefold()
        left = same if operator == "==" else not same
    return left, tokens


def _unary(tokens: list[str], names: Mapping[str, Any], failed: bool) -> tuple[Any, list[str]]:
    head, rest = tokens[0], tokens[1:]
    if head == "!":
        value, rest = _unary(rest, names, failed)
        return not truthy(value), rest
    if head == "(":
        value, rest = _or(rest, names, failed)
        assert rest[:1] == [")"], "unbalanced parentheses"
        return value, rest[1:]
    if head.startswith("'"):
        return head[1:-1].replace("''", "'"), rest
    if head in ("true", "false"):
        return head == "true", rest
    functions = {"cancelled()": False, "always()": True, "success()": not failed}
    functions["failure()"] = failed
    if head in functions:
        return functions[head], rest
    assert not head.endswith(")"), f"the test can't evaluate {head}"
    return names.get(head, ""), rest
