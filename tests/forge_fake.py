"""A stand-in for `gh` and `curl` in the CI scripts' tests: records each call, answers
from a script of canned responses. Copied into a test's PATH under each tool's name.

FORGE_FAKE_LOG        JSON lines appended per call: {"tool", "argv", "stdin"}
FORGE_FAKE_RESPONSES  JSON list of {"match": [words], "stdout": str, "exit": int}: the first
                      rule whose every word is an argument (or an argument's substring, for
                      words ending in "*") answers; with none, print nothing and exit 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _reads_stdin(argv: list[str]) -> bool:
    return any(
        (previous == "--input" and argument == "-") or argument == "@-"
        for previous, argument in zip(["", *argv], argv, strict=False)
    )


def _matches(words: list[str], argv: list[str]) -> bool:
    for word in words:
        if word.endswith("*"):
            if not any(word[:-1] in argument for argument in argv):
                return False
        elif word not in argv:
            return False
    return True


def main() -> int:
    argv = sys.argv[1:]
    stdin = sys.stdin.read() if _reads_stdin(argv) else None
    record = {"tool": Path(sys.argv[0]).name, "argv": argv, "stdin": stdin}
    with Path(os.environ["FORGE_FAKE_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    rules_file = os.environ.get("FORGE_FAKE_RESPONSES")
    rules = json.loads(Path(rules_file).read_text(encoding="utf-8")) if rules_file else []
    for rule in rules:
        if _matches(rule["match"], argv):
            sys.stdout.write(rule.get("stdout", ""))
            if rule.get("exit", 0):
                sys.stderr.write(rule.get("stderr", "fake failure\n"))
            return int(rule.get("exit", 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
