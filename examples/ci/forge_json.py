#!/usr/bin/env python3
"""JSON for the ci/ scripts, so that they need no jq (GitLab's python image has none).

    forge_json.py find MARKER TEXT_FIELD ID_FIELD < PAGES
        print the ID_FIELD of the first item whose TEXT_FIELD starts with MARKER
        (nothing when none does)
    forge_json.py count < PAGES
        print how many items the pages hold
    forge_json.py object KEY=TEXT KEY=@FILE KEY:=JSON ...
        print a JSON object: a request body

PAGES is one JSON array, or several back to back (what `gh api --paginate` prints).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def pages(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    items: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return items
        page, position = decoder.raw_decode(text, position)
        if not isinstance(page, list):
            raise SystemExit(f"forge_json.py: expected a JSON array, got {type(page).__name__}")
        items.extend(page)


def find(marker: str, text_field: str, id_field: str) -> None:
    for item in pages(sys.stdin.read()):
        text = item.get(text_field) if isinstance(item, dict) else None
        if isinstance(text, str) and text.startswith(marker):
            print(item[id_field])
            return


def request_object(arguments: list[str]) -> None:
    body: dict[str, Any] = {}
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator:
            raise SystemExit(f"forge_json.py: {argument!r} is not KEY=VALUE")
        if key.endswith(":"):
            body[key[:-1]] = json.loads(value)
        elif value.startswith("@"):
            body[key] = Path(value[1:]).read_text(encoding="utf-8")
        else:
            body[key] = value
    json.dump(body, sys.stdout, ensure_ascii=False)


def main(argv: list[str]) -> None:
    if argv[:1] == ["find"] and len(argv) == 4:
        find(*argv[1:])
    elif argv == ["count"]:
        print(len(pages(sys.stdin.read())))
    elif argv[:1] == ["object"]:
        request_object(argv[1:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
