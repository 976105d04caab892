"""Chatwoot's custom attribute definitions, as the sandbox plays them, under
/api/v1/accounts/{account_id}/custom_attribute_definitions (index, show, create, update,
destroy), as ``custom_attribute_definitions_controller.rb`` and the model answer them.

The index is a bare JSON array, filtered by ``attribute_model`` when given. A create or
update takes the definition under ``custom_attribute_definition`` (Rails wraps a bare body
the same way). A key is unique per model; a contact attribute may not take a standard
contact field's key. The value rules a definition states are the dashboard's to enforce:
nothing here checks a contact's values against them, as the real server doesn't.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.sandbox.contacts import JSON
from reconciler.sandbox.endpoints import Handler, json_response, not_found
from reconciler.sandbox.store import Store

DISPLAY_TYPES = ("text", "number", "currency", "percent", "link", "date", "list", "checkbox")
MODELS = ("conversation_attribute", "contact_attribute")
PERMITTED = (
    "attribute_display_name",
    "attribute_description",
    "attribute_display_type",
    "attribute_key",
    "attribute_model",
    "regex_pattern",
    "regex_cue",
    "attribute_values",
)
STANDARD_CONTACT_KEYS = frozenset(
    [
        "name",
        "email",
        "phone_number",
        "identifier",
        "country_code",
        "city",
        "created_at",
        "last_activity_at",
        "referer",
        "blocked",
    ]
)
STANDARD_CONVERSATION_KEYS = frozenset(
    [
        "status",
        "priority",
        "assignee_id",
        "inbox_id",
        "team_id",
        "display_id",
        "campaign_id",
        "labels",
        "browser_language",
        "country_code",
        "referer",
        "created_at",
        "last_activity_at",
    ]
)
_SCHEMA = "CREATE TABLE IF NOT EXISTS attribute_definitions (id INTEGER PRIMARY KEY, data TEXT)"


class DefinitionStore:
    """The definitions of the sandbox's one account, in the contacts' database (whose
    Store closes it)."""

    def __init__(self, store: Store) -> None:
        self._db, self._lock = store.database
        with self._lock:
            self._db.execute(_SCHEMA)

    def all(self) -> list[dict[str, JSON]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM attribute_definitions ORDER BY id")
            return [json.loads(data) for (data,) in rows]

    def get(self, definition_id: int) -> dict[str, JSON] | None:
        return next((d for d in self.all() if d["id"] == definition_id), None)

    def save(self, definition: dict[str, JSON]) -> dict[str, JSON]:
        """Insert (no ``id``) or replace a definition; the stored one."""
        with self._lock:
            if "id" not in definition:
                cursor = self._db.execute("INSERT INTO attribute_definitions (data) VALUES ('')")
                definition = {"id": cursor.lastrowid, **definition}
            self._db.execute(
                "UPDATE attribute_definitions SET data = ? WHERE id = ?",
                (json.dumps(definition), definition["id"]),
            )
        return definition

    def delete(self, definition_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM attribute_definitions WHERE id = ?", (definition_id,))


class DefinitionEndpoints:
    def __init__(
        self,
        store: DefinitionStore,
        guarded: Callable[[Handler], Handler],
        body: Callable[[Request], object],
    ) -> None:
        self._store = store
        self._guarded = guarded
        self._body = body

    def routes(self, path: str) -> list[Route]:
        guarded, one = self._guarded, path + "/{definition_id}"
        return [
            Route(path, guarded(self.index), methods=["GET"]),
            Route(path, guarded(self.create), methods=["POST"]),
            Route(one, guarded(self.show), methods=["GET"]),
            Route(one, guarded(self.update), methods=["PATCH", "PUT"]),
            Route(one, guarded(self.destroy), methods=["DELETE"]),
        ]

    async def index(self, request: Request) -> Response:
        model = _model(request.query_params.get("attribute_model", ""))
        return json_response(
            [d for d in self._store.all() if model in (None, d["attribute_model"])]
        )

    async def show(self, request: Request) -> Response:
        found = self._found(request)
        return not_found() if found is None else json_response(found)

    async def create(self, request: Request) -> Response:
        given = await self._payload(request)
        if isinstance(given, Response):
            return given
        now = _now()
        definition: dict[str, JSON] = {
            "attribute_display_name": None,
            "attribute_display_type": "text",
            "attribute_description": None,
            "attribute_key": None,
            "regex_pattern": None,
            "regex_cue": None,
            "attribute_values": [],
            "attribute_model": "conversation_attribute",
            "default_value": None,
            "created_at": now,
            "updated_at": now,
            **given,
        }
        invalid = self._invalid(definition, creating=True)
        return invalid or json_response(self._store.save(definition))

    async def update(self, request: Request) -> Response:
        found = self._found(request)
        if found is None:
            return not_found()
        given = await self._payload(request)
        if isinstance(given, Response):
            return given
        definition = {**found, **given, "updated_at": _now()}
        invalid = self._invalid(definition, creating=False)
        return invalid or json_response(self._store.save(definition))

    async def destroy(self, request: Request) -> Response:
        found = self._found(request)
        if found is None:
            return not_found()
        self._store.delete(int(found["id"]))  # the contacts keep their values
        return Response(status_code=204)

    def _found(self, request: Request) -> dict[str, JSON] | None:
        raw = request.path_params["definition_id"]
        return self._store.get(int(raw)) if raw.isdigit() else None

    async def _payload(self, request: Request) -> dict[str, JSON] | Response:
        body = await self._body(request)  # type: ignore[misc]
        if isinstance(body, Response):
            return body
        wrapped = body.get("custom_attribute_definition", body) if isinstance(body, dict) else None
        if not isinstance(wrapped, dict) or not any(key in wrapped for key in PERMITTED):
            message = "param is missing or the value is empty: custom_attribute_definition"
            return json_response({"error": message}, 422)
        given = {key: wrapped[key] for key in PERMITTED if key in wrapped}
        for key, allowed in (
            ("attribute_display_type", DISPLAY_TYPES),
            ("attribute_model", MODELS),
        ):
            if key in given:
                value = _enum(given[key], allowed)
                if value is None:  # Rails' enum raises ArgumentError: a 500
                    return json_response({"status": 500, "error": "Internal Server Error"}, 500)
                given[key] = value
        if "attribute_values" in given and not isinstance(given["attribute_values"], list):
            given["attribute_values"] = []  # attribute_values: [] permits arrays alone
        return given

    def _invalid(self, definition: dict[str, JSON], *, creating: bool) -> Response | None:
        errors: list[tuple[str, str]] = []
        if not definition.get("attribute_display_name"):
            errors.append(("attribute_display_name", "Attribute display name can't be blank"))
        key = definition.get("attribute_key")
        if not key:
            errors.append(("attribute_key", "Attribute key can't be blank"))
        elif any(
            other["attribute_key"] == key
            and other["attribute_model"] == definition["attribute_model"]
            and other["id"] != definition.get("id")
            for other in self._store.all()
        ):
            errors.append(("attribute_key", "Attribute key has already been taken"))
        standard = (
            STANDARD_CONTACT_KEYS
            if definition["attribute_model"] == "contact_attribute"
            else STANDARD_CONVERSATION_KEYS
        )
        if creating and key in standard:
            errors.append(
                (
                    "attribute_key",
                    "Attribute key The provided key is not allowed as it might conflict with "
                    "default attributes.",
                )
            )
        if not errors:
            return None
        return json_response(
            {
                "message": ", ".join(message for _, message in errors),
                "attributes": list(dict.fromkeys(name for name, _ in errors)),
            },
            422,
        )


def _model(text: str) -> str | None:
    return None if text == "" else _enum(text, MODELS) or "none"


def _enum(value: JSON, allowed: tuple[str, ...]) -> str | None:
    """An enum value as Rails takes it: its name, or its number (as an integer or text)."""
    if isinstance(value, str) and value in allowed:
        return value
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit():
        number = int(value)
        return allowed[number] if number < len(allowed) else None
    return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
