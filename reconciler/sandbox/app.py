"""The sandbox's HTTP API: two faces over one store, as a Starlette app.

LiveDesk (HTTP Basic auth, HTML 500s):

GET   /api/v2/accounts/contacts        list (page, sort, direction, labels,
                                       include_contact_inboxes) or search (q)
POST  /api/v2/accounts/contacts        create, in inbox 1
GET   /api/v2/accounts/contacts/{id}   get one
PATCH /api/v2/accounts/contacts/{id}   update (PUT too, as in Rails)

Chatwoot (``api-access-token`` or ``api_access_token``, JSON errors; chatwoot.py), under
/api/v1/accounts/{account_id}/contacts: the list (``q`` ignored), ``/search`` (throttled),
``POST /filter``, create (inbox optional, every field), get, update and delete, a contact's
``/labels`` and ``/destroy_custom_attributes``; ``/custom_attribute_definitions``
(definitions.py); and ``GET /api``, ``GET /api/v1/profile``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.errors import ConfigError
from reconciler.sandbox import chatwoot, contacts
from reconciler.sandbox.definitions import DefinitionEndpoints, DefinitionStore
from reconciler.sandbox.endpoints import (
    BasicAuth,
    ContactsEndpoints,
    Face,
    Handler,
    html_server_error,
)
from reconciler.sandbox.faults import FaultInjection, Faults
from reconciler.sandbox.store import Store

CONTACTS_PATH = "/api/v2/accounts/contacts"

if TYPE_CHECKING:
    from reconciler.sandbox.server import SandboxOptions


def create_app(options: SandboxOptions) -> Starlette:
    """The sandbox app over the store at ``options.db``, opened (and seeded) now.

    ``app.state.store`` is the Store; whoever created the app closes it. ``app.state.seeded``
    says whether ``options.seed`` was loaded (it is only loaded into an empty database).
    """
    try:
        store = Store(options.db)
    except sqlite3.Error as error:
        raise ConfigError(f"sandbox database {options.db}: {error}") from None
    try:
        seeded = _seed(store, options.seed) if options.seed else False
    except BaseException:
        store.close()
        raise
    livedesk = ContactsEndpoints(
        store,
        Face(
            refusal=BasicAuth(options.api_key, options.api_secret).refusal,
            server_error=html_server_error,
            create_keys=contacts.CREATE_KEYS,
        ),
    )
    auth = chatwoot.ChatwootAuth(
        options.chatwoot_token,
        options.chatwoot_bot_token,
        options.account_id,
        options.version,
        options.role,
    )
    chatwoot_api = chatwoot.ChatwootEndpoints(
        store,
        Face(
            refusal=auth.refusal,
            server_error=chatwoot.server_error,
            create_keys=contacts.UPDATE_KEYS,
            inbox_required=False,
            search_on_list=False,
            lacks=auth.lacks,
            hides=auth.hides,
            inbox=chatwoot.INBOX_SLIM,
        ),
        search_window=chatwoot.FixedWindow(options.search_limit, options.rate_window),
        role=options.role,
    )
    faults = Faults(
        latency_ms=options.latency_ms,
        rate_limit=options.rate_limit,
        rate_window=options.rate_window,
        fault_rate=options.fault_rate,
        fail_after_write=options.fail_after_write,
        seed=options.fault_seed,
        workers=options.workers,
    )
    definition_store = DefinitionStore(store)
    definitions = DefinitionEndpoints(definition_store, chatwoot_api.guarded, chatwoot_api.body)
    app = Starlette(
        routes=[
            *livedesk.routes(CONTACTS_PATH),
            *chatwoot_api.routes(chatwoot.PREFIX),
            *definitions.routes(chatwoot.DEFINITIONS_PATH),
            Route(chatwoot.VERSION_PATH, _sync(auth.about), methods=["GET"]),
            Route(chatwoot.PROFILE_PATH, _sync(auth.profile), methods=["GET"]),
        ],
        middleware=[Middleware(FaultInjection, faults=faults)] if faults.any else [],
    )
    app.state.store = store
    app.state.definitions = definition_store
    app.state.seeded = seeded
    return app


def _seed(store: Store, path: str) -> bool:
    try:
        seed = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"--seed {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"--seed {path}: not valid JSON ({error})") from None
    if not isinstance(seed, list) or not all(isinstance(item, dict) for item in seed):
        raise ConfigError(f"--seed {path}: must be a JSON array of contact objects")
    try:
        return store.seed_if_empty(seed)
    except ValueError as error:
        raise ConfigError(f"--seed {path}: {error}") from None
    except sqlite3.IntegrityError:
        raise ConfigError(
            f"--seed {path}: two contacts share an id, an email or an identifier"
        ) from None


def _sync(handler: Callable[[Request], Response]) -> Handler:
    async def endpoint(request: Request) -> Response:
        return handler(request)

    return endpoint
