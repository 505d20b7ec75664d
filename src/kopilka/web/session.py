"""Signed session cookies and the CSRF tokens bound to them.

A cookie is ``<payload>.<signature>``: the payload is base64url JSON, the signature an
HMAC-SHA256 of it under a key derived from ``settings.secret_key`` (one derived key per
purpose, so an admin cookie is never a valid portal cookie). The payload carries ids and
a role, never a credential: the admin cookie names the API key by id, the portal cookie
names the member. Every session, signed in or not, has a random nonce; the CSRF token of
its forms is an HMAC of that nonce, so a token is valid only with the cookie it was made
for, and signing in starts a new nonce (no session fixation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

LIFETIME = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class Session:
    """What a cookie says: a nonce, an expiry, and the signed-in subject if any."""

    nonce: str
    expires: int  # unix seconds
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return bool(self.data)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and reads the sessions of one purpose (``admin`` or ``portal``)."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        root = secret_key.encode()
        self._sign_key = hmac.digest(root, f"kopilka.web.{purpose}.session".encode(), "sha256")
        self._csrf_key = hmac.digest(root, f"kopilka.web.{purpose}.csrf".encode(), "sha256")

    def new(self, now: datetime, data: dict[str, Any] | None = None) -> Session:
        """A fresh session (new nonce), anonymous unless ``data`` names a subject."""
        expires = int((now + LIFETIME).timestamp())
        return Session(secrets.token_urlsafe(16), expires, dict(data or {}))

    def dump(self, session: Session) -> str:
        payload = _b64(
            json.dumps(
                {"n": session.nonce, "e": session.expires, "d": session.data},
                separators=(",", ":"),
            ).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def load(self, cookie: str | None, now: datetime) -> Session | None:
        """The session a cookie carries, or None if it is missing, forged or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(str(body["n"]), int(body["e"]), dict(body["d"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if session.expires <= now.timestamp():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(session))

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._sign_key, payload.encode(), hashlib.sha256).digest())
