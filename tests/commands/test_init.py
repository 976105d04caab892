"""reconciler init, schema and completion; the CI files as CI users' tools check them; and
the package's own face: its version, its flags from the environment, .reconciler/."""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from pathlib import Path

import pytest
from ci_checks import (
    load,
    run_blocks,
    schema_problems,
    shellcheck_problems,
    unresolved_schema_comments,
    workflows_of,
    zizmor_audit,
    zizmor_findings,
)
from cli_testing import run

import reconciler
from reconciler.input.cache import UNUSED_FOR, FileCache
from reconciler.input.schemas import load_schema
from reconciler.statedir import CACHEDIR_TAG

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize("target", ["livedesk", "chatwoot"])
def test_init_writes_a_repository_that_passes_as_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
) -> None:
    repo = tmp_path / "contacts-repo"
    code, out, _ = run(capsys, "init", str(repo), "--target", target)
    assert code == 0 and f"for {target}" in out
    monkeypatch.chdir(repo)
    (repo / ".git").mkdir()  # settings are looked for up to the repository's root
    for name in ("LIVEDESK_BASE_URL", "CHATWOOT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert run(capsys, "validate", "contacts")[0] == 0
    code, out, err = run(capsys, "plan", "contacts", "--sandbox", "--detailed-exitcode")
    assert code == 2, err
    assert f"Target: {target} at sandbox:" in err
    assert "+ create identifier example-1" in out
    # Every $schema comment resolves, to the schemas this reconciler checks with.
    assert unresolved_schema_comments(repo) == []
    for name in ("contacts", "settings"):
        copied = json.loads((repo / "schemas" / f"{name}.schema.json").read_text("utf-8"))
        assert copied == load_schema(name)
    # The workflows as GitHub, zizmor and shellcheck read them.
    workflows = workflows_of(repo)
    assert [file.name for file in workflows] == ["apply.yml", "drift.yml", "plan.yml"]
    assert schema_problems("vendor.github-workflows", workflows) == ""
    assert zizmor_findings(repo) == ""
    assert zizmor_audit(repo) == ""  # credentials in environments only, and the rest
    snippets = [block for file in workflows for block in run_blocks(load(file))]
    assert shellcheck_problems([], snippets, tmp_path) == ""
    readme = (repo / "README.md").read_text("utf-8")
    secret = "LIVEDESK_API_SECRET" if target == "livedesk" else "CHATWOOT_API_TOKEN"
    assert secret in readme
    assert ".reconciler/" in (repo / ".gitignore").read_text("utf-8")
    example = (repo / "contacts" / "example.yaml").read_text("utf-8")
    assert ("inbox_id" in example) is (target == "livedesk")  # Chatwoot needs no inbox
    assert "repository secrets" in readme and "environments" in readme


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("mine\n", encoding="utf-8")
    code, _, err = run(capsys, "init", str(tmp_path))
    assert code == 1 and "already has README.md: nothing was written" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md"]
    assert (tmp_path / "README.md").read_text("utf-8") == "mine\n"


def test_the_action_and_the_examples_pass_ci_checks(tmp_path: Path) -> None:
    assert schema_problems("vendor.github-actions", [ROOT / "action.yml"]) == ""
    assert schema_problems("vendor.github-workflows", workflows_of(EXAMPLES)) == ""
    assert schema_problems("vendor.gitlab-ci", [EXAMPLES / ".gitlab-ci.yml"]) == ""
    # zizmor reads the action beside the example workflows, as in a repository of both.
    checked = tmp_path / "repo"
    (checked / ".github" / "workflows").mkdir(parents=True)
    for file in workflows_of(EXAMPLES):
        (checked / ".github" / "workflows" / file.name).write_bytes(file.read_bytes())
    (checked / ".github" / "zizmor.yml").write_bytes(
        (EXAMPLES / ".github" / "zizmor.yml").read_bytes()
    )
    (checked / "action.yml").write_bytes((ROOT / "action.yml").read_bytes())
    assert zizmor_findings(checked) == ""
    scripts = sorted((EXAMPLES / "ci").glob("*.sh"))
    gitlab = load(EXAMPLES / ".gitlab-ci.yml")
    snippets = [block for file in workflows_of(EXAMPLES) for block in run_blocks(load(file))]
    snippets += run_blocks(load(ROOT / "action.yml"))
    snippets += [
        "\n".join(job["script"])
        for job in gitlab.values()
        if isinstance(job, dict) and "script" in job
    ]
    assert shellcheck_problems(scripts, snippets, tmp_path) == ""
    assert unresolved_schema_comments(EXAMPLES) == []
    for name in ("contacts", "settings"):
        copied = json.loads((EXAMPLES / "schemas" / f"{name}.schema.json").read_text("utf-8"))
        assert copied == load_schema(name)


def test_the_linters_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    steps: 3\n", encoding="utf-8")
    assert schema_problems("vendor.github-workflows", [bad]) != ""
    assert shellcheck_problems([], ["echo $UNQUOTED_VARIABLE"], tmp_path) != ""
    (tmp_path / "repo" / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "repo" / ".github" / "workflows" / "w.yml").write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n",
        encoding="utf-8",
    )
    assert zizmor_findings(tmp_path / "repo") != ""


@pytest.mark.parametrize("name", ["contacts", "settings", "plan"])
def test_schema_prints_each_schema(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema", name)
    assert code == 0
    assert json.loads(out) == load_schema(name)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0 and "reconciler" in out and "_ARGCOMPLETE" in out


def test_the_version_is_written_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version")[:2] == (0, f"reconciler {reconciler.__version__}\n")
    assert importlib.metadata.version("contacts-reconciler") == reconciler.__version__
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject
    assert (ROOT / "LICENSE").read_text("utf-8").startswith("MIT License")


def test_flags_from_the_environment_and_help_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = run(capsys, "--help")
    assert code == 0
    for listed in ("RECONCILER_CONFIG", "RECONCILER_REDACT", "RECONCILER_NO_COLOR", "130"):
        assert listed in text
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "repo")
    monkeypatch.chdir(tmp_path / "repo")
    (tmp_path / "repo" / ".git").mkdir()
    monkeypatch.setenv("RECONCILER_REDACT", "1")
    monkeypatch.setenv("RECONCILER_SANDBOX", "true")
    monkeypatch.setenv("RECONCILER_NO_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, _ = run(capsys, "plan", "contacts")
    assert code == 0, out
    assert "Personal values are redacted." in out and "someone@example.com" not in out
    assert os.environ.get("NO_COLOR") == "1"


def test_the_state_directory_is_marked_and_its_cache_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "repo")
    monkeypatch.chdir(tmp_path / "repo")
    assert run(capsys, "validate", "contacts")[0] == 0
    state = tmp_path / "repo" / ".reconciler"
    assert (state / ".gitignore").read_text("utf-8").splitlines()[-1] == "*"
    assert (state / "CACHEDIR.TAG").read_text("utf-8") == CACHEDIR_TAG
    cache = FileCache(state / "cache", "digest", b"k" * 32)
    old, fresh = state / "cache" / "old-entry", state / "cache" / "fresh-entry"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    then = time.time() - UNUSED_FOR - 60
    os.utime(old, (then, then))
    (state / "cache" / ".pruned").unlink(missing_ok=True)
    assert cache.prune() == 1
    assert not old.exists() and fresh.exists()
    assert cache.prune() == 0  # at most once a day
