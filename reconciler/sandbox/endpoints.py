"""The contacts endpoints both faces of the sandbox serve, over one store: list, get,
create and update, behind a face's auth and answering in its shapes (``Face``).

Chatwoot's face adds its own endpoints (chatwoot.py) by extending ``ContactsEndpoints``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sandbox import contacts
from reconciler.sandbox.contacts import JSON, Invalid, ServerFault
from reconciler.sandbox.faults import INTERNAL_ERROR_HTML
from reconciler.sandbox.schema import SORT_COLUMNS
from reconciler.sandbox.store import Conditions, Store

PAGE_SIZE = 15
_LARGEST_ID = 2**63 - 1  # SQLite's integers; a larger id finds nothing
_LEADING_INTEGER = re.compile(r"\s*([+-]?[0-9]+)")
Handler = Callable[[Request], Awaitable[Response]]


def json_response(content: JSON, status: int = 200) -> Response:
    return JSONResponse(content, status_code=status)


def not_found() -> Response:
    return json_response({"error": "Resource could not be found"}, 404)


def html_server_error() -> Response:
    return Response(INTERNAL_ERROR_HTML, 500, media_type="text/html")


def _unprocessable(problems: list[Invalid]) -> Response:
    return json_response(contacts.unprocessable_body(problems), 422)


def _ruby_to_i(text: str) -> int:
    """Ruby's String#to_i, as Kaminari reads ``page``: "2abc" is 2, "abc" is 0."""
    match = _LEADING_INTEGER.match(text)
    return int(match.group(1)) if match else 0


def _is_the_inbox(inbox_id: JSON) -> bool:
    """Whether ``inbox_id`` (an integer, or a string of one, as Rails accepts) is inbox 1."""
    if isinstance(inbox_id, str) and inbox_id.strip().isdecimal():
        inbox_id = int(inbox_id)
    return type(inbox_id) is int and inbox_id == contacts.INBOX["id"]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


class BasicAuth:
    def __init__(self, api_key: str, api_secret: str) -> None:
        self._credentials = f"{api_key}:{api_secret}".encode()

    def refusal(self, request: Request) -> Response | None:
        header = request.headers.get("authorization")
        if not header:
            return json_response(
                {"errors": ["You need to sign in or sign up before continuing."]}, 401
            )
        scheme, _, token = header.partition(" ")
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            given = b""
        if scheme.lower() != "basic" or not secrets.compare_digest(given, self._credentials):
            return json_response({"error": "Invalid Access Token"}, 401)
        return None


@dataclass(frozen=True)
class Face:
    """How one API the sandbox plays answers: its auth, its 500s, its create and shapes."""

    refusal: Callable[[Request], Response | None]
    server_error: Callable[[], Response]
    create_keys: tuple[str, ...]
    inbox_required: bool = True
    search_on_list: bool = True  # q on the listing's path searches (LiveDesk)
    lacks: frozenset[str] = frozenset()  # contact fields this version doesn't have
    hides: frozenset[str] = frozenset()  # contact fields it writes and doesn't show
    inbox: dict[str, JSON] | None = None  # contact_inboxes[].inbox; None: as stored

    def render(self, record: contacts.Record, *, include_contact_inboxes: bool = True) -> JSON:
        contact = contacts.render(record, include_contact_inboxes=include_contact_inboxes)
        for name in self.lacks | self.hides:
            contact.pop(name, None)
        if self.inbox is not None and "contact_inboxes" in contact:
            contact["contact_inboxes"] = [
                {**item, "inbox": self.inbox} for item in contact["contact_inboxes"]
            ]
        return contact


class ContactsEndpoints:
    def __init__(self, store: Store, face: Face) -> None:
        self._store = store
        self._face = face

    def routes(self, path: str) -> list[Route]:
        guarded = self.guarded
        return [
            Route(path, guarded(self.index), methods=["GET"]),
            Route(path, guarded(self.create), methods=["POST"]),
            Route(path + "/{contact_id}", guarded(self.show), methods=["GET"]),
            Route(path + "/{contact_id}", guarded(self.update), methods=["PATCH", "PUT"]),
        ]

    def guarded(self, handler: Handler) -> Handler:
        """``handler`` behind the face's auth, with a database or server fault as a 500."""

        async def endpoint(request: Request) -> Response:
            refusal = self._face.refusal(request)
            if refusal is not None:
                return refusal
            try:
                return await handler(request)
            except (ServerFault, sqlite3.IntegrityError):
                return self._face.server_error()

        return endpoint

    async def body(self, request: Request) -> dict[str, JSON] | Response:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(
                raw, parse_constant=_reject_constant, parse_float=contacts.stored_float
            )
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "The request body is not valid JSON"}, 400)
        except RecursionError:
            body = None
        if body is None or contacts.depth(body) > contacts.MAX_NESTING:
            # Rails' JSON parser stops at 100 levels: 400, nothing stored.
            return json_response({"error": "The request body is nested too deeply"}, 400)
        if contacts.holds_nul(body):
            # PostgreSQL can't store U+0000 in text or jsonb: the write fails, nothing stored.
            return json_response({"status": 500, "error": "Internal Server Error"}, 500)
        # Rails files a non-object JSON body under params["_json"]: no contact fields.
        return body if isinstance(body, dict) else {}

    def _contact_or_none(self, request: Request) -> contacts.Record | None:
        raw_id = request.path_params["contact_id"]
        if not raw_id.isascii() or not raw_id.isdigit() or int(raw_id) > _LARGEST_ID:
            return None
        return self._store.get(int(raw_id))

    def _listing(
        self, request: Request, *, query: str | None, conditions: Conditions = ()
    ) -> Response:
        """A page of the listing, a search or a filter, with LiveDesk's and Chatwoot's meta."""
        params = request.query_params
        raw_page = params.get("page")
        page = max(_ruby_to_i(raw_page), 1) if raw_page is not None else 1
        sort = params.get("sort", "")
        descending = sort.startswith("-")
        sort = sort.removeprefix("-")
        direction = params.get("direction", "").lower()
        if direction in {"asc", "desc"} and self._face.search_on_list:
            descending = direction == "desc"  # LiveDesk documents it; Chatwoot ignores it
        if "labels[]" in params:
            labels = params.getlist("labels[]")
        else:
            labels = params.get("labels", "").split(",")
        include_inboxes = params.get("include_contact_inboxes", "")
        total, records = self._store.page(
            page,
            PAGE_SIZE,
            query=query,
            labels=[label.strip() for label in labels if label.strip()],
            sort=sort if sort in SORT_COLUMNS else None,
            descending=descending,
            conditions=conditions,
        )
        payload = [
            self._face.render(record, include_contact_inboxes=include_inboxes in {"", "true"})
            for record in records
        ]
        meta = {"count": total, "current_page": 1 if raw_page is None else raw_page}
        return json_response({"meta": meta, "payload": payload})

    async def index(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip() if self._face.search_on_list else ""
        return self._listing(request, query=query or None)

    async def show(self, request: Request) -> Response:
        record = self._contact_or_none(request)
        if record is None:
            return not_found()
        return json_response({"payload": self._face.render(record)})

    def _permitted(self, body: dict[str, JSON], keys: tuple[str, ...]) -> dict[str, JSON]:
        return contacts.permitted(body, tuple(k for k in keys if k not in self._face.lacks))

    async def create(self, request: Request) -> Response:
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        inbox_id = body.get("inbox_id")
        no_inbox = inbox_id is None or inbox_id == ""
        if no_inbox and self._face.inbox_required:
            return _unprocessable([Invalid("inbox_id", "Inbox can't be blank")])
        record = contacts.new_record(self._permitted(body, self._face.create_keys))
        problems = contacts.validate(record, self._store.taken)
        if problems:
            return _unprocessable(problems)
        if not no_inbox and not _is_the_inbox(inbox_id):
            return not_found()
        contact_inbox: JSON = {"inbox": None, "source_id": None}
        if not no_inbox:
            contact_inbox = {"source_id": str(uuid.uuid4()), "inbox": dict(contacts.INBOX)}
            record["contact_inboxes"] = [contact_inbox]
            contact_inbox = {
                "inbox": contacts.INBOX_DETAIL,
                "source_id": contact_inbox["source_id"],
            }
        stored = self._store.insert(record)
        return json_response(
            {"payload": {"contact": self._face.render(stored), "contact_inbox": contact_inbox}}
        )

    async def update(self, request: Request) -> Response:
        record = self._contact_or_none(request)
        if record is None:
            return not_found()
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        changes = self._permitted(body, contacts.UPDATE_KEYS)
        updated = contacts.changed(record, changes)
        poisoned = contacts.location_problem(record)  # stored by an earlier save
        if poisoned is not None:
            return _unprocessable([poisoned])
        problems = contacts.validate(
            updated,
            lambda field, value: self._store.taken(field, value, other_than=record["id"]),
        )
        if problems:
            return _unprocessable(problems)
        # Compared as JSON text: Python's == has 1 == 1.0 == True, LiveDesk does not.
        if json.dumps(updated, sort_keys=True) != json.dumps(record, sort_keys=True):
            self._store.replace(updated)
        return json_response({"payload": self._face.render(updated)})
