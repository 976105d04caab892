"""What every benchmark shares: generated contacts, a sandbox in its own process, timing.

The data is deterministic. Contact ``i`` (from 1) exists in the sandbox with an id, an
identifier, an email, a phone number and attribute objects holding keys the files don't
declare; the files declare it by ``id`` (i % 3 == 0), ``identifier`` (i % 3 == 1) or
``email`` (i % 3 == 2), 100 contacts to a file. A *changed* contact is declared with a new
name and seat count, and when i % 4 == 0 also with a new GitHub profile (a nested object,
so the diff has to look inside it).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONTACTS_PER_FILE = 100
CREDENTIALS = {
    "LIVEDESK_API_KEY": "sandbox",
    "LIVEDESK_API_SECRET": "sandbox",
    "CHATWOOT_API_TOKEN": "sandbox-token",
}
CREATED_AT = 1_700_000_000

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# Contacts ---------------------------------------------------------------------------------


def live_contact(i: int) -> dict[str, Any]:
    """Contact ``i`` as the sandbox holds it before any apply."""
    return {
        "id": i,
        "identifier": f"cust-{i:06d}",
        "email": f"user{i}@example.com",
        "name": f"Customer {i}",
        "phone_number": f"+1415{i:07d}",
        "blocked": False,
        "additional_attributes": {
            "company_name": f"Company {i % 997}",
            "city": "Singapore",
            "country_code": "SG",
            "social_profiles": {"github": f"gh{i}", "twitter": f"tw{i}"},
        },
        "custom_attributes": {"seats": i % 100, "tier": "gold", "legacy_crm_id": f"L-{i}"},
        "created_at": CREATED_AT + i,
        "last_activity_at": CREATED_AT + 2 * i,
    }


def declared_contact(i: int, *, changed: bool) -> dict[str, Any]:
    """Contact ``i`` as a file declares it (a subset of its fields; changed or not)."""
    live = live_contact(i)
    declared: dict[str, Any] = {}
    if i % 3 == 0:
        declared["id"] = i
    elif i % 3 == 1:
        declared["identifier"] = live["identifier"]
    declared["email"] = live["email"]
    declared["name"] = f"Customer {i} (renamed)" if changed else live["name"]
    declared["phone_number"] = live["phone_number"]
    github = f"gh{i}-new" if changed and i % 4 == 0 else f"gh{i}"
    declared["additional_attributes"] = {
        "company_name": live["additional_attributes"]["company_name"],
        "city": "Singapore",
        "social_profiles": {"github": github},
    }
    seats = live["custom_attributes"]["seats"] + (1 if changed else 0)
    declared["custom_attributes"] = {"seats": seats, "tier": "gold"}
    return declared


def is_changed(i: int, changed_fraction: float) -> bool:
    if changed_fraction <= 0:
        return False
    return i % max(1, round(1 / changed_fraction)) == 0


def _yaml_contact(contact: dict[str, Any]) -> str:
    # JSON scalars and flow mappings are valid YAML: quick to write, exact to read.
    lines = []
    for index, (key, value) in enumerate(contact.items()):
        lead = "  - " if index == 0 else "    "
        if isinstance(value, dict):
            lines.append(f"{lead}{key}:")
            lines.extend(f"      {name}: {json.dumps(item)}" for name, item in value.items())
        else:
            lines.append(f"{lead}{key}: {json.dumps(value)}")
    return "\n".join(lines)


def write_contact_files(
    directory: Path, count: int, changed_fraction: float, *, step: int = 1
) -> int:
    """Write contacts ``step``, ``2 * step``, ... ``count`` as YAML files; return how many
    are changed."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    changed = 0
    numbers = range(step, count + 1, step)
    for start in range(0, len(numbers), CONTACTS_PER_FILE):
        blocks = []
        for i in numbers[start : start + CONTACTS_PER_FILE]:
            change = is_changed(i // step, changed_fraction)
            changed += change
            blocks.append(_yaml_contact(declared_contact(i, changed=change)))
        text = "defaults:\n  inbox_id: 1\ncontacts:\n" + "\n\n".join(blocks) + "\n"
        (directory / f"contacts-{numbers[start]:06d}.yaml").write_text(text, encoding="utf-8")
    return changed


MARKER = "managed_by_reconciler"


def managed_contact(
    i: int, face: str = "livedesk", file: str | None = None, *, legacy: bool = False
) -> dict[str, Any]:
    """Contact ``i`` as an apply of its declaration (in ``file``, from the repository's
    root) against ``face`` leaves it with ownership on: its marker, signed with the
    sandbox's credentials for that face, and on Chatwoot the marker's label (the fields as
    before: a plan has changes). ``legacy``: as a version before markers named their file
    and were signed left it."""
    from reconciler.engine.ownership import Marker, signed
    from reconciler.targets.base import marker_secret

    live = live_contact(i)
    declared = {k: v for k, v in declared_contact(i, changed=False).items() if k != "id"}
    credential = CREDENTIALS["CHATWOOT_API_TOKEN"] if face == "chatwoot" else "sandbox:sandbox"
    text = signed(Marker.of(declared, MARKER, file).text(), i, marker_secret(face, credential))
    if legacy:
        text = Marker.of(declared, MARKER).text()
    live["custom_attributes"] = {**live["custom_attributes"], MARKER: text}
    return {**live, "labels": [MARKER]}


def contact_file_of(i: int, step: int, directory: str) -> str:
    """The file (``directory``/...) that write_contact_files puts contact ``i`` in."""
    first = (((i // step) - 1) // CONTACTS_PER_FILE) * CONTACTS_PER_FILE + 1
    return f"{directory}/contacts-{first * step:06d}.yaml"


def seed_database(
    path: Path,
    count: int,
    *,
    managed_step: int = 0,
    face: str = "livedesk",
    files: str = "",
    legacy: bool = False,
) -> None:
    """A fresh sandbox database holding contacts 1..count; every ``managed_step``-th
    managed for ``face`` (see managed_contact), as the files in the directory ``files``
    (from the working directory, where the benchmarks run) that declare those leave them."""
    from reconciler.sandbox.store import Store

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(path)
    try:
        store.seed_if_empty(
            managed_contact(i, face, contact_file_of(i, managed_step, files), legacy=legacy)
            if managed_step and i % managed_step == 0
            else live_contact(i)
            for i in range(1, count + 1)
        )
    finally:
        store.close()


def write_settings(path: Path, **settings: Any) -> Path:
    """A reconciler.yaml (JSON is YAML) with ``settings``; max_changes never refuses."""
    path.write_text(json.dumps({"max_changes": "100%", **settings}) + "\n", encoding="utf-8")
    return path


# The sandbox in its own process -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(base_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    if base_url is not None:
        env["LIVEDESK_BASE_URL"] = env["CHATWOOT_BASE_URL"] = base_url
    return env


@dataclass(frozen=True)
class Sandbox:
    """A running ``reconciler sandbox`` child process."""

    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sandbox process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def sandbox_process(
    db: Path, *, latency_ms: float = 0.0, rate_limit: float = 0.0, workers: int = 0
) -> Iterator[Sandbox]:
    """``reconciler sandbox`` serving ``db`` in a child process, so that the client and
    the server don't share one interpreter (and its GIL)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "sandbox",
        "--port",
        str(port),
        "--db",
        str(db),
        "--latency-ms",
        str(latency_ms),
        "--rate-limit",
        str(rate_limit),
        "--workers",
        str(workers),
        "--empty",  # the benchmark seeds its own contacts
    ]
    log_path = db.with_suffix(".log")
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, env=child_env(), stdout=log, stderr=subprocess.STDOUT, cwd=db.parent
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the sandbox exited: see {log_path}")
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start within 30 s")
                time.sleep(0.05)
            yield Sandbox(f"http://127.0.0.1:{port}", server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# Measuring child processes ----------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, wall seconds, peak RSS (MiB), its output."""

    returncode: int
    wall: float
    cpu: float
    max_rss_mib: float
    stdout: str
    stderr: str


def run_child(command: Sequence[str], *, cwd: Path, env: dict[str, str]) -> ChildRun:
    """Run ``command`` to the end; its own rusage comes from wait4 (not all children's)."""
    out_path, err_path = cwd / ".child-stdout", cwd / ".child-stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        returncode=process.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
    )


def run_stages(
    cwd: Path, base_url: str, paths: Sequence[Path], *, config: Path, extra: Sequence[str] = ()
) -> tuple[dict[str, Any], ChildRun]:
    """Run benchmarks/stages.py in a fresh process; its JSON report and the process."""
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "stages.py"),
        "--base-url",
        base_url,
        "--config",
        str(config),
        *extra,
        *map(str, paths),
    ]
    run = run_child(command, cwd=cwd, env=child_env(base_url))
    if run.returncode != 0:
        raise RuntimeError(f"stages.py failed ({run.returncode}):\n{run.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return report, run


def run_cli(cwd: Path, base_url: str, arguments: Sequence[str]) -> ChildRun:
    """``python -m reconciler ARGUMENTS`` against ``base_url``, from ``cwd``."""
    command = [sys.executable, "-m", "reconciler", *arguments]
    return run_child(command, cwd=cwd, env=child_env(base_url))


def clear_cache(workdir: Path) -> None:
    shutil.rmtree(workdir / ".reconciler" / "cache", ignore_errors=True)


# The machine --------------------------------------------------------------------------------


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, str]:
    cpuinfo: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            cpuinfo.setdefault(key.strip(), value.strip())
    model = cpuinfo.get("model name", "unknown")
    if "cpu family" in cpuinfo:
        model += f" (family {cpuinfo['cpu family']}, model {cpuinfo.get('model', '?')})"
    if "hypervisor" in cpuinfo.get("flags", "").split():
        model += ", a virtual machine"
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# What the benchmarks share within one run ----------------------------------------------------


@dataclass
class Context:
    """The run's working directory and its generated data (made once, reused)."""

    workdir: Path
    quick: bool
    options: dict[str, Any]

    def contact_files(self, count: int, changed_fraction: float, *, step: int = 1) -> Path:
        """Files declaring contacts ``step``, ``2 * step``, ... ``count``."""
        suffix = "" if step == 1 else f"-every-{step}"
        directory = self.workdir / f"contacts-{count}-{changed_fraction:g}{suffix}"
        marker = directory / ".complete"
        if not marker.exists():
            started = time.perf_counter()
            write_contact_files(directory, count, changed_fraction, step=step)
            marker.touch()
            say(f"  wrote {count:,} contacts in {time.perf_counter() - started:.1f} s")
        return directory

    def database(
        self,
        count: int,
        *,
        fresh: bool = False,
        managed_step: int = 0,
        face: str = "livedesk",
        files: Path | None = None,
        legacy: bool = False,
    ) -> Path:
        """A sandbox database of contacts 1..count (every ``managed_step``-th managed for
        ``face``, as an apply of ``files`` leaves it); plan never writes, so it is reused."""
        name = f"sandbox-{count}" + (f"-managed-{managed_step}-{face}" if managed_step else "")
        name += "-legacy" if legacy and managed_step else ""
        db = self.workdir / ("fresh" if fresh else "db") / f"{name}.sqlite"
        marker = db.with_suffix(".complete")
        if fresh or not marker.exists():
            db.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            where = "" if files is None else files.relative_to(self.workdir).as_posix()
            seed_database(
                db, count, managed_step=managed_step, face=face, files=where, legacy=legacy
            )
            marker.touch()
            say(f"  seeded {count:,} contacts in {time.perf_counter() - started:.1f} s")
        return db

    def settings(self, name: str, **settings: Any) -> Path:
        return write_settings(self.workdir / f"{name}.yaml", **settings)


@dataclass
class Section:
    """One benchmark's figures: markdown for RESULTS.md, raw numbers for results.json."""

    name: str
    markdown: str
    data: dict[str, Any]
    targets: list[list[str]] = field(default_factory=list)  # [target, measured, verdict]
    load_before: str = ""
    load_after: str = ""
    finished_at: str = ""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def best(runs: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the smallest ``key``: the least disturbed by other work on the machine."""
    return min(runs, key=lambda run: float(run[key]))


def paired_ratios(runs: dict[str, list[dict[str, Any]]], top: str, bottom: str) -> list[float]:
    """Each repeat's wall of ``top`` ÷ that of ``bottom``: runs alternate within a repeat,
    so each ratio is a pair measured under the same load."""
    return [
        over["wall_s"] / under["wall_s"]
        for over, under in zip(runs[top], runs[bottom], strict=True)
    ]
