"""One module per command, each what the command does once the CLI has parsed it.

The CLI imports only the module of the command it runs, so `validate` and `show` never
load the HTTP client, DeepDiff or the sandbox.
"""

EXIT_OK = 0
EXIT_ERROR = 1  # a user's mistake, a refusal, or a contact that failed
EXIT_CHANGES = 2  # plan --detailed-exitcode: there are changes
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
