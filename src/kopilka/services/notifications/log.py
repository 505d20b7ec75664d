"""The messages log as people read it: a member's messages, newest first, with the
address masked (the console's member card)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.repos.messages import MessageRepo

MEMBER_MESSAGES = 50


class MessageView(TypedDict):
    """One message on the member card: never its text nor its full address."""

    id: int
    created_at: datetime
    sent_at: datetime | None
    channel: str
    address_masked: str | None
    topic: str
    purpose: str
    locale: str
    status: str
    reason: str | None
    attempts: int
    error: str | None


def member_messages(
    ctx: ServiceContext, program: Program, member_id: int, limit: int = MEMBER_MESSAGES
) -> list[MessageView]:
    """The member's messages, newest first (at most ``limit``)."""
    with ctx.uow(read_only=True) as uow:
        rows = MessageRepo(uow.conn).for_member(program.id, member_id, limit)
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "sent_at": r.sent_at,
            "channel": r.channel,
            "address_masked": r.address_masked,
            "topic": r.topic,
            "purpose": r.purpose,
            "locale": r.locale,
            "status": r.status,
            "reason": r.reason,
            "attempts": r.attempts,
            "error": r.error,
        }
        for r in rows
    ]
