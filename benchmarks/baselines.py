"""The scripts a user would otherwise write: read the YAML files, read the live contacts,
count the ones that differ. Plan only; each prints one JSON line.

sequential  one request per declared contact, one after the other
threads     one request per declared contact, ``--threads`` at once (Terraform's 10)
list        every page of the listing (sorted by created_at), ``--threads`` at once,
            then a dict lookup per contact: the competent script written in an afternoon

A contact is read by id when the file gives one, else by an exact lookup: LiveDesk's search
(``q``, then an exact comparison) or Chatwoot's filter with one condition. Nothing of
reconciler is imported: these are what reconciler is measured against.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

import httpx  # noqa: E402
import yaml  # noqa: E402

Contact = dict[str, Any]
KEYS = ("identifier", "email")


def declared_contacts(paths: Iterable[str]) -> list[Contact]:
    contacts: list[Contact] = []
    for path in paths:
        for file in sorted(Path(path).rglob("*.yaml")):
            document = yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
            contacts.extend(document["contacts"])
    return contacts


def differs(declared: Contact, live: Contact | None) -> bool:
    if live is None:
        return True
    for name, value in declared.items():
        if name in ("id", "inbox_id"):
            continue
        if isinstance(value, dict):
            have = live.get(name) or {}
            if any(not _same(v, have.get(k)) for k, v in value.items()):
                return True
        elif not _same(value, live.get(name)):
            return True
    return False


def _same(declared: Any, live: Any) -> bool:
    if isinstance(declared, dict):
        return isinstance(live, dict) and all(_same(v, live.get(k)) for k, v in declared.items())
    return bool(declared == live)


class Desk:
    """The contacts endpoints of one face of the help desk."""

    def __init__(self, face: str, base_url: str) -> None:
        if face == "livedesk":
            key, secret = os.environ["LIVEDESK_API_KEY"], os.environ["LIVEDESK_API_SECRET"]
            auth = httpx.BasicAuth(key, secret)
            self.http = httpx.Client(base_url=base_url, auth=auth, timeout=30)
            self.path = "/api/v2/accounts/contacts"
        else:
            headers = {"api_access_token": os.environ["CHATWOOT_API_TOKEN"]}
            self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)
            self.path = f"/api/v1/accounts/{os.environ.get('CHATWOOT_ACCOUNT_ID', '1')}/contacts"
        self.face = face
        self.requests = 0

    def _json(self, response: httpx.Response) -> Any:
        self.requests += 1
        response.raise_for_status()
        return response.json()

    def page(self, page: int) -> tuple[list[Contact], int]:
        # Sorted, as the API's docs advise: unsorted, the order of rows is the database's
        # whim from one page to the next, and a walk repeats some and misses others.
        params = {"page": page, "sort": "created_at"}
        document = self._json(self.http.get(self.path, params=params))
        return document["payload"], int(document["meta"]["count"] or 0)

    def read(self, declared: Contact) -> Contact | None:
        if "id" in declared:
            response = self.http.get(f"{self.path}/{declared['id']}")
            if response.status_code == 404:
                self.requests += 1
                return None
            return dict(self._json(response)["payload"])
        name = next(key for key in KEYS if declared.get(key))
        value = declared[name]
        if self.face == "livedesk":
            found = self._json(self.http.get(self.path, params={"q": value}))["payload"]
        else:
            condition = {"attribute_key": name, "filter_operator": "equal_to", "values": [value]}
            body = {"payload": [condition]}
            found = self._json(self.http.post(f"{self.path}/filter", json=body))["payload"]
        wanted = value.lower() if name == "email" else value
        for contact in found:
            have = contact.get(name) or ""
            if (have.lower() if name == "email" else have) == wanted:
                return dict(contact)
        return None


def sequential(desk: Desk, contacts: list[Contact], _threads: int) -> list[Contact | None]:
    return [desk.read(contact) for contact in contacts]


def threads(desk: Desk, contacts: list[Contact], count: int) -> list[Contact | None]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(desk.read, contacts))


def list_everything(desk: Desk, contacts: list[Contact], count: int) -> list[Contact | None]:
    first, total = desk.page(1)
    pages = range(2, -(-total // max(len(first), 1)) + 1)
    listed = list(first)
    with ThreadPoolExecutor(count) as pool:
        for page, _ in pool.map(desk.page, pages):
            listed.extend(page)
    index: dict[tuple[str, Any], Contact] = {}
    for contact in listed:
        index["id", contact["id"]] = contact
        for name in KEYS:
            if contact.get(name):
                index[name, contact[name].lower() if name == "email" else contact[name]] = contact
    found: list[Contact | None] = []
    for contact in contacts:
        if "id" in contact:
            found.append(index.get(("id", contact["id"])))
            continue
        name = next(key for key in KEYS if contact.get(key))
        value = contact[name].lower() if name == "email" else contact[name]
        found.append(index.get((name, value)))
    return found


SCRIPTS: dict[str, Callable[[Desk, list[Contact], int], list[Contact | None]]] = {
    "sequential": sequential,
    "threads": threads,
    "list": list_everything,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("script", choices=SCRIPTS)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--face", choices=("livedesk", "chatwoot"), default="livedesk")
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument(
        "--sample", type=int, default=0, metavar="N", help="read only the first N contacts"
    )
    args = parser.parse_args()
    contacts = declared_contacts(args.paths)
    declared = len(contacts)
    if args.sample:
        contacts = contacts[: args.sample]
    desk = Desk(args.face, args.base_url)
    read_from = time.perf_counter()
    live = SCRIPTS[args.script](desk, contacts, args.threads)
    fetched = time.perf_counter()
    changes = sum(differs(d, found) for d, found in zip(contacts, live, strict=True))
    report = {
        "declared": declared,
        "read": len(contacts),
        "changes": changes,
        "requests": desk.requests,
        "fetch_s": fetched - read_from,
        "total_s": time.perf_counter() - STARTED,
    }
    print(json.dumps(report))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
