"""The CLI's contract: exit codes, and one line instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import cli


def test_a_usage_error_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    # 2 is "there are changes" for plan --detailed-exitcode: a typo must not look like that.
    assert cli.main(["plan", "--detailed-exitcode", "--no-such-flag", "x"]) == 1
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("reconciler ")
    assert cli.main(["apply", "--help"]) == 0


def test_a_user_error_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plan", "--config", "missing.yaml", "contacts"]) == 1
    err = capsys.readouterr().err
    assert err == "error: missing.yaml: no such settings file; check the --config path\n"


def test_apply_needs_paths_or_a_plan_not_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["apply"]) == 1
    assert cli.main(["apply", "contacts", "--plan", "plan.json"]) == 1
    assert capsys.readouterr().err.count("error: apply takes either PATH... or --plan FILE") == 2


def test_a_bug_exits_3_with_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("reconciler.commands.validate.validate_command", broken)
    assert cli.main(["validate", "x"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "this is a bug in reconciler" in err


@pytest.mark.parametrize("command", [["plan"], ["apply", "--auto-approve"]])
def test_the_files_are_checked_before_anything_else_is_needed(
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LIVEDESK_API_KEY", "LIVEDESK_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "c.yaml").write_text("contacts:\n  - emial: a@example.com\n", encoding="utf-8")
    assert cli.main([*command, "c.yaml"]) == 1
    err = capsys.readouterr().err
    assert "c.yaml:2:5: error: $.contacts[0].emial: 'emial' is not a contact field" in err
    assert err.endswith("error: found 2 problems; nothing was sent\n")
    assert "LIVEDESK_API" not in err
