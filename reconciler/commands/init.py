"""reconciler init [DIR]: write a GitOps repository for help-desk contacts, ready to push.

Everything it writes passes as written: ``validate``, ``plan --sandbox``, the workflows'
schema and zizmor checks, and the ``$schema`` comments point at the schemas it copies.
It never overwrites a file: with any of them there already, it writes nothing.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.input.schemas import schema_bytes

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TARGETS = ("livedesk", "chatwoot")
LIVEDESK_DEFAULTS = (
    b"defaults:\n"  # what a Chatwoot repository leaves out (its creates need no inbox)
    b"  inbox_id: 1             # where a missing contact is created (LiveDesk needs one)\n"
)

_SECRETS = {
    "livedesk": (
        "`LIVEDESK_API_KEY` and `LIVEDESK_API_SECRET`, the API key and secret of your LiveDesk "
        "account (set `LIVEDESK_BASE_URL` as a variable only if not the Singapore data centre)"
    ),
    "chatwoot": (
        "`CHATWOOT_API_TOKEN`, a Chatwoot user's access token (Profile settings > Access "
        "token; an agent bot's is refused), and the variable `CHATWOOT_BASE_URL` unless "
        "`base_url` in reconciler.yaml says where your Chatwoot is"
    ),
}


def _readme(target: str) -> str:
    return f"""# Help-desk contacts, managed with reconciler

The contacts under `contacts/` are kept in the help desk ({target}) by
[reconciler](https://github.com/reconciler-dev/reconciler): every pull request is
validated and planned (the plan is posted as a comment), a merge to the default branch
applies it, and a nightly check reports drift as an issue.

## The two things to set

1. In Settings > Environments, create two environments and add to each the secrets
   {_SECRETS[target]}:
   - `reconciler`, for apply and the nightly drift check: under "Deployment branches",
     allow the default branch only, so that no pull request's files can reach them;
   - `reconciler-plan`, for the plan on pull requests (no branch rule; forks and Dependabot
     never get its secrets: their pull requests are validated only).

   The credentials live in these environments only, never as repository secrets.
2. Protect the default branch: require pull requests and the `plan` check.

Optional: set the repository variable `RECONCILER_CHANGED_SINCE` to `true`, and each pull
request plans (and its merge applies) only the contacts it adds, changes or drops: far
fewer requests on a big account. The nightly drift check stays whole.

Locally: `reconciler validate contacts`, and `reconciler plan contacts --sandbox` against a
local stand-in; `reconciler export --split contacts` writes the contacts the desk has.
"""


def files_for(target: str) -> dict[str, bytes]:
    """What init writes, by path relative to DIR."""
    github = TEMPLATES / "github"
    contacts = (TEMPLATES / "contacts.yaml").read_bytes()
    if target == "chatwoot":  # a Chatwoot create needs no inbox, and inbox 1 may not exist
        contacts = contacts.replace(LIVEDESK_DEFAULTS, b"")
    files = {
        "contacts/example.yaml": contacts,
        "reconciler.yaml": (TEMPLATES / f"reconciler.{target}.yaml").read_bytes(),
        ".gitignore": (TEMPLATES / "gitignore").read_bytes(),
        "README.md": _readme(target).encode(),
        ".github/zizmor.yml": (github / "zizmor.yml").read_bytes(),
        "schemas/contacts.schema.json": schema_bytes("contacts"),
        "schemas/settings.schema.json": schema_bytes("settings"),
    }
    for name in ("plan.yml", "apply.yml", "drift.yml"):
        files[f".github/workflows/{name}"] = (github / name).read_bytes()
    return files


def init_command(directory: str, *, target: str) -> int:
    if target not in TARGETS:
        raise AssertionError(f"unknown target {target!r}")  # argparse's choices say so
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{directory} is a file: give init a directory")
    files = files_for(target)
    there = sorted(path for path in files if (root / path).exists())
    if there:
        raise ConfigError(
            f"{directory} already has {', '.join(there)}: nothing was written; run init in "
            "an empty directory (init never overwrites a file)"
        )
    written: list[Path] = []
    try:
        for path, content in files.items():
            destination = root / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            with destination.open("xb") as stream:  # x: never over something there now
                written.append(destination)
                stream.write(content)
    except OSError as error:
        for done in written:  # all or nothing: a half-written repository misleads
            done.unlink(missing_ok=True)
        where = error.filename or directory
        raise ConfigError(
            f"can't write {where} ({error.strerror}): nothing was written; run init where "
            "you can create files"
        ) from None
    print(f"Wrote a reconciler repository for {target} in {directory} ({len(files)} files).")
    print("Next: read its README.md (two things to set), then")
    print(f"  cd {directory} && reconciler validate contacts && reconciler plan contacts --sandbox")
    return 0
