"""A local stand-in for LiveDesk's and Chatwoot's contacts APIs: Starlette under uvicorn,
one store in SQLite behind both.

contacts.py  the contact rules both share: permitted keys, merge, validation, JSON shape
store.py     SQLite: one row a contact, indexed for uniqueness, search, filters and sorting
ties.py      a listing's order with ties broken anew for each page, as PostgreSQL's
endpoints.py the endpoints both faces serve, in a face's auth and shapes
chatwoot.py  what only Chatwoot's face does: token auth, /api, /profile, filter, labels, delete
app.py       the Starlette app of both faces (create_app)
faults.py    latency, rate limit and failures, for tests and benchmarks
server.py    SandboxOptions, serve() for the CLI, start_in_thread() for tests
"""
