"""What CI configuration must pass, as the tools CI users run would check it: the GitHub
and GitLab schemas (check-jsonschema's vendored copies), zizmor (no high finding), and
shellcheck on every shell step; and that each `$schema` comment names a file that exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
_SCHEMA_COMMENT = re.compile(r"#\s*yaml-language-server:\s*\$schema=(\S+)")


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (it is in requirements/test.lock)"
    return found


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def schema_problems(schema: str, files: list[Path]) -> str:
    """check-jsonschema's complaints (empty when every file is valid)."""
    done = run(tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files))
    return "" if done.returncode == 0 else done.stdout + done.stderr


def zizmor_findings(root: Path) -> str:
    """zizmor's high findings on the workflows (and action.yml) under ``root``."""
    done = run(tool("zizmor"), "--offline", "--min-severity", "high", str(root))
    return "" if done.returncode == 0 else done.stdout + done.stderr


def zizmor_audit(root: Path) -> str:
    """Every finding of zizmor's auditor mode on ``root``'s workflows, under its own
    .github/zizmor.yml (secrets outside environments, undocumented permissions, ...)."""
    github = root / ".github"
    done = run(
        tool("zizmor"),
        "--persona",
        "auditor",
        "--offline",
        "--config",
        str(github / "zizmor.yml"),
        str(github / "workflows"),
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def run_blocks(document: dict[str, Any]) -> list[str]:
    """Every `run:` script of a workflow's jobs or an action's steps."""
    steps: list[Any] = []
    for job in (document.get("jobs") or {}).values():
        steps += job.get("steps", [])
    steps += (document.get("runs") or {}).get("steps", [])
    return [str(step["run"]) for step in steps if "run" in step]


def shellcheck_problems(scripts: list[Path], snippets: list[str], workdir: Path) -> str:
    """shellcheck's complaints about the scripts and about each snippet, run as bash."""
    files = list(scripts)
    for index, snippet in enumerate(snippets):
        # GitHub runs a `run:` with bash -e; expressions were checked to reach it by env.
        file = workdir / f"step-{index}.sh"
        file.write_text(f"#!/usr/bin/env bash\nset -e\n{snippet}\n", encoding="utf-8")
        files.append(file)
    done = run(
        tool("shellcheck"),
        "--shell=bash",
        "--external-sources",
        "--source-path=SCRIPTDIR",
        *map(str, files),
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def unresolved_schema_comments(root: Path) -> list[str]:
    """Each YAML file under ``root`` whose `$schema` comment names no file."""
    broken = []
    for file in sorted(root.rglob("*.y*ml")):
        first = file.read_text(encoding="utf-8").splitlines()[:1]
        match = _SCHEMA_COMMENT.match(first[0]) if first else None
        if match and not (file.parent / match.group(1)).is_file():
            broken.append(f"{file.relative_to(root)} -> {match.group(1)}")
    return broken


def workflows_of(root: Path) -> list[Path]:
    return sorted((root / ".github" / "workflows").glob("*.yml"))


def load(file: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(file.read_text(encoding="utf-8"))
    return document
