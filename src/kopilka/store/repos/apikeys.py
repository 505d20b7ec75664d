"""API keys: rows of ``api_keys`` (only the hash of a key's secret is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from kopilka.store.repos import new_id
from kopilka.store.tables import api_keys, programs


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    program_id: int
    program_code: str
    name: str
    role: str
    prefix: str
    key_hash: str
    store_code: str | None
    created_at: datetime
    revoked_at: datetime | None


_COLS = (
    api_keys.c.id,
    api_keys.c.program_id,
    programs.c.code,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.prefix,
    api_keys.c.key_hash,
    api_keys.c.store_code,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


class ApiKeyRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _select(self) -> Select[Any]:
        return select(*_COLS).join(programs, programs.c.id == api_keys.c.program_id)

    def add(
        self,
        program_id: int,
        name: str,
        role: str,
        prefix: str,
        key_hash: str,
        store_code: str | None,
        at: datetime,
    ) -> int:
        return new_id(
            self.conn.execute(
                insert(api_keys).values(
                    program_id=program_id,
                    name=name,
                    role=role,
                    prefix=prefix,
                    key_hash=key_hash,
                    store_code=store_code,
                    created_at=at,
                )
            )
        )

    def by_prefix(self, prefix: str) -> ApiKeyRow | None:
        row = self.conn.execute(self._select().where(api_keys.c.prefix == prefix)).first()
        return ApiKeyRow(*row) if row else None

    def get(self, key_id: int) -> ApiKeyRow | None:
        row = self.conn.execute(self._select().where(api_keys.c.id == key_id)).first()
        return ApiKeyRow(*row) if row else None

    def list(self, program_id: int | None = None) -> list[ApiKeyRow]:
        q = self._select().order_by(api_keys.c.id)
        if program_id is not None:
            q = q.where(api_keys.c.program_id == program_id)
        return [ApiKeyRow(*r) for r in self.conn.execute(q)]

    def revoke(self, key_id: int, at: datetime) -> None:
        self.conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
