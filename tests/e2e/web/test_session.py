"""Signed session cookies and their CSRF tokens (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kopilka.web.session import LIFETIME, SessionSigner

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def test_a_session_round_trips_through_its_cookie():
    """What is signed is what is read back, nonce and subject included."""
    signer = SessionSigner("s3cret", "admin")
    session = signer.new(NOW, {"key_id": 7})
    assert signer.load(signer.dump(session), NOW) == session


def test_an_expired_session_is_no_session():
    """A cookie past its lifetime is ignored even though its signature holds."""
    signer = SessionSigner("s3cret", "admin")
    cookie = signer.dump(signer.new(NOW, {"key_id": 7}))
    assert signer.load(cookie, NOW + LIFETIME + timedelta(seconds=1)) is None


def test_another_secret_or_purpose_does_not_verify():
    """A cookie signed under another secret key or for the other area is rejected."""
    cookie = SessionSigner("s3cret", "admin").dump(SessionSigner("s3cret", "admin").new(NOW))
    assert SessionSigner("other", "admin").load(cookie, NOW) is None
    assert SessionSigner("s3cret", "portal").load(cookie, NOW) is None
    assert SessionSigner("s3cret", "admin").load("garbage", NOW) is None


def test_csrf_tokens_are_bound_to_their_session():
    """A session's token checks out for it and for no other session."""
    signer = SessionSigner("s3cret", "admin")
    one, two = signer.new(NOW), signer.new(NOW)
    assert signer.csrf_ok(one, signer.csrf_token(one))
    assert not signer.csrf_ok(two, signer.csrf_token(one))
    assert not signer.csrf_ok(one, "")
    assert not signer.csrf_ok(None, signer.csrf_token(one))
