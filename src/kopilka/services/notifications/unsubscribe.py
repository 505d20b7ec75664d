"""One-click unsubscribe: every marketing message carries a link with a signed token
(HMAC-SHA256 with the application's secret over the program, the member and the consent
purpose); the portal's route reads it without sign-in and records the withdrawal (a "no"
to that purpose in the member's consents, and an audit line)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import TypedDict

from kopilka.domain.errors import ValidationError
from kopilka.domain.member import Consent
from kopilka.domain.messages import msg
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo

_PREFIX = b"kopilka-unsubscribe-v1:"


@dataclass(frozen=True, slots=True)
class UnsubscribeToken:
    """What a token names: the program, the member and the consent purpose."""

    program_id: int
    member_id: int
    purpose: str


class Unsubscribed(TypedDict):
    """An unsubscribe's outcome: the purpose and whether the consent was already
    withdrawn (then nothing new was recorded)."""

    program_id: int
    purpose: str
    already: bool


def _mac(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), _PREFIX + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def make_token(secret: str, token: UnsubscribeToken) -> str:
    """The signed token of an unsubscribe link."""
    body = f"{token.program_id}.{token.member_id}.{token.purpose}".encode()
    encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{encoded}.{_mac(secret, body)}"


def read_token(secret: str, text: str) -> UnsubscribeToken:
    """The token's contents, or a ValidationError when it was not signed with ``secret``
    or is malformed (the edge check of the portal's route)."""
    bad = ValidationError(msg("this unsubscribe link is not valid"), field="token")
    encoded, _, mac = text.partition(".")
    if not encoded or not mac or len(text) > 300:
        raise bad
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise bad from None
    if not hmac.compare_digest(_mac(secret, body), mac):
        raise bad
    try:
        program, member, purpose = body.decode().split(".", 2)
        return UnsubscribeToken(int(program), int(member), purpose)
    except ValueError:
        raise bad from None


def unsubscribe_url(public_url: str, secret: str, token: UnsubscribeToken) -> str:
    """The link a marketing message carries."""
    return f"{public_url.rstrip('/')}/portal/unsubscribe/{make_token(secret, token)}"


def unsubscribe(ctx: ServiceContext, token_text: str) -> Unsubscribed:
    """Record the withdrawal a token asks for: a "no" to its purpose, given through the
    ``unsubscribe`` channel, and an audit line (actor ``member:<id>``); a consent already
    withdrawn records nothing. ValidationError for a token that is not ours."""
    token = read_token(ctx.messaging.secret, token_text)
    now = ctx.now()
    with ctx.uow() as uow:
        uow.members.get(token.program_id, token.member_id, identifiers=False)
        latest = {c.purpose: c for c in uow.members.consents(token.member_id)}
        answer = latest.get(token.purpose)
        if answer is not None and not answer.granted:
            return {"program_id": token.program_id, "purpose": token.purpose, "already": True}
        uow.members.add_consents(
            token.member_id, [Consent(token.purpose, False, "unsubscribe", now)]
        )
        AuditLogRepo(uow.conn).add(
            token.program_id,
            f"member:{token.member_id}",
            "member.consent.unsubscribe",
            f"member:{token.member_id}",
            {"purpose": token.purpose, "granted": answer is not None and answer.granted},
            {"purpose": token.purpose, "granted": False},
            now,
        )
        uow.commit()
    return {"program_id": token.program_id, "purpose": token.purpose, "already": False}
