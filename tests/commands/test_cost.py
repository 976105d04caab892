"""A plan states its cost: the requests it made, about how many apply will send, and how
long that takes at a known pace; apply refuses up front what can't end inside its deadline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_testing import CHATWOOT, Desk, after_header, point_at, run, store_of, write_contacts

from reconciler.sandbox.server import RunningSandbox

ESTIMATE = re.compile(r"This plan made (\d+) requests?; apply will send about (\d+)")
SENT = re.compile(r"(\d+) HTTP requests sent to ")


def mixed_files(tmp_path: Path, desk: Desk) -> None:
    """Creates, updates with a nested object, and, on Chatwoot, labels."""
    labels = {"labels": ["vip"]} if desk is CHATWOOT else {}
    contacts = [{"identifier": f"new-{n}", "name": f"New {n}", **labels} for n in range(5)] + [
        {
            "identifier": f"old-{n}",
            "name": "Renamed",
            "additional_attributes": {"social_profiles": {"github": f"gh-{n}"}},
            **labels,
        }
        for n in range(5)
    ]
    write_contacts(tmp_path / "contacts", contacts)


def test_the_plan_says_about_how_many_requests_apply_will_send(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    desk: Desk,
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path, desk)
    for n in range(5):
        store_of(live_sandbox).insert({"identifier": f"old-{n}", "name": "Old"})
    mixed_files(tmp_path, desk)
    code, out, err = run(capsys, "-v", "plan", "contacts")
    assert code == 0, err
    estimate = ESTIMATE.search(out)
    assert estimate is not None, out
    made, will_send = map(int, estimate.groups())
    assert made == sum(map(int, SENT.findall(err)))  # exactly what the plan sent
    code, out, err = run(capsys, "-v", "apply", "contacts", "--auto-approve", "--force")
    assert code == 0, out + err
    sent = sum(map(int, SENT.findall(err))) - made  # apply plans again first, then applies
    assert abs(sent - will_send) <= max(2, will_send // 10), (sent, will_send)


def test_a_known_pace_says_how_long_and_every_format_has_it(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    (tmp_path / "reconciler.yaml").write_text("rate_limit: 20\n", "utf-8")
    mixed_files(tmp_path, Desk("livedesk", "", ()))
    code, out, _ = run(capsys, "plan", "contacts", "--out", "plan.json")
    assert code == 0
    assert re.search(r"apply will send about \d+, taking about \d+ s at the desk's pace\.", out)
    cost = json.loads((tmp_path / "plan.json").read_text("utf-8"))["cost"]
    assert cost["apply_seconds"] == -(-cost["apply_requests"] // 20)
    code, out, _ = run(capsys, "show", "plan.json", "--format", "markdown")
    assert "_This plan made " in out


def test_apply_refuses_up_front_what_cant_end_inside_its_deadline(
    live_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(monkeypatch, live_sandbox, tmp_path)
    (tmp_path / "reconciler.yaml").write_text(
        'rate_limit: 5\ndeadline: 3\nmax_changes: "100%"\n', "utf-8"
    )
    mixed_files(tmp_path, Desk("livedesk", "", ()))
    before = len(store_of(live_sandbox).all())
    code, _, err = run(capsys, "apply", "contacts", "--auto-approve")
    assert code == 1
    assert re.search(
        r"error: apply would send about \d+ requests, about \d+ s at the desk's pace, and the "
        r"run's deadline leaves \d s: nothing was applied; raise `deadline`",
        after_header(err),
    )
    assert len(store_of(live_sandbox).all()) == before
