"""YAML events -> plain JSON values, with the position of every value in side tables.

Values are built straight from the events of PyYAML's C parser. Its C composer would keep
the marks too, but it recurses in C (a file nested some 50,000 levels deep crashes the
interpreter) and is several times slower than the event stream. Building from events also
lets us refuse what would lose data or eat memory: duplicate keys, alias bombs, tags that
are not plain data, and values JSON can't hold (dates, infinities).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeAlias

import yaml
from yaml.events import (
    AliasEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from reconciler.input.scalars import (
    BOOL,
    IMPLICIT_RESOLVERS,
    MERGE_TAG,
    NUL_PROBLEM,
    PLAIN_MAP_TAGS,
    PLAIN_SEQ_TAGS,
    STR,
    TIMESTAMP,
    VALUE_TAG,
    resolve,
    tag_problem,
    typed_value,
)
from reconciler.input.yamlversions import version_problem
from reconciler.model import JSON, Position, Problem

KeyPath: TypeAlias = tuple[str | int, ...]
"""Where a value is: mapping keys and list indices from the top, like jsonschema's paths."""

LineColumn: TypeAlias = tuple[int, int]

MAX_VALUES: Final = 4_000_000
MAX_ALIAS_VALUES: Final = 200_000
MAX_DEPTH: Final = 100

_VALUE, _KEY, _BOOL_TEXT = 0, 1, 2  # kinds of entries in an anchor's record


def json_path(path: KeyPath) -> str:
    """``("contacts", 3, "email")`` -> ``$.contacts[3].email`` (odd keys in brackets)."""
    parts = ["$"]
    for element in path:
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif element.isidentifier():
            parts.append(f".{element}")
        else:
            quoted = element.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{quoted}']")
    return "".join(parts)


class FatalProblem(Exception):
    """A problem after which the rest of the file can't be read."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _Merge:
    """The pending key of a mapping whose next value is a ``<<`` merge."""


_NO_KEY: Final = object()
_MERGE: Final = _Merge()


@dataclass(slots=True, eq=False)
class _Anchor:
    value: JSON
    entries: list[tuple[int, KeyPath, Any]]  # (kind, path relative to the anchor, payload)
    size: int  # values in it, counting those under nested aliases


class _Frame:
    """A mapping or list being built."""

    __slots__ = (
        "anchor",
        "container",
        "is_map",
        "key",
        "log_start",
        "merge_list",
        "merges",
        "path",
    )

    def __init__(self, path: KeyPath, container: Any, is_map: bool, merge_list: bool = False):
        self.path = path
        self.container = container  # dict or list
        self.is_map = is_map
        self.key: Any = _NO_KEY  # mappings: the key awaiting its value
        self.anchor: str | None = None
        self.log_start = 0
        self.merges: list[_Anchor] = []
        self.merge_list = merge_list  # the list after ``<<:``, made only of aliases


class ValueBuilder:
    """Builds one document's values; ``problems`` gathers those that don't stop it."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.marks: dict[KeyPath, LineColumn] = {}
        self.key_marks: dict[KeyPath, LineColumn] = {}
        self.bool_texts: dict[KeyPath, str] = {}
        self.tables: tuple[dict[KeyPath, Any], ...] = (self.marks, self.key_marks, self.bool_texts)
        self.problems: list[Problem] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.log: list[tuple[int, KeyPath, Any]] = []  # entries made while an anchor is open
        self.recording = 0
        self.values = 0
        self.alias_values = 0

    def build(self, content: bytes) -> JSON:
        parser = yaml.CSafeLoader(content)
        try:
            parser.get_event()  # StreamStartEvent
            if isinstance(parser.get_event(), StreamEndEvent):
                return None  # an empty file
            data = self._document(parser.get_event)
            parser.get_event()  # DocumentEndEvent
            event = parser.get_event()
            if not isinstance(event, StreamEndEvent):
                self._fatal(
                    event,
                    (),
                    "a contact file holds one YAML document; move what follows this `---` "
                    "to a file of its own",
                )
            return data
        finally:
            parser.dispose()

    def _document(self, next_event: Callable[[], Event | None]) -> JSON:  # noqa: PLR0915
        # The two inline fast paths (a plain key; an untyped scalar with no anchor or tag)
        # take nearly every event of a contact file without a method call: this loop is
        # most of the time validate spends on a cold file.
        stack: list[_Frame] = []
        marks, key_marks, typed_first = self.marks, self.key_marks, IMPLICIT_RESOLVERS
        while True:
            event: Any = next_event()
            kind = type(event)
            if stack:
                top = stack[-1]
                if top.is_map:
                    key = top.key
                    if key is _NO_KEY:
                        if kind is ScalarEvent:
                            text = event.value
                            if text not in top.container and text != "<<" and not self.recording:
                                mark = event.start_mark
                                key_marks[(*top.path, text)] = (mark.line + 1, mark.column + 1)
                                top.key = text
                                continue
                        elif kind is MappingEndEvent:
                            value = self._close(stack.pop())
                            if not stack:
                                return value
                            self._place(stack[-1], value)
                            continue
                        self._take_key(top, event)
                        continue
                    if key is _MERGE:
                        self._take_merge(stack, event)
                        continue
                    path = (*top.path, key)
                elif kind is SequenceEndEvent:
                    frame = stack.pop()
                    if frame.merge_list:
                        stack[-1].merges.extend(frame.merges)
                        stack[-1].key = _NO_KEY
                        continue
                    value = self._close(frame)
                    if not stack:
                        return value
                    self._place(stack[-1], value)
                    continue
                elif top.merge_list:
                    self._take_merge(stack, event)
                    continue
                else:
                    path = (*top.path, len(top.container))
            else:
                path = ()

            if kind is ScalarEvent:
                text = event.value
                if (
                    event.tag is None
                    and event.anchor is None
                    and not self.recording
                    and (not event.implicit[0] or text[:1] not in typed_first)
                ):
                    self.values += 1
                    if self.values > MAX_VALUES:
                        self._too_many(event, path)
                    mark = event.start_mark
                    marks[path] = (mark.line + 1, mark.column + 1)
                    value = text
                    if "\x00" in text:
                        self._value_problem(event, path, NUL_PROBLEM)
                else:
                    value = self._scalar(event, path)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._open(stack, event, path, is_map=kind is MappingStartEvent)
                continue
            elif kind is AliasEvent:
                value = self._alias(event, path).value
            else:  # pragma: no cover - libyaml emits no other event inside a document
                raise AssertionError(f"unexpected YAML event {event!r}")
            if not stack:
                return value
            top = stack[-1]
            if top.is_map:
                top.container[top.key] = value
                top.key = _NO_KEY
            else:
                top.container.append(value)

    @staticmethod
    def _place(top: _Frame, value: JSON) -> None:
        if top.is_map:
            top.container[top.key] = value
            top.key = _NO_KEY
        else:
            top.container.append(value)

    def _record(self, kind: int, path: KeyPath, payload: Any) -> None:
        self.tables[kind][path] = payload
        if self.recording:
            self.log.append((kind, path, payload))

    def _count(self, event: Event, path: KeyPath) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            self._too_many(event, path)

    def _too_many(self, event: Event, path: KeyPath) -> NoReturn:
        self._fatal(event, path, f"the file holds more than {MAX_VALUES:,} values; split it up")

    def _open(self, stack: list[_Frame], event: Any, path: KeyPath, *, is_map: bool) -> None:
        self._count(event, path)
        if len(stack) >= MAX_DEPTH:
            self._fatal(
                event, path, f"is nested more than {MAX_DEPTH} levels deep; flatten the data"
            )
        frame = _Frame(path, {} if is_map else [], is_map)
        if event.anchor is not None:
            frame.anchor = event.anchor
            frame.log_start = len(self.log)
            self.open_anchors.add(event.anchor)
            self.recording += 1
        mark = event.start_mark
        self._record(_VALUE, path, (mark.line + 1, mark.column + 1))
        if event.tag not in (PLAIN_MAP_TAGS if is_map else PLAIN_SEQ_TAGS):
            self._tag_problem(event, path)
        stack.append(frame)

    def _close(self, frame: _Frame) -> JSON:
        value = frame.container
        if frame.merges:
            value = self._merge(frame)
        if frame.anchor is not None:
            entries = self.log[frame.log_start :]
            depth = len(frame.path)
            relative = [(kind, path[depth:], payload) for kind, path, payload in entries]
            size = sum(1 for kind, _, _ in entries if kind == _VALUE)
            self.anchors[frame.anchor] = _Anchor(value, relative, size)
            self.open_anchors.discard(frame.anchor)
            self.recording -= 1
            if not self.recording:
                self.log.clear()
        return value

    def _take_key(self, top: _Frame, event: Any) -> None:
        path = top.path
        if not isinstance(event, ScalarEvent):
            what = "an alias" if isinstance(event, AliasEvent) else "a mapping or a list"
            self._fatal(event, path, f"a key must be plain text, not {what}; write the key out")
        text = event.value
        if text == "<<" and event.tag is None and event.implicit[0]:
            top.key = _MERGE
            return
        key_path = (*path, text)
        mark: Any = event.start_mark
        if text in top.container:
            first_line = self.key_marks[key_path][0]
            message = (
                f"duplicate key '{text}': line {first_line} has it too, and YAML would keep "
                "only the last one; remove one of them"
            )
            position = Position(self.file, mark.line + 1, mark.column + 1)
            self.problems.append(Problem(position, json_path(key_path), message))
        self._record(_KEY, key_path, (mark.line + 1, mark.column + 1))
        top.key = text

    def _take_merge(self, stack: list[_Frame], event: Any) -> None:
        top = stack[-1]
        if isinstance(event, AliasEvent):
            anchor = self._alias(event, top.path, merging=True)
            top.merges.append(anchor)
            if not top.merge_list:
                top.key = _NO_KEY
        elif isinstance(event, SequenceStartEvent) and not top.merge_list:
            stack.append(_Frame(top.path, [], False, merge_list=True))
        else:
            self._fatal(event, top.path, "`<<` merges anchored mappings only: write `<<: *name`")

    def _merge(self, frame: _Frame) -> dict[str, JSON]:
        explicit: dict[str, JSON] = frame.container
        merged: dict[str, JSON] = {}
        source_of: dict[str, _Anchor] = {}
        for anchor in frame.merges:  # the first mapping named wins, the explicit keys over all
            for key, value in anchor.value.items():
                if key not in explicit and key not in source_of:
                    merged[key] = value
                    source_of[key] = anchor
        for anchor in dict.fromkeys(source_of.values()):
            for kind, relative, payload in anchor.entries:
                if relative and source_of.get(relative[0]) is anchor:  # type: ignore[arg-type]
                    self._record(kind, frame.path + relative, payload)
        merged.update(explicit)
        return merged

    def _alias(self, event: Any, path: KeyPath, *, merging: bool = False) -> _Anchor:
        name = event.anchor
        anchor = self.anchors.get(name)
        if anchor is None:
            if name in self.open_anchors:
                message = f"the alias *{name} is inside its own anchor; JSON can't hold a loop"
            else:
                message = f"the alias *{name} has no anchor &{name} before it; define it first"
            self._fatal(event, path, message)
        if merging and not isinstance(anchor.value, dict):
            self._fatal(event, path, f"`<<` can merge only a mapping, and *{name} is not one")
        self.alias_values += anchor.size
        if self.alias_values > MAX_ALIAS_VALUES:
            self._fatal(
                event,
                path,
                f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (an alias bomb?); "
                "write the values out instead of repeating aliases",
            )
        if not merging:
            for kind, relative, payload in anchor.entries:
                self._record(kind, path + relative, payload)
            mark = event.start_mark
            self._record(_VALUE, path, (mark.line + 1, mark.column + 1))
        return anchor

    def _scalar(self, event: Any, path: KeyPath) -> JSON:
        self._count(event, path)
        mark = event.start_mark
        self._record(_VALUE, path, (mark.line + 1, mark.column + 1))
        text: str = event.value
        tag = event.tag
        if tag is None:
            tag = resolve(text) if event.implicit[0] else STR
        value, problem = typed_value(text, tag)
        if problem is not None:
            self._value_problem(event, path, problem)
        elif tag == BOOL and text not in ("true", "false"):
            self._record(_BOOL_TEXT, path, text)
        if event.tag is None and event.implicit[0] and tag != TIMESTAMP and not self._refused(path):
            problem = version_problem(text, value if tag not in (MERGE_TAG, VALUE_TAG) else text)
            if problem is not None:
                self._value_problem(event, path, problem)
        if event.anchor is not None:
            entries: list[tuple[int, KeyPath, Any]] = [(_VALUE, (), self.marks[path])]
            if path in self.bool_texts:
                entries.append((_BOOL_TEXT, (), self.bool_texts[path]))
            self.anchors[event.anchor] = _Anchor(value, entries, 1)
        return value

    def _refused(self, path: KeyPath) -> bool:
        """Whether a problem was already found at ``path`` (one problem a value)."""
        return bool(self.problems) and self.problems[-1].path == json_path(path)

    def _value_problem(self, event: Any, path: KeyPath, message: str) -> None:
        mark = event.start_mark
        position = Position(self.file, mark.line + 1, mark.column + 1)
        self.problems.append(Problem(position, json_path(path), message))

    def _tag_problem(self, event: Any, path: KeyPath) -> None:
        self._value_problem(event, path, tag_problem(event.tag))

    def _fatal(self, event: Any, path: KeyPath, message: str) -> NoReturn:
        mark = event.start_mark
        position = Position(self.file, mark.line + 1, mark.column + 1)
        raise FatalProblem(Problem(position, json_path(path), message))
