"""The back-office audit log: who did what, when, with the state before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kopilka.store.repos import new_id
from kopilka.store.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime


class AuditLogRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        program_id: int,
        actor: str,
        action: str,
        target: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        at: datetime,
    ) -> int:
        return new_id(
            self.conn.execute(
                insert(audit_log).values(
                    program_id=program_id,
                    actor=actor[:128],
                    action=action[:64],
                    target=target[:128],
                    before=before,
                    after=after,
                    at=at,
                )
            )
        )

    def page(
        self,
        program_id: int,
        limit: int,
        before_id: int | None,
        target: str | None = None,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditRecord]:
        c = audit_log.c
        q = select(c.id, c.actor, c.action, c.target, c.before, c.after, c.at).where(
            c.program_id == program_id
        )
        if before_id is not None:
            q = q.where(c.id < before_id)
        if target is not None:
            q = q.where(c.target == target)
        if actor is not None:
            q = q.where(c.actor == actor)
        if action is not None:
            q = q.where(c.action == action)
        if since is not None:
            q = q.where(c.at >= since)
        if until is not None:
            q = q.where(c.at < until)
        return [AuditRecord(*r) for r in self.conn.execute(q.order_by(c.id.desc()).limit(limit))]
