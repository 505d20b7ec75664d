"""Stored outcomes of idempotent requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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
        self._pg = conn.dialect.name == "postgresql"

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
        ins = pg_insert(idempotency_keys) if self._pg else sqlite_insert(idempotency_keys)
        # DO NOTHING instead of a savepoint: a concurrent request that stored the key first
        # makes this insert a no-op, and the caller reads that request's outcome instead
        stmt = (
            ins.values(
                program_id=program_id,
                key=key,
                operation=operation,
                request_hash=request_hash,
                succeeded=succeeded,
                response=response,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["program_id", "key"])
            .returning(idempotency_keys.c.program_id)
        )
        return self.conn.execute(stmt).first() is not None
