"""A local stand-in for LiveDesk's contacts API: Starlette under uvicorn, state in SQLite.

contacts.py  LiveDesk's contact rules: permitted keys, merge, validation, JSON shape
store.py     SQLite: one row a contact, indexed for uniqueness, search and sorting
app.py       the HTTP endpoints (create_app)
faults.py    latency, rate limit and failures, for tests and benchmarks
server.py    SandboxOptions, serve() for the CLI, start_in_thread() for tests
"""
