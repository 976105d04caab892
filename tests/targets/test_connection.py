from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.errors import ConfigError
from reconciler.targets.http.client import _tls_context
from reconciler.targets.http.connection import checked_base_url
from reconciler.targets.livedesk import (
    DEFAULT_BASE_URL,
    Credentials,
    LiveDeskClient,
    base_url_from_env,
)

SECRET = "s3cr3t-Zq9-never-shown"


def test_credentials_come_from_the_environment() -> None:
    environ = {"LIVEDESK_API_KEY": "key-1", "LIVEDESK_API_SECRET": SECRET}
    assert Credentials.from_env(environ) == Credentials("key-1", SECRET)


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"LIVEDESK_API_SECRET": SECRET}, "LIVEDESK_API_KEY is not set"),
        ({"LIVEDESK_API_KEY": "key-1"}, "LIVEDESK_API_SECRET is not set"),
        ({"LIVEDESK_API_KEY": "key-1", "LIVEDESK_API_SECRET": ""}, "LIVEDESK_API_SECRET is not"),
        ({}, "LIVEDESK_API_KEY and LIVEDESK_API_SECRET are not set"),
    ],
)
def test_missing_credentials_are_named(environ: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing) as caught:
        Credentials.from_env(environ)
    assert SECRET not in str(caught.value)


def test_credentials_never_show_the_secret() -> None:
    credentials = Credentials("key-1", SECRET)
    assert "key-1" in repr(credentials)
    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)
    assert SECRET not in f"{credentials!r} {credentials}"


def test_base_url_from_environment_then_settings_then_default() -> None:
    assert base_url_from_env(None, {}) == DEFAULT_BASE_URL == "https://livedesk-api.engagelab.com"
    assert base_url_from_env("https://eu.example.com/", {}) == "https://eu.example.com"
    environ = {"LIVEDESK_BASE_URL": "http://127.0.0.1:8080"}
    assert base_url_from_env("https://eu.example.com", environ) == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "url",
    [
        "https://livedesk-api.engagelab.com",
        "https://example.com/prefix/",
        "http://127.0.0.1:8080",
        "http://127.8.9.10",
        "http://localhost:9000",
        "http://[::1]:8080",
    ],
)
def test_https_anywhere_and_plain_http_to_loopback_are_accepted(url: str) -> None:
    assert checked_base_url(url, service="LiveDesk") == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://livedesk-api.engagelab.com", "plain http to livedesk-api.engagelab.com"),
        ("http://10.0.0.1:8080", "plain http to 10.0.0.1"),
        ("http://127.0.0.1.example.com", "plain http to 127.0.0.1.example.com"),
        ("http://[::2]", "plain http to ::2"),
        ("ftp://example.com", "not an https:// URL"),
        ("livedesk-api.engagelab.com", "not an https:// URL"),
        ("https://", "not an https:// URL"),
        ("http://[::1", "malformed"),
        ("http://127.0.0.1:99999", "malformed"),
        ("https://exa mple.com", "spaces or control characters"),
    ],
)
def test_other_base_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LiveDeskClient(url, Credentials("key-1", SECRET))


def test_a_base_url_holding_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError, match="must not hold credentials") as caught:
        checked_base_url(f"https://key-1:{SECRET}@example.com", service="LiveDesk")
    assert SECRET not in str(caught.value)


def test_nonsense_settings_are_refused() -> None:
    credentials = Credentials("key-1", SECRET)
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        LiveDeskClient("https://example.com", credentials, concurrency=0)
    with pytest.raises(ConfigError, match="rate limit must be a positive number"):
        LiveDeskClient("https://example.com", credentials, rate_limit=-5.0)


def test_tls_verifies_and_plain_http_skips_the_ca_bundle() -> None:
    """An https client loads the CA bundle once; plain http (loopback) none: TLS fails closed."""
    https = _tls_context("https://livedesk.example")
    plain = _tls_context("http://127.0.0.1:8080")
    for context in (https, plain):
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert https.cert_store_stats()["x509_ca"] > 0
    assert plain.cert_store_stats()["x509_ca"] == 0


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1", "is malformed (Invalid IPv6 URL)"),
        ("https://127.0.0.1:99999", "is malformed (Port out of range 0-65535)"),
        (f"https://desk.example/?token={SECRET}", "must not hold a query"),
        (f"https://desk.example/#{SECRET}", "must not hold a query or a fragment"),
    ],
)
def test_a_malformed_base_url_is_one_line_and_exit_1(
    url: str,
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("contacts:\n  - identifier: a\n", "utf-8")
    for name, value in (("BASE_URL", url), ("API_KEY", "key"), ("API_SECRET", SECRET)):
        monkeypatch.setenv(f"LIVEDESK_{name}", value)
    assert main(["plan", "c.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: the LiveDesk base URL ")
    assert words in err
    assert "Traceback" not in err
    assert SECRET not in err
