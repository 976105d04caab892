"""The settings' ``ignore`` rules: the paths of a declared contact that plan leaves alone."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from reconciler.fields import comparable
from reconciler.input.settings import Settings
from reconciler.model import JSON, DeclaredContact


def ignored_paths(
    settings: Settings, declared: DeclaredContact, live_id: int | None, used_rules: set[int]
) -> list[str]:
    paths: list[str] = []
    for index, rule in enumerate(settings.ignore):
        if rule.contact is None:
            paths.extend(rule.paths)
        elif _names_contact(rule.contact, declared, live_id):
            used_rules.add(index)
            paths.extend(rule.paths)
    return paths


def _names_contact(name: str, declared: DeclaredContact, live_id: int | None) -> bool:
    ids = {str(number) for number in (live_id, declared.id) if number is not None}
    if name in ids:
        return True
    if declared.fields.get("identifier") == name:
        return True
    email = declared.fields.get("email")
    return isinstance(email, str) and comparable("email", email) == comparable("email", name)


def without_paths(fields: Mapping[str, JSON], paths: Collection[str]) -> Mapping[str, JSON]:
    """``fields`` without each dotted path (and all under it); the input is not modified."""
    for path in paths:
        fields = _without(fields, path.split("."))
    return fields


def _without(value: Mapping[str, JSON], parts: Sequence[str]) -> Mapping[str, JSON]:
    head, rest = parts[0], parts[1:]
    if head not in value:
        return value
    if not rest:
        return {key: child for key, child in value.items() if key != head}
    child = value[head]
    if not isinstance(child, Mapping):
        return value  # a path under a scalar: the scalar is compared whole
    return {**value, head: _without(child, rest)}
