"""reconciler export: write the live contacts as contact files."""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.commands import EXIT_OK, plural
from reconciler.commands.connect import open_target
from reconciler.concurrency import run
from reconciler.engine import export
from reconciler.input.settings import load_settings
from reconciler.outputs import contactfiles
from reconciler.targets.base import Target


def export_command(
    path: str | None,
    *,
    split: bool,
    query: str | None,
    force: bool,
    config: str | None,
    sandbox: bool,
) -> int:
    """Write the live contacts as contact files: PATH, a file per contact, or stdout."""
    contactfiles.check_destination(path, split=split)
    settings = load_settings(config)
    known = export.known_ids(path) if query is None else set()

    async def read(target: Target) -> export.Export:
        async with target.client() as client:
            return await export.read_export(
                client, query=query, known_ids=known, marker_key=settings.marker_key
            )

    with open_target(settings, sandbox=sandbox) as target:
        found = run(read(target), deadline=settings.deadline)
    notes = list(found.notes)
    count = plural(len(found.contacts), "contact")
    if path is None:
        schema = contactfiles.schema_reference(Path.cwd())
        sys.stdout.write(contactfiles.render_file(found.contacts, found.inbox_id, schema))
        summary = f"Exported {count}."
    else:
        written, file_notes = contactfiles.write_export(found, path, split=split, force=force)
        notes += file_notes
        summary = f"Exported {count} to {path} ({plural(len(written), 'file')} written)."
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary, file=sys.stderr if path is None else sys.stdout)
    return EXIT_OK
