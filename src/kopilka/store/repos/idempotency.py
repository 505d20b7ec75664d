"""Stored outcomes of idempotent requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kopilka.store.db import FastStatement
from kopilka.store.tables import idempotency_keys

_C = idempotency_keys.c
_GET = select(_C.operation, _C.request_hash, _C.succeeded, _C.response).where(
    _C.program_id == bindparam("p"), _C.key == bindparam("k")
)
# two full-key lookups, not ``key IN (k1, k2)``: planned on statistics taken while the
# table was small, PostgreSQL's cached plan for the IN form searched the index by program
# alone and filtered every key of the program (5.9 ms at 4,000 keys, growing with each
# purchase); an equality on the whole primary key is planned as one index probe whatever
# the statistics say
_GET_TWO = FastStatement(
    union_all(
        *(
            select(_C.key, _C.operation, _C.request_hash, _C.succeeded, _C.response).where(
                _C.program_id == bindparam("p"), _C.key == bindparam(k)
            )
            for k in ("k1", "k2")
        )
    )
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


# one statement stores a success under both keys (the caller's and the use case's); as
# text because SQLAlchemy compiles a multi-row VALUES with bound parameters on every call
_PUT_TWO = FastStatement(
    text(
        'INSERT INTO idempotency_keys (program_id, "key", operation, request_hash, succeeded,'
        " response, created_at) VALUES (:p, :k1, :o, :h, :s, :r, :t), (:p, :k2, :o, :h, :s, :r, :t)"
        ' ON CONFLICT (program_id, "key") DO NOTHING RETURNING "key"'
    ).bindparams(
        bindparam("s", type_=_C.succeeded.type),
        bindparam("r", type_=_C.response.type),
        bindparam("t", type_=_C.created_at.type),
    )
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

    def get_many(self, program_id: int, keys: Sequence[str]) -> dict[str, Outcome]:
        """The stored outcomes of two keys (one query)."""
        k1, k2 = keys
        rows = _GET_TWO.mappings(self.conn, {"p": program_id, "k1": k1, "k2": k2})
        found = {}
        for r in rows:
            succeeded = bool(r["succeeded"])
            found[r["key"]] = Outcome(r["operation"], r["request_hash"], succeeded, r["response"])
        return found

    def put_pair(
        self,
        program_id: int,
        keys: tuple[str, str],
        operation: str,
        request_hash: str,
        response: dict[str, Any],
        at: datetime,
    ) -> int:
        """A success under both keys, one statement; returns how many keys were new."""
        params = {
            "p": program_id,
            "k1": keys[0],
            "k2": keys[1],
            "o": operation,
            "h": request_hash,
            "s": True,
            "r": response,
            "t": at,
        }
        return _PUT_TWO.returned_count(self.conn, params)
