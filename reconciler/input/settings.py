"""reconciler.yaml -> Settings.

The file is optional: without it (and without --config) every setting takes the default
written in schemas/settings.schema.json, the only place defaults and rules are stated.
Credentials never come from here: only from the environment.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError, InputError
from reconciler.input.check import check_document
from reconciler.input.document import NotAFile, load_document, read_regular_file
from reconciler.input.schemas import load_schema

SETTINGS_SCHEMA = "settings"
SETTINGS_FILES = ("reconciler.yaml", "reconciler.yml")
"""Looked for, without --config, from the current directory up to the repository's root."""

PERCENT_LIMIT_MIN_CONTACTS = 10
"""A percentage ``max_changes`` applies only from this many managed contacts on."""


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """Paths plan never touches: for every contact, or for the one ``contact`` names."""

    paths: tuple[str, ...]
    contact: str | None = None  # an id, identifier or email, as written


@dataclass(frozen=True, slots=True)
class Settings:
    """What reconciler.yaml says, defaults filled in."""

    target: str  # a name in reconciler.targets.registry.TARGETS
    base_url: str | None
    concurrency: int
    timeout: float  # seconds for one answer
    rate_limit: float | None  # requests a second; None: no limit of our own
    max_changes: int | str  # a count, or a percentage like "25%"
    sensitive: tuple[str, ...]  # attribute keys --redact masks, besides the personal fields
    ignore: tuple[IgnoreRule, ...]
    deadline: float = 3600.0  # seconds the whole run may take against the desk
    account_id: int | None = None  # chatwoot: the account the files declare contacts of
    allow_plain_http: bool = False  # http:// to a host that isn't loopback, opted into
    labels: str = "exact"  # or "additive": how a contact's labels list applies
    ownership: bool = True  # the marker: what lets plan remove what the files dropped
    marker: str = "managed_by_reconciler"  # the custom_attributes key the marker is kept in
    marker_label: bool = True  # where labels can be written, the marker is also a label
    removed: str = "keep"  # a managed contact no file declares: keep, block or delete
    max_removals: int = 5  # contacts one apply may remove without --force
    delete_with_conversations: bool = False  # else one with conversations is blocked instead
    source: str | None = field(default=None, compare=False)  # the file read; None: defaults

    @property
    def marker_key(self) -> str | None:
        """The custom_attributes key of the ownership marker; None with ownership off."""
        return self.marker if self.ownership else None

    def marker_label_on(self, writes_labels: bool) -> str | None:
        """The label that also marks a managed contact (the marker's name), on a target
        that writes labels; None when there is none."""
        return self.marker_key if self.marker_label and writes_labels else None

    def change_limit(self, managed: int) -> int | None:
        """How many contacts a plan may change without --force; None: no limit."""
        if isinstance(self.max_changes, int):
            return self.max_changes
        if managed < PERCENT_LIMIT_MIN_CONTACTS:
            return None
        percent = Fraction(self.max_changes.removesuffix("%"))
        return math.floor(percent * managed / 100)


def find_settings(start: Path | None = None) -> Path | None:
    """The nearest reconciler.yaml from ``start`` (the current directory) up to the root of
    the repository it is in (the first directory holding ``.git``), as ruff and pre-commit
    find theirs; None when there is none."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for name in SETTINGS_FILES:
            candidate = directory / name
            if candidate.exists() and not candidate.is_dir():  # a FIFO too: refused on reading
                return candidate
        if (directory / ".git").exists():
            return None
    return None


def load_settings(path: str | None) -> Settings:
    """Settings from ``path``, else from the nearest reconciler.yaml, else the defaults.

    A settings file with problems raises InputError with every one of them, reported like
    the contact files' problems.
    """
    if path is None:
        found = find_settings()
        if found is None:
            return default_settings()
        path = os.path.relpath(found)
    try:
        content = read_regular_file(path)
    except NotAFile as error:
        raise ConfigError(f"the settings file {path} is {error}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such settings file; check the --config path") from None
    except OSError as error:
        raise ConfigError(f"can't read the settings file {path}: {error.strerror}") from None
    document = load_document(path, content)
    if document.data is None:  # an empty file, or only comments: every default
        document = replace(document, data={})
    problems = check_document(document, SETTINGS_SCHEMA)
    if problems:
        raise InputError(problems)
    return replace(settings_from_mapping(document.data), source=path)


@functools.cache
def default_settings() -> Settings:
    return settings_from_mapping({})


def settings_from_mapping(data: Mapping[str, Any]) -> Settings:
    """Settings from a mapping the settings schema accepts; missing keys take its defaults."""
    defaults = {
        name: subschema["default"]
        for name, subschema in load_schema(SETTINGS_SCHEMA)["properties"].items()
        if "default" in subschema
    }
    values = {**defaults, **data}
    rate_limit, max_changes = values["rate_limit"], values["max_changes"]
    return Settings(
        target=values["target"],
        base_url=values["base_url"],
        # JSON Schema counts 8.0 as an integer; Python must too.
        concurrency=int(values["concurrency"]),
        timeout=float(values["timeout"]),
        rate_limit=None if rate_limit is None else float(rate_limit),
        max_changes=max_changes if isinstance(max_changes, str) else int(max_changes),
        sensitive=tuple(values["sensitive"]),
        ignore=tuple(_ignore_rule(rule) for rule in values["ignore"]),
        deadline=float(values["deadline"]),
        account_id=None if values["account_id"] is None else int(values["account_id"]),
        allow_plain_http=bool(values["allow_plain_http"]),
        labels=values["labels"],
        ownership=bool(values["ownership"]),
        marker=values["marker"],
        marker_label=bool(values["marker_label"]),
        removed=values["removed"],
        max_removals=int(values["max_removals"]),
        delete_with_conversations=bool(values["delete_with_conversations"]),
    )


def _ignore_rule(rule: str | Mapping[str, Any]) -> IgnoreRule:
    if isinstance(rule, str):
        return IgnoreRule((rule,))
    return IgnoreRule(tuple(rule["paths"]), contact=str(rule["contact"]))
