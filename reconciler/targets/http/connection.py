"""Where the client connects, as whom, and how hard it retries: checked before any request.

No httpx here; ``reconciler.targets.http.client`` re-exports these names.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(base_url: str) -> bool:
    """Whether ``base_url`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    return _is_loopback(urllib.parse.urlsplit(base_url).hostname or "")


def sends_in_cleartext(base_url: str) -> bool:
    """Whether requests to ``base_url`` leave the machine unencrypted (http, not loopback)."""
    parts = urllib.parse.urlsplit(base_url)
    return parts.scheme == "http" and not _is_loopback(parts.hostname or "")


def checked_base_url(base_url: str, *, service: str, allow_plain_http: bool = False) -> str:
    """The base URL without a trailing slash; ConfigError unless https, or http to loopback
    (or anywhere, when the settings allow plain http explicitly).

    Messages never repeat a query, a fragment or a user part: they may hold a credential.
    """
    try:
        parts = urllib.parse.urlsplit(base_url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        raise ConfigError(
            f"the {service} base URL is malformed ({error}); write it like https://host[:port]"
        ) from None
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"the {service} base URL must not hold credentials; set them in the environment instead"
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"the {service} base URL must not hold a query or a fragment (a token there would "
            "travel in logs and messages); credentials belong in the environment"
        )
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(
            f"the {service} base URL is not an https:// URL; write it like https://host[:port]"
        )
    if not host.isprintable() or any(character.isspace() for character in host):
        raise ConfigError(f"the {service} base URL's host holds spaces or control characters")
    if parts.scheme == "http" and not _is_loopback(host) and not allow_plain_http:
        raise ConfigError(
            f"refusing to send credentials over plain http to {host}: use https://, or, for a "
            "desk on a private network, set `allow_plain_http: true` in reconciler.yaml "
            "(plain http is otherwise allowed only to a loopback address such as 127.0.0.1)"
        )
    return base_url.strip().rstrip("/")


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, else
    ``ALL_PROXY``, unless ``NO_PROXY`` covers its host), as httpx's client picks one."""
    parts = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: attempts per request, total seconds, exponential backoff."""

    attempts: int = 8
    timeout: float = 60.0  # total seconds for all attempts of one request
    wait_initial: float = 0.2
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    retry_after_cap: float = 30.0  # longest Retry-After honoured, in seconds


def loggable_query(params: Mapping[str, str] | None) -> str:
    """The query for the debug log: parameter names, and the page number, no other value."""
    if not params:
        return ""
    shown = [name if name != "page" else f"page={value}" for name, value in params.items()]
    return "?" + "&".join(shown)
