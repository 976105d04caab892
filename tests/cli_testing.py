"""Helpers for end-to-end tests: contact files on disk, the CLI pointed at a live sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import main
from reconciler.engine.ownership import signed
from reconciler.engine.planfile import signature
from reconciler.sandbox.server import RunningSandbox
from reconciler.sandbox.store import Store
from reconciler.targets.base import marker_secret, plan_secret


def write_contacts(
    directory: Path, contacts: Sequence[Mapping[str, Any]], name: str = "c.yaml"
) -> Path:
    """A contact file with ``defaults.inbox_id: 1``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {"defaults": {"inbox_id": 1}, "contacts": [dict(contact) for contact in contacts]}
    (directory / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return directory


@dataclass(frozen=True)
class Desk:
    """One face of the sandbox, as the CLI reaches it: its settings and its credentials."""

    name: str
    settings: str  # what reconciler.yaml must say to pick this target
    credential_variables: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


LIVEDESK = Desk("livedesk", "", ("LIVEDESK_API_KEY", "LIVEDESK_API_SECRET"))
CHATWOOT = Desk("chatwoot", "target: chatwoot\naccount_id: 1\n", ("CHATWOOT_API_TOKEN",))
DESKS = (LIVEDESK, CHATWOOT)


SECRETS = {
    LIVEDESK.name: marker_secret("livedesk", "sandbox:sandbox"),
    CHATWOOT.name: marker_secret("chatwoot", "sandbox-token"),
}
"""What each face's sandbox credentials sign ownership markers with (targets.base)."""


def signed_marker(content: str, contact_id: int, desk: Desk) -> str:
    """An ownership marker as apply against ``desk``'s sandbox face writes it."""
    return signed(content, contact_id, SECRETS[desk.name])


def point_at(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: RunningSandbox,
    workdir: Path,
    desk: Desk = LIVEDESK,
) -> None:
    """Run the CLI in ``workdir`` against ``sandbox``'s face for ``desk``, with its
    credentials (both faces'), and a reconciler.yaml there that picks ``desk``."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("LIVEDESK_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("LIVEDESK_API_KEY", "sandbox")
    monkeypatch.setenv("LIVEDESK_API_SECRET", "sandbox")
    monkeypatch.setenv("CHATWOOT_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", "sandbox-token")
    monkeypatch.delenv("NO_COLOR", raising=False)
    if desk.settings:
        write_settings(workdir, desk)


def write_settings(directory: Path, desk: Desk, text: str = "") -> Path:
    """``directory``/reconciler.yaml: what picks ``desk``, then ``text``."""
    path = directory / "reconciler.yaml"
    path.write_text(desk.settings + text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``reconciler ARGV``: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def store_of(sandbox: RunningSandbox) -> Store:
    store: Store = sandbox.app.state.store
    return store


def stored(sandbox: RunningSandbox, contact_id: int) -> dict[str, Any]:
    record = store_of(sandbox).get(contact_id)
    assert record is not None
    return dict(record)


def snapshot(sandbox: RunningSandbox) -> str:
    """Every stored contact, as text, to show that nothing was written."""
    return json.dumps(store_of(sandbox).all(), sort_keys=True)


PLAN_KEYS = {
    LIVEDESK.name: plan_secret("livedesk", "sandbox:sandbox"),
    CHATWOOT.name: plan_secret("chatwoot", "sandbox-token"),
}
"""What each face's sandbox credentials sign saved plans with (targets.base)."""


def edited(path: Path, edit: Callable[[dict[str, Any]], None], *, rechecksum: bool = True) -> None:
    """A saved plan edited by hand and signed again, as only a holder of the credential
    could (the checks behind the signature must hold on their own), unless not."""
    document = json.loads(path.read_text("utf-8"))
    edit(document)
    if rechecksum:
        document["checksum"] = signature(document, PLAN_KEYS[document["target"]["kind"]])
    path.write_text(json.dumps(document), "utf-8")


def after_header(err: str) -> str:
    """A command's stderr after its header line (``Settings: ... Target: ...``), which a
    run against a target prints first, whatever the outcome."""
    first, _, rest = err.partition("\n")
    assert first.startswith("Settings: "), err
    return rest
