"""Ownership markers that only reconciler, holding the credential, can write."""

from __future__ import annotations

from reconciler.engine.ownership import Marker, content_of, parse_marker, signed, verified
from reconciler.targets.base import marker_secret

SECRET = marker_secret("chatwoot", "a-token")
CONTENT = Marker.of({"name": "Ada"}, "managed_by_reconciler", "contacts/vip.yaml").text()


def test_a_signed_marker_verifies_on_its_own_contact_only() -> None:
    text = signed(CONTENT, 7, SECRET)
    assert verified(text, 7, SECRET)
    assert not verified(text, 8, SECRET)  # copied onto another contact
    assert not verified(text, 7, marker_secret("chatwoot", "a-new-token"))  # rotated
    assert not verified(text, 7, marker_secret("livedesk", "a-token"))
    assert not verified(CONTENT, 7, SECRET)  # written before markers were signed
    edited = text.replace('"name"', '"email"')
    assert not verified(edited, 7, SECRET)


def test_a_signed_marker_reads_as_its_content() -> None:
    text = signed(CONTENT, 7, SECRET)
    assert content_of(text) == CONTENT and content_of(CONTENT) == CONTENT
    assert parse_marker(text) == parse_marker(CONTENT)
    marker = parse_marker(text)
    assert marker is not None and marker.file == "contacts/vip.yaml"


def test_the_secret_reveals_nothing_of_the_credential() -> None:
    assert b"a-token" not in SECRET and len(SECRET) == 32


def test_a_marker_naming_any_key_verifies() -> None:
    content = Marker.of({"custom_attributes": {"é": 1}}, "managed_by_reconciler").text()
    assert verified(signed(content, 7, SECRET), 7, SECRET)
    assert not verified(content + "#" + "é" * 32, 7, SECRET)
