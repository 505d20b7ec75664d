"""The unit of work: one database transaction, rolled back unless ``commit()`` is called."""

from __future__ import annotations

import contextlib
from types import TracebackType

from sqlalchemy import Connection, Engine

from kopilka.store.db import READ_ONLY, writer_lock
from kopilka.store.repos.idempotency import IdempotencyRepo
from kopilka.store.repos.ledger import LedgerRepo
from kopilka.store.repos.members import MemberRepo
from kopilka.store.repos.programs import ProgramRepo


class UnitOfWork:
    """Opens a transaction on enter; exposes the repositories bound to it."""

    conn: Connection

    def __init__(self, engine: Engine, *, read_only: bool = False, lock_rows: bool = True) -> None:
        self._engine = engine
        self._read_only = read_only
        self._lock_rows = lock_rows
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self._queued = contextlib.ExitStack()
        lock = None if self._read_only else writer_lock(self._engine)
        if lock is not None:
            self._queued.enter_context(lock.hold())
        try:
            return self._open()
        except BaseException:
            self._queued.close()
            raise

    def _open(self) -> UnitOfWork:
        conn = self._engine.connect()
        if self._read_only:
            conn = conn.execution_options(**{READ_ONLY: True})
        self.conn = conn
        self._tx = conn.begin()
        self.programs = ProgramRepo(conn)
        self.members = MemberRepo(conn)
        self.ledger = LedgerRepo(conn, lock_rows=self._lock_rows)
        self.idempotency = IdempotencyRepo(conn)
        return self

    def commit(self) -> None:
        self._tx.commit()
        self._committed = True

    def rollback(self) -> None:
        if self._tx.is_active:
            self._tx.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                if self._read_only and exc_type is None and self._tx.is_active:
                    # nothing was written, so COMMIT ends it as ROLLBACK would; but psycopg
                    # deallocates every prepared statement of the connection on ROLLBACK,
                    # and a read (a balance, /health) between two purchases on a pooled
                    # connection would make every purchase's statements unprepared again
                    self._tx.commit()
                else:
                    self.rollback()
        finally:
            self.conn.close()
            self._queued.close()
