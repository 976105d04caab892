"""``.reconciler/``: where commands keep state beside the files (the cache, the sandbox).

Whoever makes it marks it as what it is: a ``.gitignore`` that ignores everything in it
(so it never reaches a commit, whatever the repository's own .gitignore says), and a
``CACHEDIR.TAG`` (https://bford.info/cachedir/) so that backup tools skip it.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR = Path(".reconciler")
GITIGNORE = "# Written by reconciler: nothing in this directory belongs in Git.\n*\n"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by reconciler.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def ensure_state_dir(directory: Path = STATE_DIR) -> Path:
    """``directory``, made if missing, with its .gitignore and CACHEDIR.TAG."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in ((".gitignore", GITIGNORE), ("CACHEDIR.TAG", CACHEDIR_TAG)):
        marker = directory / name
        if not marker.exists():
            marker.write_text(text, encoding="utf-8")
    return directory
