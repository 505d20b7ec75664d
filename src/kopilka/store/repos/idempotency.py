"""Stored outcomes of idempotent requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from kopilka.store.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class Outcome:
    operation: str
    request_hash: str
    succeeded: bool
    response: dict[str, Any]


class IdempotencyRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, program_id: int, key: str) -> Outcome | None:
        c = idempotency_keys.c
        row = self.conn.execute(
            select(c.operation, c.request_hash, c.succeeded, c.response).where(
                c.program_id == program_id, c.key == key
            )
        ).first()
        return Outcome(row[0], row[1], bool(row[2]), row[3]) if row else None

    def put(
        self,
        program_id: int,
        key: str,
        operation: str,
        request_hash: str,
        succeeded: bool,
        response: dict[str, Any],
        at: datetime,
    ) -> bool:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(idempotency_keys).values(
                        program_id=program_id,
                        key=key,
                        operation=operation,
                        request_hash=request_hash,
                        succeeded=succeeded,
                        response=response,
                        created_at=at,
                    )
                )
        except IntegrityError:
            return False
        return True
