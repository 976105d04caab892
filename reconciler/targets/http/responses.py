"""Reading an API's answers: the JSON document of a 2xx, or the typed error of the others.

Pure functions of (status, content type, body bytes), so they don't need httpx. Error
messages carry what the server said in one line, and summarise HTML or empty bodies
instead of dumping them.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence

from reconciler.errors import (
    AuthenticationError,
    HTTPStatusError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnprocessableError,
)
from reconciler.model import JSON

MAX_MESSAGE = 300


def _one_line(text: str) -> str:
    """Server text for a terminal: one line, short, and every control character (an ANSI
    escape, a carriage return) shown as an escape rather than obeyed."""
    line = re.sub(r"[ \t\n]+", " ", text).strip()
    line = "".join(char if char.isprintable() else repr(char)[1:-1] for char in line)
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _looks_like_html(content_type: str, body: bytes) -> bool:
    start = body.lstrip()[:15].lower()
    return "html" in content_type.lower() or start.startswith((b"<!doctype", b"<html", b"<"))


def describe_body(content_type: str, body: bytes) -> str:
    """What a body that is not the expected JSON is, without its contents."""
    if not body.strip():
        return "an empty body"
    if _looks_like_html(content_type, body):
        return "an HTML page"
    return f"a {content_type or 'untyped'} body that is not JSON"


def _message_in(document: JSON) -> str | None:
    """The message of an error body of any shape Rails and Chatwoot send: ``message``,
    ``error`` or ``errors``, each as text, a list of texts, fields to texts or lists
    (``{"email": ["is taken"]}``) or a nested message; or a bare list. None when it holds no
    text at all."""
    if isinstance(document, list):
        return _text_of(document)
    if not isinstance(document, Mapping):
        return None
    for key in ("message", "error", "errors"):
        text = _text_of(document.get(key))
        if text:
            return text
    return None


def _text_of(value: JSON, depth: int = 0) -> str | None:
    """The texts in ``value``, in one line, as deep as a message is ever nested."""
    if isinstance(value, str):
        return _one_line(value) if value.strip() else None
    if depth > 3:
        return None
    if isinstance(value, list):
        texts = [text for item in value if (text := _text_of(item, depth + 1))]
        return _one_line("; ".join(texts)) if texts else None
    if isinstance(value, Mapping):
        parts = []
        for field, item in value.items():
            text = _text_of(item, depth + 1)
            if text:
                parts.append(text if field in ("message", "error") else f"{field} {text}")
        return _one_line("; ".join(parts)) if parts else None
    return None


def is_api_error(body: bytes) -> bool:
    """Whether a body is an API's JSON error (``error``, ``message`` or ``errors``), as the
    contacts API answers an unknown id, rather than a web server's page for a wrong URL."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return _message_in(document) is not None


def server_message(content_type: str, body: bytes) -> str:
    """The server's own message in one line, or a summary of a body that has none."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        pass
    else:
        return _message_in(document) or "a JSON body with no error message"
    if body.strip() and "text/plain" in content_type.lower():
        return _one_line(body.decode("utf-8", "replace"))
    return f"{describe_body(content_type, body)}, no error message"


def _attributes_in(content_type: str, body: bytes) -> tuple[str, ...]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return ()
    attributes = document.get("attributes") if isinstance(document, Mapping) else None
    if isinstance(attributes, list):
        return tuple(str(attribute) for attribute in attributes)
    return ()


def status_error(
    status: int,
    content_type: str,
    body: bytes,
    service: str,
    auth_hint: str = "",
    *,
    secrets: Sequence[str] = (),
) -> HTTPStatusError:
    """The typed error for a non-2xx answer, carrying the server's message.

    A server may echo what it was sent: each of ``secrets`` in its message becomes ``***``.
    """
    message = server_message(content_type, body)
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    if status == 401:
        return AuthenticationError(f"{message} ({auth_hint})" if auth_hint else message, service)
    if status == 404:
        return NotFoundError(status, message, service)
    if status == 422:
        return UnprocessableError(message, _attributes_in(content_type, body), service)
    if status == 429:
        return RateLimitedError(status, message, service)
    if status >= 500:
        return ServerError(status, message, service)
    return HTTPStatusError(status, message, service)


def decode_json(what: str, status: int, content_type: str, body: bytes, service: str) -> JSON:
    """The JSON document of a 2xx answer to ``what`` ("GET /path")."""
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidResponseError(
            f"{service} answered {what} with {status} and {describe_body(content_type, body)}"
        ) from None
    except RecursionError:
        raise InvalidResponseError(
            f"{service} answered {what} with {status} and JSON nested too deeply to read"
        ) from None


def redirect_target(location: str) -> str:
    """Where a redirect points, without its query or fragment (they may hold a token)."""
    parts = urllib.parse.urlsplit(location.strip())
    shown = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", "")
    )
    text = shown or "nowhere (no Location header)"
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
