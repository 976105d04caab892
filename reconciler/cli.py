"""The command line: main(argv) -> int. Parsing lives in reconciler.arguments; execution in
reconciler.commands and reconciler.sandbox."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reconciler.arguments import PLAN_FORMATS, PROBLEM_FORMATS, build_parser
from reconciler.commands import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from reconciler.errors import ConfigError, InputError, ReconcilerError
from reconciler.runtime import young_collections_only

if TYPE_CHECKING:
    from reconciler.input.selection import Selectors

__all__ = ["PLAN_FORMATS", "PROBLEM_FORMATS", "build_parser", "console_main", "main"]

EXIT_BUG = 3


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # reads the RECONCILER_* flags
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions: answer, then exit
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as parser_exit:
        # argparse exits 2 on a usage error; 2 means "changes" to plan --detailed-exitcode.
        return EXIT_ERROR if parser_exit.code else EXIT_OK
    if args.no_color:
        os.environ["NO_COLOR"] = "1"  # rich and our own renderers both read it
    # The data a command builds lives until it ends: the collector scans only young objects.
    with _logging_to_stderr(verbose=args.verbose), young_collections_only():
        return _run(args)


@contextmanager
def _logging_to_stderr(*, verbose: bool) -> Iterator[None]:
    """Log reconciler's own records to stderr for one run; put the configuration back after.

    Only the ``reconciler`` loggers are shown: their records hold no query value, no
    personal data and no credential. httpx's and httpcore's (URLs with queries, headers)
    and stamina's (its retries are in reconciler's own records) are never shown.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    ours, stamina = logging.getLogger("reconciler"), logging.getLogger("stamina")
    saved = ours.level, stamina.level
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stamina.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        ours.removeHandler(handler)
        ours.setLevel(saved[0])
        stamina.setLevel(saved[1])


def _run(args: argparse.Namespace) -> int:
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a full disk or a closed pipe is this run's to report
        return code
    except OSError as error:
        if error.errno not in OUTPUT_ERRNOS:
            return _bug()
        _discard_stdout()
        print(f"error: can't write the output ({error.strerror})", file=sys.stderr)
        return EXIT_ERROR
    except InputError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except ReconcilerError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        return _bug()


OUTPUT_ERRNOS = frozenset((errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, errno.EDQUOT))
"""What writing the output can meet that is no bug: a full disk (``> /dev/full``), a reader
gone (``| head``), a failing device, a file over its limit."""


def _discard_stdout() -> None:
    """Point stdout at /dev/null: what it still buffers must not fail again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real descriptor (a test's capture): nothing to flush
        pass


def _bug() -> int:
    traceback.print_exc()
    print(
        "error: this is a bug in reconciler; please report it with the traceback above",
        file=sys.stderr,
    )
    return EXIT_BUG


def _demo_contacts() -> str:
    from reconciler.commands.connect import DEMO_CONTACTS

    return str(DEMO_CONTACTS)


def _selectors(args: argparse.Namespace) -> Selectors:
    from reconciler.input.selection import Selectors

    return Selectors(tuple(args.target), tuple(args.exclude), args.changed_since)


def _dispatch(args: argparse.Namespace) -> int:
    # Imports are deferred so that `validate` never pays for the HTTP and server stacks.
    if args.command == "validate":
        from reconciler.commands.validate import validate_command

        return validate_command(args.paths, output_format=args.format, use_cache=not args.no_cache)
    if args.command == "plan":
        from reconciler.commands.plan import plan_command

        return plan_command(
            args.paths,
            output_format=args.format,
            out=args.out,
            detailed_exitcode=args.detailed_exitcode,
            redact=args.redact,
            config=args.config,
            sandbox=args.sandbox,
            selectors=_selectors(args),
        )
    if args.command == "apply":
        from reconciler.commands.apply import apply_command

        return apply_command(
            args.paths,
            plan_file=args.plan,
            auto_approve=args.auto_approve,
            force=args.force,
            allow_removal=args.allow_removal,
            redact=args.redact,
            config=args.config,
            sandbox=args.sandbox,
            selectors=_selectors(args),
        )
    if args.command == "export":
        from reconciler.commands.export import export_command

        return export_command(
            args.path,
            split=args.split,
            query=args.query,
            force=args.force,
            config=args.config,
            sandbox=args.sandbox,
        )
    if args.command == "init":
        from reconciler.commands.init import init_command

        return init_command(args.directory, target=args.target)
    if args.command == "schema":
        from reconciler.commands.schema import schema_command

        return schema_command(args.name)
    if args.command == "completion":
        from argcomplete.shell_integration import shellcode

        print(shellcode(["reconciler"], shell=args.shell))
        return EXIT_OK
    if args.command == "show":
        from reconciler.commands.show import show_command

        return show_command(args.plan_file, output_format=args.format)
    if args.command == "sandbox":
        from reconciler.commands.connect import sandbox_server

        sandbox_server()  # one line naming what to install, where the server stack is out
        from reconciler.sandbox.server import SandboxOptions, serve

        return serve(
            SandboxOptions(
                host=args.host,
                port=args.port,
                db=args.db,
                seed=args.seed or (None if args.empty else _demo_contacts()),
                api_key=args.api_key,
                api_secret=args.api_secret,
                chatwoot_token=args.chatwoot_token,
                account_id=args.account_id,
                version=args.chatwoot_version,
                search_limit=args.search_limit,
                rate_window=args.rate_window,
                latency_ms=args.latency_ms,
                rate_limit=args.rate_limit,
                fault_rate=args.fault_rate,
                fault_seed=args.fault_seed,
                fail_after_write=args.fail_after_write,
                workers=args.workers,
            )
        )
    raise AssertionError(f"unknown command {args.command!r}")


def console_main() -> None:
    sys.exit(main())
