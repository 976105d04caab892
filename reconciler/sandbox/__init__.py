"""A local stand-in for LiveDesk's and Chatwoot's contacts APIs: Starlette under uvicorn,
one store in SQLite behind both.

contacts.py  the contact rules both share: permitted keys, merge, validation, JSON shape
store.py     SQLite: one row a contact, indexed for uniqueness, search, filters and sorting
app.py       the HTTP endpoints of both faces (create_app)
chatwoot.py  what only Chatwoot's face does: token auth, /api, /profile, filter conditions
faults.py    latency, rate limit and failures, for tests and benchmarks
server.py    SandboxOptions, serve() for the CLI, start_in_thread() for tests
"""
