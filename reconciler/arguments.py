"""The command line's arguments: every command, its options and their help (argparse), and
the RECONCILER_* variables that set the common ones. reconciler.cli runs what they say."""

from __future__ import annotations

import argparse
import os
from typing import Any

from reconciler import __version__
from reconciler.errors import ConfigError

# The names of the output formats, without loading the modules that render them.
PROBLEM_FORMATS = ("text", "github", "json")
PLAN_FORMATS = ("text", "json", "markdown")

VERBOSE_HELP = "log each request (method, path, status, time) and the counts to stderr"
EPILOG = """\
environment:
  RECONCILER_CONFIG=FILE   as --config
  RECONCILER_REDACT=1      as --redact
  RECONCILER_SANDBOX=1     as --sandbox
  RECONCILER_NO_COLOR=1    as --no-color (NO_COLOR=1 too)
  LIVEDESK_API_KEY, LIVEDESK_API_SECRET, LIVEDESK_BASE_URL   target livedesk's credentials
  CHATWOOT_API_TOKEN, CHATWOOT_BASE_URL                      target chatwoot's

exit codes:
  0    success; plan --detailed-exitcode: no changes
  1    a mistake in the files, settings or environment, a refusal, or a contact that failed
  2    plan --detailed-exitcode: there are changes
  3    a bug in reconciler (with a traceback)
  130  interrupted
"""
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def _env_flag(name: str) -> bool:
    """A RECONCILER_* variable that turns a flag on (1, true, yes, on) or off (0, false,
    no, off, or unset), in any case; ConfigError for anything else, which would otherwise
    be read one way or the other without a word (``RECONCILER_SANDBOX=y``)."""
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{name} is neither on (1, true, yes, on) nor off (0, false, no, off): set it to "
        "one of them, or unset it"
    )


def _add_global_flags(parser: argparse.ArgumentParser, *, after_the_command: bool) -> None:
    """The flags every command takes, before the command or after it. After it, a flag
    given defaults to SUPPRESS: the subcommand never resets what came before it."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if after_the_command else value

    parser.add_argument(
        "--no-color",
        action="store_true",
        default=default(_env_flag("RECONCILER_NO_COLOR")),
        help="never colour the output (NO_COLOR=1 does the same)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help=VERBOSE_HELP
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default(os.environ.get("RECONCILER_CONFIG") or None),
        help="settings file (default: the nearest reconciler.yaml up to the repository root)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=default(_env_flag("RECONCILER_SANDBOX")),
        help="start the local sandbox in-process and run against it (database under .reconciler/)",
    )
    parser.add_argument(
        "--redact",
        action="store_true",
        default=default(_env_flag("RECONCILER_REDACT")),
        help="mask personal data in every output, log and plan file",
    )


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="SEL",
        help="only the contacts SEL selects (repeatable): id:N, identifier:X, email:Y, "
        "phone:+N, label:L, or a file, directory or glob; nothing is released or removed",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="SEL",
        help="leave out the contacts SEL selects (repeatable; the forms of --target)",
    )
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="only the contacts the files added, changed or dropped since the git commit REF",
    )


def _add_project_commands(commands: Any, verbose: argparse.ArgumentParser) -> None:
    init = commands.add_parser(
        "init", parents=[verbose], help="write a GitOps repository for contacts, ready to push"
    )
    init.add_argument("directory", nargs="?", default=".", metavar="DIR")
    init.add_argument("--target", choices=("livedesk", "chatwoot"), default="livedesk")
    schema = commands.add_parser(
        "schema", parents=[verbose], help="print a JSON Schema (for editors and other tools)"
    )
    schema.add_argument("name", choices=("contacts", "attribute-definitions", "settings", "plan"))
    completion = commands.add_parser(
        "completion",
        parents=[verbose],
        help='print the shell completion script: eval "$(reconciler completion bash)"',
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))


def _add_sandbox_command(commands: Any, verbose: argparse.ArgumentParser) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        parents=[verbose],
        help="serve a local stand-in for LiveDesk and Chatwoot (both APIs, one store)",
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--db", metavar="PATH", default=".reconciler/sandbox.sqlite")
    sandbox.add_argument(
        "--seed",
        metavar="FILE",
        help="JSON array of contacts to load into an empty database (default: the demo "
        "contacts the examples declare, as --sandbox has them)",
    )
    sandbox.add_argument(
        "--empty", action="store_true", help="load nothing into a new database (no demo)"
    )
    sandbox.add_argument("--api-key", default="sandbox")
    sandbox.add_argument("--api-secret", default="sandbox")
    sandbox.add_argument(
        "--chatwoot-token", default="sandbox-token", help="the Chatwoot face's access token"
    )
    sandbox.add_argument(
        "--account-id", type=int, default=1, metavar="N", help="the Chatwoot face's account"
    )
    sandbox.add_argument(
        "--chatwoot-version",
        default="4.10.0",
        metavar="X.Y.Z",
        help="the version GET /api tells (before 3.7.0 contacts have no blocked)",
    )
    sandbox.add_argument(
        "--search-limit",
        type=int,
        default=100,
        metavar="N",
        help="Chatwoot searches allowed a rate window (default 100)",
    )
    sandbox.add_argument(
        "--rate-window",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds of the Chatwoot face's fixed rate windows (default 60)",
    )
    sandbox.add_argument("--latency-ms", type=float, default=0.0, metavar="N")
    sandbox.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="requests served at once, the rest queue like at a server's threads (0: no bound)",
    )
    sandbox.add_argument(
        "--rate-limit",
        type=float,
        default=0.0,
        metavar="N",
        help="requests a second; over it a 429 (0: no limit)",
    )
    sandbox.add_argument("--fault-rate", type=float, default=0.0, metavar="F")
    sandbox.add_argument("--fault-seed", type=int, default=None, metavar="N")
    sandbox.add_argument("--fail-after-write", type=float, default=0.0, metavar="F")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="Terraform-style plan/apply for help-desk contacts (LiveDesk, Chatwoot).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    _add_global_flags(parser, after_the_command=False)
    verbose = argparse.ArgumentParser(add_help=False)
    _add_global_flags(verbose, after_the_command=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", parents=[verbose], help="check contact files offline"
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="YAML file or directory")
    validate.add_argument("--format", choices=PROBLEM_FORMATS, default="text")
    validate.add_argument(
        "--no-cache", action="store_true", help="ignore and don't write .reconciler/cache/"
    )

    plan = commands.add_parser("plan", parents=[verbose], help="show what apply would change")
    plan.add_argument("paths", nargs="+", metavar="PATH", help="YAML file or directory")
    plan.add_argument("--out", metavar="FILE", help="save the plan (JSON) for apply --plan")
    plan.add_argument("--format", choices=PLAN_FORMATS, default="text")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are, 1 on error",
    )
    _add_selection(plan)

    apply = commands.add_parser(
        "apply", parents=[verbose], help="make the help desk match the files"
    )
    apply.add_argument("paths", nargs="*", metavar="PATH", help="YAML file or directory")
    apply.add_argument("--plan", metavar="FILE", help="apply exactly this saved plan")
    apply.add_argument(
        "--auto-approve",
        action="store_true",
        help="don't ask for confirmation (needed without a terminal)",
    )
    apply.add_argument(
        "--force",
        action="store_true",
        help="apply even when the plan exceeds max_changes or max_removals",
    )
    apply.add_argument(
        "--allow-removal",
        action="store_true",
        help="let apply remove (block or delete) the contacts the plan removes",
    )
    _add_selection(apply)

    export = commands.add_parser(
        "export", parents=[verbose], help="write the live contacts as contact files"
    )
    export.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="file to write (a directory with --split); standard output when left out",
    )
    export.add_argument(
        "--split", action="store_true", help="one file per contact, in the directory PATH"
    )
    export.add_argument(
        "--query", metavar="Q", help="only contacts the help desk's search finds for Q"
    )
    export.add_argument(
        "--force", action="store_true", help="overwrite files that export didn't write"
    )

    show = commands.add_parser(
        "show", parents=[verbose], help="render a plan saved with plan --out"
    )
    show.add_argument("plan_file", metavar="FILE")
    show.add_argument("--format", choices=PLAN_FORMATS, default="text")

    _add_sandbox_command(commands, verbose)
    _add_project_commands(commands, verbose)
    return parser
