"""What the sandbox's Chatwoot face does that its LiveDesk face doesn't (../shared/chatwoot-api.md).

Its token auth and refusals (bots, other accounts), ``GET /api`` and ``GET /api/v1/profile``,
the filter's conditions as Chatwoot reads them, the search throttle, and what an older
version lacks. The endpoints themselves are app.py's, shared by both faces.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sandbox.contacts import INBOX, JSON
from reconciler.sandbox.endpoints import ContactsEndpoints, Face, json_response, not_found
from reconciler.sandbox.store import Conditions, Store

PREFIX = "/api/v1/accounts/{account_id}/contacts"
DEFINITIONS_PATH = "/api/v1/accounts/{account_id}/custom_attribute_definitions"
PROFILE_PATH = "/api/v1/profile"
VERSION_PATH = "/api"
CONVERSATIONS_LISTED = 20
"""A contact's conversations Chatwoot lists (the latest): a delete destroys every one."""
BLOCKED_SINCE = (3, 7, 0)
"""The first release whose contacts have ``blocked`` (chatwoot/chatwoot#8922)."""
BLOCKED_SHOWN_SINCE = (4, 0, 2)
"""The first release whose contact JSON shows ``blocked`` (chatwoot/chatwoot#10899): from
3.7.0 a write stores it, and no answer or listing shows it."""

_FILTER_KEYS: dict[str, tuple[str, ...]] = {  # lib/filters/filter_keys.yml, contacts
    "name": ("equal_to", "not_equal_to", "contains", "does_not_contain"),
    "phone_number": ("equal_to", "not_equal_to", "contains", "does_not_contain", "starts_with"),
    "email": ("equal_to", "not_equal_to", "contains", "does_not_contain"),
    "identifier": ("equal_to", "not_equal_to"),
    "country_code": ("equal_to", "not_equal_to"),
    "city": ("equal_to", "not_equal_to", "contains", "does_not_contain"),
    "company": ("equal_to", "not_equal_to", "contains", "does_not_contain"),
    "labels": ("equal_to", "not_equal_to", "is_present", "is_not_present"),
    "created_at": ("is_greater_than", "is_less_than", "days_before"),
    "last_activity_at": ("is_greater_than", "is_less_than", "days_before"),
    "blocked": ("equal_to", "not_equal_to"),
}
_PLAYED = frozenset({"name", "phone_number", "email", "identifier"})
"""The keys whose equal_to and not_equal_to the sandbox evaluates."""


def json_error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def server_error() -> Response:
    return JSONResponse({"status": 500, "error": "Internal Server Error"}, status_code=500)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


@dataclass(frozen=True)
class ChatwootAuth:
    """Who the Chatwoot face lets in: one user (administrator of one account), one bot."""

    token: str
    bot_token: str
    account_id: int
    version: str
    role: str = "administrator"

    def refusal(self, request: Request) -> Response | None:
        """401 as Chatwoot answers it, or None to let the request through."""
        # Rack files both spellings under HTTP_API_ACCESS_TOKEN: Rails reads either.
        given = request.headers.get("api-access-token") or request.headers.get(
            "api_access_token", ""
        )
        if not given:
            return JSONResponse(
                {"errors": ["You need to sign in or sign up before continuing."]}, 401
            )
        if secrets.compare_digest(given.encode(), self.bot_token.encode()):
            return json_error("Access to this endpoint is not authorized for bots", 401)
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return json_error("Invalid Access Token", 401)
        account = request.path_params.get("account_id")
        if account is not None and account != str(self.account_id):
            return json_error("You are not authorized to access this account", 401)
        return None

    def about(self, request: Request) -> Response:
        """``GET /api``: the version, no auth."""
        return JSONResponse(
            {
                "version": self.version,
                "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                "queue_services": "ok",
                "data_services": "ok",
            }
        )

    def profile(self, request: Request) -> Response:
        """``GET /api/v1/profile``: the user, its token included (as Chatwoot sends it)."""
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        account = {
            "id": self.account_id,
            "name": "Sandbox",
            "status": "active",
            "role": self.role,
            "availability": "online",
        }
        return JSONResponse(
            {
                "access_token": self.token,
                "account_id": self.account_id,
                "available_name": "Sandbox Admin",
                "email": "admin@sandbox.invalid",
                "id": 1,
                "name": "Sandbox Admin",
                "role": self.role,
                "type": "User",
                "accounts": [account],
            }
        )

    @property
    def lacks(self) -> frozenset[str]:
        """The contact fields this version of Chatwoot doesn't have."""
        return (
            frozenset({"blocked"}) if version_tuple(self.version) < BLOCKED_SINCE else frozenset()
        )

    @property
    def hides(self) -> frozenset[str]:
        """The contact fields this version stores and never shows."""
        shown = version_tuple(self.version) >= BLOCKED_SHOWN_SINCE
        return frozenset() if shown else frozenset({"blocked"})


INBOX_SLIM: dict[str, JSON] = {
    "id": INBOX["id"],
    "avatar_url": "",
    "channel_id": 1,
    "name": INBOX["name"],
    "channel_type": INBOX["channel_type"],
    "provider": None,
}
"""The inbox in ``contact_inboxes``, as Chatwoot renders it (six keys)."""


def conditions_in(body: Mapping[str, JSON]) -> Conditions | Response:
    """A filter's ``payload`` as the store's conditions, or the answer Chatwoot gives it.

    As in Chatwoot, a condition uses its first value only, joins the next with its own
    ``query_operator`` (AND binds tighter), and the SQL it pastes together fails (500) when
    the last condition has an operator or another lacks one.
    """
    payload = body.get("payload")
    if not isinstance(payload, list) or not payload:
        return server_error()  # params[:payload].each on nil
    groups: list[list[tuple[str, bool, str]]] = [[]]
    for index, condition in enumerate(payload):
        if not isinstance(condition, dict):
            return server_error()
        key, operator = condition.get("attribute_key"), condition.get("filter_operator")
        values = condition.get("values")
        joined_by = condition.get("query_operator")
        if joined_by not in (None, "") and str(joined_by).upper() not in ("AND", "OR"):
            return json_error("Invalid query operator. Allowed values are AND, OR", 422)
        allowed = _FILTER_KEYS.get(str(key))
        if allowed is None:
            keys = ", ".join(_FILTER_KEYS)
            return json_error(
                f"Invalid attribute key - [{key}]. The allowed keys are [{keys}]", 422
            )
        if operator not in allowed:
            return json_error(
                f"Invalid operator. The allowed operators for {key} are [{', '.join(allowed)}].",
                422,
            )
        if not values or not isinstance(values, list):
            return json_error(f"Invalid value. The values provided for {key} are invalid", 422)
        last = index == len(payload) - 1
        if last == bool(joined_by):
            return server_error()  # PG::SyntaxError in the pasted WHERE clause
        if key not in _PLAYED or operator not in ("equal_to", "not_equal_to"):
            return json_error(f"the sandbox does not play {operator} on {key}", 422)
        value = values[0]
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        if key == "phone_number":
            value = "+" + value.replace("+", "")
        groups[-1].append((str(key), operator == "equal_to", value))
        if not last and str(joined_by).upper() == "OR":
            groups.append([])
    return tuple(tuple(group) for group in groups)


class FixedWindow:
    """At most ``limit`` requests in each window of ``seconds``, as rack-attack counts."""

    def __init__(self, limit: int, seconds: float) -> None:
        self._limit = limit
        self._seconds = seconds
        self._window = -1
        self._count = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            window = int(time.time() // self._seconds)
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            return self._count <= self._limit


def throttled() -> Response:
    return Response("Retry later", 429, media_type="text/plain")


def label_list(value: JSON) -> list[str]:
    """The labels a contact keeps from ``labels`` in a request, as acts-as-taggable parses
    them: strings stripped, blanks dropped, a repeat (in any case) kept once."""
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    kept: dict[str, str] = {}
    for item in items:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            label = str(item).strip()
            if label:
                kept.setdefault(label.casefold(), label)
    return list(kept.values())


class ChatwootEndpoints(ContactsEndpoints):
    """The shared endpoints, and those only Chatwoot has."""

    def __init__(
        self, store: Store, face: Face, *, search_window: FixedWindow, role: str = "administrator"
    ) -> None:
        super().__init__(store, face)
        self._search_window = search_window
        self._role = role

    def routes(self, path: str) -> list[Route]:
        guarded, one = self.guarded, path + "/{contact_id}"
        return [
            Route(path + "/search", guarded(self.search), methods=["GET"]),
            Route(path + "/filter", guarded(self.filter), methods=["POST"]),
            *super().routes(path),
            Route(one, guarded(self.delete), methods=["DELETE"]),
            Route(one + "/labels", guarded(self.labels), methods=["GET", "POST"]),
            Route(one + "/conversations", guarded(self.conversations), methods=["GET"]),
            Route(
                one + "/destroy_custom_attributes",
                guarded(self.destroy_custom_attributes),
                methods=["POST"],
            ),
        ]

    async def search(self, request: Request) -> Response:
        if not self._search_window.take():
            return throttled()
        query = request.query_params.get("q", "").strip()
        if not query:  # Chatwoot renders nothing in particular: no count, no contacts
            return json_response({"meta": {"count": None, "current_page": 1}, "payload": []})
        return self._listing(request, query=query)

    async def filter(self, request: Request) -> Response:
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        conditions = conditions_in(body)
        if isinstance(conditions, Response):
            return conditions
        return self._listing(request, query=None, conditions=conditions)

    async def labels(self, request: Request) -> Response:
        """Chatwoot's labels of a contact: GET them, or POST ``{"labels": [...]}`` to
        replace the whole set (acts-as-taggable: stripped, blanks and repeats dropped)."""
        record = self._contact_or_none(request)
        if record is None:
            return not_found()
        if request.method == "POST":
            body = await self.body(request)
            if isinstance(body, Response):
                return body
            record = {**record, "labels": label_list(body.get("labels"))}
            self._store.replace(record)
        return json_response({"payload": record["labels"]})

    async def conversations(self, request: Request) -> Response:
        """The contact's conversations, the latest first, at most 20
        (``contacts/conversations_controller``: ``order(last_activity_at: :desc).limit(20)``)."""
        record = self._contact_or_none(request)
        if record is None:
            return not_found()
        listed = sorted(
            record.get("conversations") or [],
            key=lambda item: int(item.get("last_activity_at") or 0),
            reverse=True,
        )
        payload = [
            {"inbox_id": INBOX["id"], "status": "open", **item, "contact_id": record["id"]}
            for item in listed[:CONVERSATIONS_LISTED]
        ]
        return json_response({"payload": payload})

    async def destroy_custom_attributes(self, request: Request) -> Response:
        record = self._contact_or_none(request)
        if record is None:
            return not_found()
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        keys = body.get("custom_attributes")
        names = {str(key) for key in keys} if isinstance(keys, list) else {str(keys)}
        kept = {k: v for k, v in record["custom_attributes"].items() if k not in names}
        record = {**record, "custom_attributes": kept}
        self._store.replace(record)
        return json_response({"payload": self._face.render(record)})

    async def delete(self, request: Request) -> Response:
        record = self._contact_or_none(request)
        if record is None:
            return not_found()
        if self._role != "administrator":  # Pundit: agents may not delete contacts
            return json_error("You are not authorized to do this action", 401)
        if record["availability_status"] == "online":
            name = str(record["name"] or "").capitalize()
            return json_response({"message": f"{name} is Online, please try again later"}, 422)
        self._store.delete(int(record["id"]))
        return Response(status_code=200)
