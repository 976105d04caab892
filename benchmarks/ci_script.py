"""The 40-line script a team would write instead of reconciler: list every contact, compare
with the YAML files, print a markdown plan. requests and PyYAML only; LiveDesk's API."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

base, files = sys.argv[1], sys.argv[2]
http = requests.Session()
http.auth = (os.environ["LIVEDESK_API_KEY"], os.environ["LIVEDESK_API_SECRET"])
url = f"{base}/api/v2/accounts/contacts"


def page(n):
    answer = http.get(url, params={"page": n, "sort": "created_at"}, timeout=30)
    answer.raise_for_status()
    return answer.json()


first = page(1)
pages = range(2, -(-first["meta"]["count"] // 15) + 1)
with ThreadPoolExecutor(16) as pool:
    listed = first["payload"] + [c for p in pool.map(page, pages) for c in p["payload"]]
index = {(k, str(c[k]).lower()): c for c in listed for k in ("id", "identifier", "email") if c[k]}


def same(want, have):
    if isinstance(want, dict):
        return isinstance(have, dict) and all(same(v, have.get(k)) for k, v in want.items())
    return want == have


changed = []
for file in sorted(Path(files).rglob("*.yaml")):
    for want in yaml.load(file.read_text(), Loader=yaml.CSafeLoader)["contacts"]:
        key = next(k for k in ("id", "identifier", "email") if k in want)
        have = index.get((key, str(want[key]).lower()))
        if have is None or not same({k: v for k, v in want.items() if k != "id"}, have):
            changed.append(f"- `{want[key]}`: {'create' if have is None else 'update'}")
print(f"## Plan: {len(changed)} to change\n", *changed, sep="\n")
