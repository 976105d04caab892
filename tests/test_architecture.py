"""The layer rules between the packages, read from the source; and each command loads
only what its own path needs, checked in a fresh interpreter.

Start-up is a large part of a quick command; these guard the deferred imports (ruff's
PLC0415 is off for them) against a module-level import creeping back.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_testing import store_of, write_contacts

import reconciler
from reconciler.sandbox.server import RunningSandbox

REPOSITORY = Path(reconciler.__file__).resolve().parent.parent  # where reconciler is imported from
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "contacts"

PACKAGE = Path(reconciler.__file__).resolve().parent


def imports_of(module: Path) -> set[str]:
    """Every module ``module`` imports, at any place in it (deferred imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_of(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def breaking(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for module in modules_of(package):
        bad = sorted(
            name
            for name in imports_of(module)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        if bad:
            found[str(module.relative_to(PACKAGE))] = bad
    return found


HTTP = ("httpx", "httpcore", "h11", "anyio", "stamina", "uvicorn", "starlette")
LAYER_RULES = {
    # package: what it must never import
    "engine": (
        "reconciler.cli",
        "reconciler.arguments",
        "reconciler.commands",
        "argparse",
        "rich",
        *HTTP,
        "reconciler.outputs",
        "reconciler.sandbox",
        "reconciler.targets.livedesk",
        "reconciler.targets.chatwoot",
        "reconciler.targets.http",
        "reconciler.targets.registry",
    ),
    "input": (
        "reconciler.engine",
        "reconciler.targets",
        "reconciler.outputs",
        "reconciler.commands",
        "reconciler.sandbox",
        *HTTP,
    ),
    "outputs": ("reconciler.targets", "reconciler.commands", "reconciler.sandbox", *HTTP),
    "sandbox": (
        "reconciler.engine",
        "reconciler.input",
        "reconciler.targets",
        "reconciler.outputs",
        "reconciler.commands",
        "reconciler.model",
        "reconciler.fields",
    ),
    "targets": (
        "reconciler.engine",
        "reconciler.outputs",
        "reconciler.commands",
        "reconciler.sandbox",
        "rich",
        "argparse",
    ),
}


@pytest.mark.parametrize("package", sorted(LAYER_RULES))
def test_each_package_keeps_to_its_layer(package: str) -> None:
    assert modules_of(package)
    assert breaking(package, LAYER_RULES[package]) == {}


def test_httpx_is_imported_only_in_the_http_part_of_targets() -> None:
    importers = {
        str(module.relative_to(PACKAGE))
        for module in PACKAGE.rglob("*.py")
        if any(name == "httpx" or name.startswith("httpx.") for name in imports_of(module))
    }
    assert importers == {"targets/http/client.py", "targets/http/exchange.py"}


def test_the_layer_rules_can_fail() -> None:
    # The check itself finds an import: the CLI does import argparse.
    assert "argparse" in imports_of(PACKAGE / "cli.py")


# Runs the CLI, then writes the names of the modules it loaded to the file argv[1] names.
PROBE = """
import sys
from pathlib import Path
from reconciler.cli import main
code = main(sys.argv[2:])
Path(sys.argv[1]).write_text("\\n".join(sorted(sys.modules)), encoding="utf-8")
sys.exit(code)
"""


def loaded(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages ``reconciler ARGV`` loaded, run in tmp_path."""
    listing = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(listing), *argv],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {name.partition(".")[0] for name in listing.read_text("utf-8").split()}


def test_validate_loads_neither_the_http_client_nor_jsonschema_when_warm(tmp_path: Path) -> None:
    loaded(tmp_path, "validate", str(EXAMPLES))
    warm = loaded(tmp_path, "validate", str(EXAMPLES))
    assert not warm & {"httpx", "httpcore", "jsonschema", "rich", "deepdiff"}


def test_plan_with_a_warm_cache_and_valid_settings_never_loads_jsonschema(
    live_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    store_of(live_sandbox).insert({"identifier": "ada", "name": "Ada"})
    files = write_contacts(tmp_path / "contacts", [{"identifier": "ada", "name": "Ada L."}])
    settings = "max_changes: 50%\nignore: [custom_attributes.x, {contact: ada, paths: [email]}]\n"
    (tmp_path / "reconciler.yaml").write_text(settings, "utf-8")  # checked, without jsonschema
    env = {
        "LIVEDESK_BASE_URL": live_sandbox.base_url,
        "LIVEDESK_API_KEY": "sandbox",
        "LIVEDESK_API_SECRET": "sandbox",
    }
    loaded(tmp_path, "plan", str(files), env=env)
    warm = loaded(tmp_path, "plan", str(files), "--out", "plan.json", env=env)
    assert "httpx" in warm  # the probe did run a plan against the sandbox
    assert "jsonschema" not in warm
    shown = loaded(tmp_path, "show", "plan.json")
    assert "jsonschema_rs" in shown  # a saved plan is checked against its schema ...
    assert "jsonschema" not in shown  # ... by the fast validator: messages only if invalid
    assert not shown & {"httpx", "httpcore", "stamina", "deepdiff"}


def test_the_cli_offers_exactly_the_registered_formats() -> None:
    from reconciler import cli
    from reconciler.outputs.plan import PLAN_FORMAT_BY_NAME
    from reconciler.outputs.problems import PROBLEM_FORMAT_BY_NAME

    assert set(cli.PLAN_FORMATS) == set(PLAN_FORMAT_BY_NAME)
    assert set(cli.PROBLEM_FORMATS) == set(PROBLEM_FORMAT_BY_NAME)
