"""Stored outcomes of idempotent requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kopilka.store.tables import idempotency_keys

_C = idempotency_keys.c
_GET = select(_C.operation, _C.request_hash, _C.succeeded, _C.response).where(
    _C.program_id == bindparam("p"), _C.key == bindparam("k")
)
_PUT_PG = (
    pg_insert(idempotency_keys)
    .on_conflict_do_nothing(index_elements=["program_id", "key"])
    .returning(_C.program_id)
)
_PUT_SQLITE = (
    sqlite_insert(idempotency_keys)
    .on_conflict_do_nothing(index_elements=["program_id", "key"])
    .returning(_C.program_id)
)


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
        row = self.conn.execute(_GET, {"p": program_id, "k": key}).first()
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
        # DO NOTHING instead of a savepoint: a concurrent request that stored the key first
        # makes this insert a no-op, and the caller reads that request's outcome instead
        stmt = _PUT_PG if self._pg else _PUT_SQLITE
        row = {
            "program_id": program_id,
            "key": key,
            "operation": operation,
            "request_hash": request_hash,
            "succeeded": succeeded,
            "response": response,
            "created_at": at,
        }
        return self.conn.execute(stmt, row).first() is not None
