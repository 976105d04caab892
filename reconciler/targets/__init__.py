"""The API seam: ``base`` (the protocol and capabilities), one module per help desk, the
HTTP machinery they share in ``http/``, and ``registry`` (targets by name).

Importing this package, or ``base``, loads no HTTP stack: only ``registry`` and the
target modules do.
"""
