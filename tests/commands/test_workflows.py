"""The CI examples run as written: the GitHub workflows' and GitLab jobs' shell steps are
read from their YAML and run with bash against a live sandbox, `reconciler` on PATH, and a
recorder in place of `gh` and `curl` (tests/forge_fake.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from actions_expressions import evaluate, substitute, truthy

import reconciler
from reconciler.commands.connect import DEMO_CONTACTS
from reconciler.input.declaration import read_declaration
from reconciler.input.settings import load_settings
from reconciler.sandbox.server import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WORKFLOWS = EXAMPLES / ".github" / "workflows"
PLAN_MARKER = "<!-- reconciler-plan -->"
DRIFT_MARKER = "<!-- reconciler-drift -->"
DEMO_SUMMARY = "Plan: 2 to create, 3 to update, 18 unchanged."
HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"
GITLAB_JOB_URL = "https://gitlab.example.com/acme/contacts/-/jobs/99"
ACTION = "reconciler-dev/reconciler"


# The runner -----------------------------------------------------------------------------


@dataclass
class StepRun:
    name: str
    outcome: str  # success, failure, skipped
    stdout: str = ""
    stderr: str = ""


@dataclass
class Runner:
    """A copy of examples/ as a repository, and what its CI jobs need around it."""

    repo: Path
    tmp: Path
    sandbox: RunningSandbox
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.tmp / "forge-calls.jsonl"

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        self.log.unlink()
        return [json.loads(line) for line in lines]

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        responses = self.tmp / "forge-responses.json"
        responses.write_text(json.dumps(self.responses), encoding="utf-8")
        kept = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
        return {
            **kept,
            "PATH": f"{self.tmp / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(Path(reconciler.__file__).resolve().parent.parent),
            "FORGE_FAKE_LOG": str(self.log),
            "FORGE_FAKE_RESPONSES": str(responses),
            "NO_COLOR": "1",
            **extra,
        }

    def bash(self, script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        file = self.tmp / "step.sh"
        file.write_text(script, encoding="utf-8")
        return subprocess.run(  # GitHub's `shell: bash`, GitLab's bash: errexit, pipefail
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(file)],
            cwd=self.repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # GitHub Actions

    def github_env(self, **expressions: str) -> tuple[dict[str, str], dict[str, str]]:
        """(the runner's environment, the values of the expressions the workflows use)."""
        runner = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/contacts",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SHA": "f" * 40,
            "GITHUB_STEP_SUMMARY": str(self.tmp / "step-summary.md"),
            "GITHUB_OUTPUT": str(self.tmp / "step-output.txt"),
            "RUNNER_TEMP": str(self.tmp / "runner-temp"),
        }
        values = {
            "secrets.LIVEDESK_API_KEY": "sandbox",
            "secrets.LIVEDESK_API_SECRET": "sandbox",
            "vars.LIVEDESK_BASE_URL": self.sandbox.base_url,
            "secrets.CHATWOOT_API_TOKEN": "",  # unset, as in a LiveDesk repository
            "vars.CHATWOOT_BASE_URL": "",
            "vars.RECONCILER_PIP_SPEC": "",  # the shim on PATH is reconciler
            "github.token": "ghs_fake_token",
            "vars.RECONCILER_CHANGED_SINCE": "",  # off, as init writes it
            "github.event.before": "",
            "github.event.pull_request.base.sha": "",
            "github.event.pull_request.number": "7",
            "github.event.pull_request.head.sha": HEAD_SHA,
            "github.event.pull_request.head.repo.full_name": "acme/contacts",
            "github.event.pull_request.user.login": "octocat",
            "github.repository": "acme/contacts",
            "github.sha": "f" * 40,
            "github.event_name": "pull_request",
            "github.ref": "refs/heads/main",
            "github.event.repository.default_branch": "main",
            "inputs.force": "",
            "inputs.allow_removal": "",
            **expressions,
        }
        return runner, values

    def run_github_job(self, workflow: str, job: str, **expressions: str) -> list[StepRun]:
        """Run the job's shell steps, and those of the reconciler action where it is used
        (the action's own `uses:` steps, setup-python, are GitHub's and are left out)."""
        document = yaml.safe_load((self.repo / ".github" / "workflows" / workflow).read_text())
        runner, values = self.github_env(**expressions)
        base = {**_substituted(document.get("env", {}), values)}
        spec = document["jobs"][job]
        base.update(_substituted(spec.get("env", {}), values))
        runs: list[StepRun] = []
        for step in spec["steps"]:
            failed = any(run.outcome == "failure" for run in runs)
            uses = step.get("uses", "")
            if uses.startswith(ACTION + "@"):
                runs += self._run_action(step, runner, base, values, failed=failed)
            elif not uses:
                runs.append(self._run_step(step, runner, base, values, {}, failed=failed))
        return runs

    def _run_action(
        self,
        step: Mapping[str, Any],
        runner: dict[str, str],
        base: dict[str, str],
        values: dict[str, str],
        *,
        failed: bool,
    ) -> list[StepRun]:
        action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
        names: dict[str, Any] = {**values, "github.action_path": str(ROOT)}
        for name, spec in action["inputs"].items():
            names[f"inputs.{name}"] = substitute(str(spec.get("default", "")), names)
        for name, value in step.get("with", {}).items():
            names[f"inputs.{name}"] = substitute(str(value), values)
        outer = {**base, **_substituted(step.get("env", {}), values)}
        outcomes: dict[str, str] = {}
        runs: list[StepRun] = []
        for inner in action["runs"]["steps"]:
            # setup-python is GitHub's; the install is the shim on PATH (install.sh itself
            # runs in the GitLab jobs and passes shellcheck).
            if "uses" in inner or inner.get("name") == "Install reconciler":
                continue
            command = re.search(r"inputs\.command == '(\w+)'", str(inner.get("if", "")))
            if command and command.group(1) != names["inputs.command"]:
                continue  # another command's step: not part of this run
            for step_id, outcome in outcomes.items():
                names[f"steps.{step_id}.outcome"] = outcome
            done = self._run_step(inner, runner, outer, names, outcomes, failed=failed)
            failed = failed or done.outcome == "failure"
            if inner.get("name") == "Check the command" and done.outcome == "skipped":
                continue  # the guard of a known command: not one of the command's steps
            runs.append(done)
        return runs

    def _run_step(
        self,
        step: Mapping[str, Any],
        runner: dict[str, str],
        base: dict[str, str],
        names: Mapping[str, Any],
        outcomes: dict[str, str],
        *,
        failed: bool,
    ) -> StepRun:
        condition = step.get("if")
        if condition is None:
            runs_now = not failed
        else:
            value = truthy(evaluate(str(condition), names, failed=failed))
            has_status = re.search(r"\b(cancelled|always|success|failure)\(\)", str(condition))
            runs_now = value if has_status else value and not failed
        name = step.get("name", step["run"])
        step_id = step.get("id", name)
        if not runs_now:
            outcomes[step_id] = "skipped"
            return StepRun(name, "skipped")
        assert "${{" not in step["run"], "pass expressions to run: blocks through env"
        env = self.env({**runner, **base, **_substituted(step.get("env", {}), names)})
        done = self.bash(step["run"], env)
        outcome = "success" if done.returncode == 0 else "failure"
        outcomes[step_id] = outcome
        return StepRun(name, outcome, done.stdout, done.stderr)

    # GitLab CI

    def gitlab_env(self) -> dict[str, str]:
        return {
            "GITLAB_CI": "true",
            "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_PROJECT_DIR": str(self.repo),
            "CI_MERGE_REQUEST_IID": "7",
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHA": HEAD_SHA,
            "CI_JOB_URL": GITLAB_JOB_URL,
            "GITLAB_TOKEN": "glpat-fake-token",
            "LIVEDESK_API_KEY": "sandbox",
            "LIVEDESK_API_SECRET": "sandbox",
            "LIVEDESK_BASE_URL": self.sandbox.base_url,
        }

    def run_gitlab_job(self, job: str) -> subprocess.CompletedProcess[str]:
        document = yaml.safe_load((self.repo / ".gitlab-ci.yml").read_text(encoding="utf-8"))
        spec = document[job]
        predefined = self.gitlab_env()
        variables = {**document.get("variables", {}), **spec.get("variables", {})}
        expanded = {
            name: string.Template(str(value)).safe_substitute(predefined)
            for name, value in variables.items()
        }
        lines = [*spec.get("before_script", document["default"]["before_script"])]
        lines += spec["script"]
        return self.bash("\n".join(lines) + "\n", self.env({**predefined, **expanded}))


def _substituted(env: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    for value in env.values():
        for name in re.findall(r"\b(?:secrets|vars|inputs|github|steps)\.[\w.\-]+", str(value)):
            assert name in values, f"the test has no value for {name}"
    return {name: substitute(str(value), values) for name, value in env.items()}


@pytest.fixture
def runner(tmp_path: Path, live_sandbox: RunningSandbox) -> Iterator[Runner]:
    """examples/ copied as a repository; the sandbox seeded with the demo's drifted contacts."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    tools = tmp_path / "bin"
    tools.mkdir()
    shim = tools / "reconciler"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n', encoding="utf-8")
    fake = (ROOT / "tests" / "forge_fake.py").read_text(encoding="utf-8")
    for name in ("gh", "curl"):
        (tools / name).write_text(f"#!{sys.executable}\n{fake}", encoding="utf-8")
    for tool in tools.iterdir():
        tool.chmod(0o755)
    seed = json.loads(DEMO_CONTACTS.read_text(encoding="utf-8"))
    assert live_sandbox.app.state.store.seed_if_empty(seed)
    yield Runner(repo, tmp_path, live_sandbox)


SENSITIVE_ATTRIBUTES = ("social_profiles", "telegram", "description")  # examples/reconciler.yaml


def _personal_values() -> set[str]:
    """Every declared and demo-seeded name, email, phone, identifier and sensitive value.

    A company's name is no one's personal data: a contact named like its company (in an
    attribute that is not sensitive) may show as part of that attribute.
    """
    declaration = read_declaration([str(EXAMPLES / "contacts")], use_cache=False)
    contacts: list[Mapping[str, Any]] = [contact.fields for contact in declaration.contacts]
    contacts += json.loads(DEMO_CONTACTS.read_text(encoding="utf-8"))
    personal: set[str] = set()
    public = [GITLAB_JOB_URL]  # the example domains of the CI's own links
    for contact in contacts:
        for name in ("name", "email", "phone_number", "identifier"):
            if isinstance(contact.get(name), str) and contact[name]:
                personal.add(contact[name])
        attributes = contact.get("additional_attributes") or {}
        for key, value in attributes.items():
            if key == "social_profiles":
                personal.update(str(handle) for handle in value.values())
            elif key in SENSITIVE_ATTRIBUTES:
                personal.add(str(value))
            else:
                public.append(str(value))
    return {value for value in personal if not any(value in text for text in public)}


def _assert_no_personal_data(*texts: str) -> None:
    leaked = sorted(value for value in _personal_values() for text in texts if value in text)
    assert not leaked, f"personal values in the output: {leaked}"


def _sent_bodies(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(call["stdin"]) for call in calls if call["stdin"] is not None]


# The files ------------------------------------------------------------------------------


def test_github_workflows_have_their_triggers_permissions_and_groups() -> None:
    plan = yaml.safe_load((WORKFLOWS / "plan.yml").read_text(encoding="utf-8"))
    apply = yaml.safe_load((WORKFLOWS / "apply.yml").read_text(encoding="utf-8"))
    drift = yaml.safe_load((WORKFLOWS / "drift.yml").read_text(encoding="utf-8"))
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    assert set(plan[True]) == {"pull_request"}  # never pull_request_target
    for workflow in (plan, apply, drift):
        assert workflow["permissions"] == {}  # each job says what it needs
    jobs = plan["jobs"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    assert "secrets." not in json.dumps(jobs["validate"])  # validate needs none: forks too
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["plan"]["needs"] == jobs["fork"]["needs"] == "validate"
    assert "head.repo.full_name == github.repository" in jobs["plan"]["if"]
    assert "dependabot[bot]" in jobs["plan"]["if"]
    assert "head.repo.full_name != github.repository" in jobs["fork"]["if"]
    assert jobs["fork"]["permissions"] == {}
    assert plan["concurrency"]["cancel-in-progress"] is True

    assert apply[True]["push"] is None  # every branch: the job's `if` keeps the default one
    assert apply["concurrency"] == {
        "group": "reconciler-apply-${{ github.ref }}",
        "cancel-in-progress": False,
    }
    assert apply["jobs"]["apply"]["environment"] == "reconciler"
    assert apply["jobs"]["apply"]["permissions"] == {"contents": "read"}
    default_branch = (
        "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    )
    assert apply["jobs"]["apply"]["if"] == default_branch

    assert set(drift[True]) == {"schedule", "workflow_dispatch"}
    assert re.fullmatch(r"[\d*/,-]+( [\d*/,-]+){4}", drift[True]["schedule"][0]["cron"])
    assert drift["jobs"]["drift"]["permissions"] == {"contents": "read", "issues": "write"}
    assert drift["jobs"]["drift"]["if"] == default_branch
    assert not drift["concurrency"]["group"].startswith("reconciler-apply")  # never drops one
    assert jobs["plan"]["environment"] == "reconciler-plan"  # secrets in environments only
    for workflow in (plan, apply, drift):
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), "expressions reach scripts only via env"
                uses = step.get("uses", "")
                # Third-party actions by full commit, the version in a comment (zizmor too).
                assert (
                    not uses
                    or uses.startswith(ACTION + "@")
                    or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses)
                ), uses
                secrets = {k: v for k, v in step.get("env", {}).items() if "secrets." in str(v)}
                assert set(secrets) <= {
                    "LIVEDESK_API_KEY",
                    "LIVEDESK_API_SECRET",
                    "CHATWOOT_API_TOKEN",
                }
    assert PLAN_MARKER in (EXAMPLES / "ci" / "plan.sh").read_text(encoding="utf-8")


def test_apply_runs_on_the_default_branch_whatever_its_name(runner: Runner) -> None:
    apply = yaml.safe_load((WORKFLOWS / "apply.yml").read_text(encoding="utf-8"))
    assert apply[True]["push"] is None  # no branch named: a push to master triggers it too
    assert "github.event.repository.default_branch" in apply["jobs"]["apply"]["if"]
    on_master = {
        "github.ref": "refs/heads/master",
        "github.event.repository.default_branch": "master",
    }
    steps = runner.run_github_job("apply.yml", "apply", **on_master)
    assert [step.outcome for step in steps] == ["success"], steps[-1].stderr


def test_an_unknown_command_fails_the_job(runner: Runner) -> None:
    document = {
        "jobs": {"x": {"steps": [{"uses": f"{ACTION}@v0.1.0", "with": {"command": "aply"}}]}}
    }
    workflows = runner.repo / ".github" / "workflows"
    (workflows / "typo.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    steps = runner.run_github_job("typo.yml", "x")
    assert [step.outcome for step in steps] == ["failure"]
    assert "command must be validate, plan, apply or drift, not 'aply'" in steps[0].stdout


def test_the_plan_step_says_whether_there_are_changes(runner: Runner) -> None:
    steps = runner.run_github_job("plan.yml", "plan")
    assert steps[0].outcome == "success", steps[0].stderr
    assert (runner.tmp / "step-output.txt").read_text("utf-8") == "changes=true\n"


def test_the_example_workflows_are_the_ones_init_writes() -> None:
    templates = Path(reconciler.__file__).parent / "templates" / "github"
    for name in ("plan.yml", "apply.yml", "drift.yml"):
        assert (WORKFLOWS / name).read_text("utf-8") == (templates / name).read_text("utf-8")
    zizmor = (EXAMPLES / ".github" / "zizmor.yml").read_text("utf-8")
    assert zizmor == (templates / "zizmor.yml").read_text("utf-8")


def test_gitlab_jobs_have_their_rules_and_resource_group() -> None:
    config = yaml.safe_load((EXAMPLES / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    assert config["apply"]["resource_group"] == "reconciler-apply"
    assert config["apply"]["rules"][0]["if"] == (
        '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'
    )
    assert "schedule" in config["drift"]["rules"][0]["if"]
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in config["drift"]["rules"][0]["if"]
    assert set(config["stages"]) == {"validate", "plan", "apply", "drift"}
    # validate needs no secret and runs for every merge request; plan only with credentials.
    assert config["validate"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "$LIVEDESK_API_KEY || $CHATWOOT_API_TOKEN" in config["plan"]["rules"][0]["if"]


def test_example_settings_and_contacts_are_valid() -> None:
    settings = load_settings(str(EXAMPLES / "reconciler.yaml"))
    assert "additional_attributes.social_profiles" in settings.sensitive
    chatwoot = load_settings(str(EXAMPLES / "chatwoot" / "reconciler.yaml"))
    assert (chatwoot.target, chatwoot.account_id) == ("chatwoot", 3)
    assert chatwoot.sensitive == settings.sensitive
    assert len(read_declaration([str(EXAMPLES / "contacts")], use_cache=False).contacts) >= 20


def test_pre_commit_hook_validates_contact_files_only(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "reconciler-validate"
    assert hook["entry"] == "reconciler validate"
    assert (hook["language"], hook["pass_filenames"]) == ("python", True)

    def selected(path: str) -> bool:  # pre-commit's own test: re.search on each
        return bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)

    assert selected("contacts/customers/vip.yaml")
    assert selected("team.yml")
    for other in (
        "reconciler.yaml",
        "config/reconciler.yml",
        ".pre-commit-config.yaml",
        ".gitlab-ci.yml",
        ".github/workflows/plan.yml",
        "contacts/README.md",
    ):
        assert not selected(other), other
    files = sorted(
        str(path.relative_to(EXAMPLES))
        for path in EXAMPLES.rglob("*")
        if path.is_file() and selected(str(path.relative_to(EXAMPLES)))
    )
    assert files and all(file.startswith("contacts/") for file in files)


# GitHub ---------------------------------------------------------------------------------


def test_github_plan_drift_apply_cycle(runner: Runner) -> None:
    workdir = runner.tmp / "runner-temp" / "reconciler"
    runner.responses = [  # the plan comment is the second comment, on the second page
        {
            "match": ["api", "--paginate", "repos/acme/contacts/issues/7/comments*"],
            "stdout": json.dumps([{"id": 1, "body": "LGTM"}])
            + json.dumps([{"id": 99, "body": f"{PLAN_MARKER}\nan older plan"}]),
        }
    ]
    steps = runner.run_github_job("plan.yml", "plan")
    assert [step.outcome for step in steps] == ["success"] * 3
    comment = (workdir / "comment.md").read_text(encoding="utf-8")
    assert comment.startswith(PLAN_MARKER + "\n")
    assert f"**{DEMO_SUMMARY}**" in comment
    assert "<details>" in comment
    assert "</details>" in comment
    assert "[CI run](https://github.com/acme/contacts/actions/runs/4242)" in comment
    assert HEAD_SHA[:12] in comment
    summary = (runner.tmp / "step-summary.md").read_text(encoding="utf-8")
    assert summary == comment
    calls = runner.calls()
    assert [call["argv"][:4] for call in calls] == [
        ["api", "--paginate", "repos/acme/contacts/issues/7/comments?per_page=100"],
        ["api", "--method", "PATCH", "repos/acme/contacts/issues/comments/99"],
    ]
    assert _sent_bodies(calls) == [{"body": comment}]
    logs = [text for step in steps for text in (step.stdout, step.stderr)]
    _assert_no_personal_data(comment, *logs)

    runner.responses = []  # no drift issue open yet
    (drift,) = [
        step
        for step in runner.run_github_job("drift.yml", "drift")
        if step.name.startswith("Check")
    ]
    assert drift.outcome == "success", drift.stderr
    calls = runner.calls()
    assert calls[0]["argv"] == [
        "api",
        "--paginate",
        "repos/acme/contacts/issues?labels=reconciler-drift&state=open&per_page=100",
    ]
    # The label is created first (GitHub answers "already exists" when it is there).
    assert calls[1]["argv"][:4] == ["api", "--method", "POST", "repos/acme/contacts/labels"]
    assert "name=reconciler-drift" in calls[1]["argv"]
    assert calls[2]["argv"][:4] == ["api", "--method", "POST", "repos/acme/contacts/issues"]
    (issue,) = _sent_bodies(calls)
    assert issue["labels"] == ["reconciler-drift"]
    assert issue["title"] == "The help desk has drifted from the contact files"
    assert issue["body"].startswith(DRIFT_MARKER + "\n")
    assert DEMO_SUMMARY in issue["body"]
    _assert_no_personal_data(issue["body"], drift.stdout, drift.stderr)
    assert DEMO_SUMMARY in (runner.tmp / "step-summary.md").read_text(encoding="utf-8")

    steps = runner.run_github_job("apply.yml", "apply")
    assert [step.outcome for step in steps] == ["success"], steps[-1].stderr
    assert "Apply complete: 2 created, 3 updated, 0 failed." in steps[-1].stdout
    _assert_no_personal_data(steps[-1].stdout, steps[-1].stderr)
    assert not list(workdir.glob("apply-plan.json")), "no full plan is left on the runner"
    assert runner.sandbox.app.state.store.get(1)["name"] == "Ada Lovelace"

    runner.responses = [
        {
            "match": ["api", "--paginate", "repos/acme/contacts/issues?*"],
            "stdout": json.dumps([{"number": 12, "body": f"{DRIFT_MARKER}\nold drift"}]),
        }
    ]
    steps = runner.run_github_job("drift.yml", "drift")
    assert [step.outcome for step in steps] == ["success", "success"], steps[0].stderr
    assert "No changes." in steps[0].stdout
    calls = runner.calls()
    assert [call["argv"][:4] for call in calls[1:]] == [
        ["api", "--method", "POST", "repos/acme/contacts/issues/12/comments"],
        ["api", "--method", "PATCH", "repos/acme/contacts/issues/12"],
    ]
    assert _sent_bodies(calls)[1] == {"state": "closed", "state_reason": "completed"}


def test_github_plan_and_apply_on_chatwoot_with_its_variant_of_the_settings(
    runner: Runner,
) -> None:
    # What the README says to do for Chatwoot: its reconciler.yaml, its secret and variable.
    variant = (runner.repo / "chatwoot" / "reconciler.yaml").read_text(encoding="utf-8")
    variant = variant.replace("account_id: 3", "account_id: 1")
    (runner.repo / "reconciler.yaml").write_text(variant, encoding="utf-8")
    chatwoot = {
        "secrets.LIVEDESK_API_KEY": "",
        "secrets.LIVEDESK_API_SECRET": "",
        "vars.LIVEDESK_BASE_URL": "",
        "secrets.CHATWOOT_API_TOKEN": "sandbox-token",
        "vars.CHATWOOT_BASE_URL": runner.sandbox.base_url,  # wins over base_url
    }
    runner.responses = []
    steps = runner.run_github_job("plan.yml", "plan", **chatwoot)
    assert [step.outcome for step in steps] == ["success"] * 3, steps[0].stderr
    assert "Target: chatwoot at " in steps[0].stderr and "(account 1)" in steps[0].stderr
    comment = (runner.tmp / "runner-temp" / "reconciler" / "comment.md").read_text("utf-8")
    assert f"**{DEMO_SUMMARY}**" in comment
    steps = runner.run_github_job("apply.yml", "apply", **chatwoot)
    assert [step.outcome for step in steps] == ["success"], steps[-1].stderr
    assert "Apply complete: 2 created, 3 updated, 0 failed." in steps[-1].stdout
    _assert_no_personal_data(comment, steps[-1].stdout, steps[-1].stderr)


def test_a_removal_is_applied_only_when_a_person_runs_apply_with_allow_removal(
    runner: Runner,
) -> None:
    settings = runner.repo / "reconciler.yaml"
    settings.write_text(settings.read_text("utf-8") + "removed: block\n", "utf-8")
    steps = runner.run_github_job("apply.yml", "apply")  # every contact now carries the marker
    assert [step.outcome for step in steps] == ["success"], steps[-1].stderr
    (runner.repo / "contacts" / "team" / "internal.yaml").unlink()  # merged: dropped
    steps = runner.run_github_job("apply.yml", "apply")
    assert steps[-1].outcome == "failure"
    assert "then apply with --allow-removal" in steps[-1].stderr
    steps = runner.run_github_job("apply.yml", "apply", **{"inputs.allow_removal": "true"})
    assert steps[-1].outcome == "success", steps[-1].stderr
    assert re.search(r"Apply complete: .* Also \d+ blocked\.", steps[-1].stdout)


def test_github_plan_and_apply_of_what_a_pull_request_changed(runner: Runner) -> None:
    _git_repository(runner)
    steps = runner.run_github_job("apply.yml", "apply")  # the whole tree, as before
    assert [step.outcome for step in steps] == ["success"], steps[-1].stderr
    base = _git(runner.repo, "rev-parse", "HEAD").strip()
    vip = runner.repo / "contacts" / "customers" / "vip.yaml"
    vip.write_text(vip.read_text("utf-8").replace("name: Ada Lovelace", "name: Ada King"), "utf-8")
    on = {"vars.RECONCILER_CHANGED_SINCE": "true"}

    runner.responses = []
    pull_request = {**on, "github.event.pull_request.base.sha": base}
    steps = runner.run_github_job("plan.yml", "plan", **pull_request)
    assert [step.outcome for step in steps] == ["success"] * 3, steps[0].stderr
    comment = (runner.tmp / "runner-temp" / "reconciler" / "comment.md").read_text("utf-8")
    assert "**Plan: 0 to create, 1 to update, 0 unchanged.**" in comment
    assert f"> Partial plan: 1 of 23 declared contacts (` --changed-since {base} (" in comment

    _git(runner.repo, "commit", "--quiet", "--all", "--message", "Ada King")
    push = {**on, "github.event_name": "push", "github.event.before": base}
    steps = runner.run_github_job("apply.yml", "apply", **push)
    assert [step.outcome for step in steps] == ["success"], steps[-1].stderr
    assert "Partial plan: 1 of 23 declared contacts" in steps[-1].stdout
    assert "Apply complete: 0 created, 1 updated, 0 failed." in steps[-1].stdout
    assert runner.sandbox.app.state.store.get(1)["name"] == "Ada King"

    # A new branch's first push has no `before` (all zeros): the whole tree.
    steps = runner.run_github_job("apply.yml", "apply", **{**push, "github.event.before": "0" * 40})
    assert "Partial plan" not in steps[-1].stdout
    assert "No changes. 23 contacts match the files." in steps[-1].stdout


def test_github_plan_job_annotates_invalid_files_and_posts_the_problems(runner: Runner) -> None:
    broken = runner.repo / "contacts" / "team" / "internal.yaml"
    broken.write_text("contacts:\n  - email: not-an-email\n", encoding="utf-8")
    steps = runner.run_github_job("plan.yml", "plan")
    assert [step.outcome for step in steps] == ["failure", "success", "success"]
    assert "::error file=contacts/team/internal.yaml,line=2,col=" in steps[0].stdout
    (post,) = _sent_bodies(runner.calls())
    assert post["body"].startswith(PLAN_MARKER + "\n")
    assert "**The contact files have problems**, so nothing was planned" in post["body"]
    assert "contacts/team/internal.yaml:2:" in post["body"]
    assert "not-an-email" not in post["body"]  # messages never repeat a value


def test_failed_plan_is_posted_and_fails_the_job(runner: Runner) -> None:
    steps = runner.run_github_job(
        "plan.yml", "plan", **{"secrets.LIVEDESK_API_SECRET": "wrong-secret"}
    )
    assert [step.outcome for step in steps] == ["failure", "success", "success"]
    (post,) = _sent_bodies(runner.calls())
    assert post["body"].startswith(PLAN_MARKER)
    assert "**The plan failed**" in post["body"]
    assert "wrong-secret" not in post["body"]


def test_comment_step_fails_when_posting_fails(runner: Runner) -> None:
    body = runner.tmp / "comment.md"
    body.write_text(f"{PLAN_MARKER}\n**No changes.**\n", encoding="utf-8")
    runner.responses = [{"match": ["--method", "POST"], "exit": 1, "stderr": "HTTP 403\n"}]
    runner_env, _ = runner.github_env()
    env = runner.env({**runner_env, "PR_NUMBER": "7", "GH_TOKEN": "t"})
    done = runner.bash(f'bash ci/comment.sh "{body}"\n', env)
    assert done.returncode != 0
    assert "HTTP 403" in done.stderr
    assert [call["argv"][2] for call in runner.calls()[1:]] == ["POST"]


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_comment_list_that_cant_be_read_posts_nothing(runner: Runner, forge: str) -> None:
    body = runner.tmp / "comment.md"
    body.write_text(f"{PLAN_MARKER}\n**No changes.**\n", encoding="utf-8")
    runner.responses = [{"match": ["GET"] if forge == "gitlab" else ["--paginate"], "exit": 1}]
    if forge == "github":
        env = {**runner.github_env()[0], "PR_NUMBER": "7", "GH_TOKEN": "t"}
    else:
        env = runner.gitlab_env()
    done = runner.bash(f'bash ci/comment.sh "{body}"\n', runner.env(env))
    assert done.returncode != 0
    assert len(runner.calls()) == 1  # the failed listing; no second comment posted


def test_drift_job_fails_when_the_plan_fails(runner: Runner) -> None:
    steps = runner.run_github_job("drift.yml", "drift", **{"secrets.LIVEDESK_API_SECRET": "wrong"})
    assert [step.outcome for step in steps] == ["failure", "success"]
    assert runner.calls() == []  # no issue is opened or closed on a failed check
    assert "drift check failed" in (runner.tmp / "step-summary.md").read_text(encoding="utf-8")


# GitLab ---------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "CI",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "CI",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _git_repository(runner: Runner) -> None:
    """The copy as a clone of an `origin` whose main is at HEAD, as a GitLab job has it."""
    origin = runner.tmp / "origin.git"
    origin.mkdir()
    _git(origin, "init", "--quiet", "--bare", "--initial-branch=main")
    _git(runner.repo, "init", "--quiet", "--initial-branch=main")
    _git(runner.repo, "add", "--all")
    _git(runner.repo, "commit", "--quiet", "--message", "contacts")
    _git(runner.repo, "remote", "add", "origin", str(origin))
    _git(runner.repo, "push", "--quiet", "origin", "main")


def test_gitlab_plan_drift_apply_cycle(runner: Runner) -> None:
    api = "https://gitlab.example.com/api/v4/projects/42"
    runner.responses = [{"match": ["GET", f"{api}/merge_requests/7/notes*"], "stdout": "[]"}]
    done = runner.run_gitlab_job("plan")
    assert done.returncode == 0, done.stderr
    calls = runner.calls()
    assert [call["argv"][call["argv"].index("--request") + 1] for call in calls] == ["GET", "POST"]
    assert calls[1]["argv"][-1] == f"{api}/merge_requests/7/notes"
    (note,) = _sent_bodies(calls)
    assert note["body"].startswith(PLAN_MARKER + "\n")
    assert f"**{DEMO_SUMMARY}**" in note["body"]
    assert f"[CI run]({GITLAB_JOB_URL})" in note["body"]
    assert all("glpat-fake-token" not in " ".join(call["argv"]) for call in calls)
    _assert_no_personal_data(note["body"], done.stdout, done.stderr)

    runner.responses = [
        {
            "match": ["GET", f"{api}/issues?*"],
            "stdout": json.dumps([{"iid": 3, "description": f"{DRIFT_MARKER}\nold"}]),
        }
    ]
    done = runner.run_gitlab_job("drift")
    assert done.returncode == 0, done.stderr
    calls = runner.calls()
    assert calls[0]["argv"][-1] == (
        f"{api}/issues?labels=reconciler-drift&state=opened&per_page=100&page=1"
    )
    assert calls[1]["argv"][-1] == f"{api}/issues/3"
    (update,) = _sent_bodies(calls)
    assert update["description"].startswith(DRIFT_MARKER) and DEMO_SUMMARY in update["description"]

    _git_repository(runner)
    done = runner.run_gitlab_job("apply")
    assert done.returncode == 0, done.stderr
    assert "Apply complete: 2 created, 3 updated, 0 failed." in done.stdout
    _assert_no_personal_data(done.stdout, done.stderr)
    assert runner.sandbox.app.state.store.get(16)["name"] == "Northwind Traders"


def test_gitlab_apply_leaves_a_moved_branch_to_its_own_job(runner: Runner) -> None:
    _git_repository(runner)
    _git(runner.repo, "commit", "--quiet", "--allow-empty", "--message", "newer")
    _git(runner.repo, "push", "--quiet", "origin", "main")
    _git(runner.repo, "reset", "--quiet", "--hard", "HEAD~1")
    before = runner.sandbox.app.state.store.get(1)
    env = runner.env({**runner.gitlab_env(), "APPLY_BRANCH": "main"})
    done = runner.bash('bash ci/apply.sh "$CI_PROJECT_DIR/.reconciler-ci"\n', env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Skipped: main has moved on")
    assert runner.sandbox.app.state.store.get(1) == before


def test_the_actions_uv_is_the_one_its_lock_pins() -> None:
    # setup-uv's download and install.sh's fallback (pip, from requirements/uv.lock) agree.
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    setup = [step for step in action["runs"]["steps"] if "setup-uv" in step.get("uses", "")]
    pinned = re.search(r"^uv==(\S+)", (ROOT / "requirements/uv.lock").read_text(), re.MULTILINE)
    assert len(setup) == 1 and pinned is not None
    assert setup[0]["with"]["version"] == pinned.group(1)
