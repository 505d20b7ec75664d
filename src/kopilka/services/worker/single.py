"""One worker per SQLite database.

SQLite has one writer, and its ``SELECT`` has no ``FOR UPDATE SKIP LOCKED``: a second
worker would only queue for the writer lock. So a worker on SQLite takes the database's
worker lock, a row naming its process (id and host) and refreshed at every round; a
second worker refuses to start and says who holds it. The lock is taken over when its
holder is gone: on the same host, when no process has its id; from another host, when it
has not been refreshed for a while.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from kopilka.domain.errors import ConflictError
from kopilka.services.context import ServiceContext
from kopilka.store.repos.jobs import JobRepo, LockRow

LOCK = "worker"


class WorkerRefused(ConflictError):
    """Another worker serves this SQLite database."""

    code = "worker_running"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # a worker of this very process (the demo server's thread)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def holder_alive(row: LockRow, host: str, now: datetime, stale_after: timedelta) -> bool:
    """Whether the worker that holds the lock is still there."""
    if row.host == host:
        return _process_alive(row.pid)
    return row.heartbeat_at > now - stale_after


class SingleWorker:
    """The SQLite worker lock of one worker."""

    def __init__(self, ctx: ServiceContext, holder: str, stale_after: timedelta) -> None:
        self.ctx = ctx
        self.holder = holder
        self.stale_after = stale_after
        self.host = socket.gethostname()

    @classmethod
    def for_context(cls, ctx: ServiceContext, holder: str, lease: timedelta) -> SingleWorker | None:
        """The lock a worker on ``ctx``'s database needs (None on PostgreSQL)."""
        if ctx.engine.dialect.name != "sqlite":
            return None
        return cls(ctx, holder, max(lease * 3, timedelta(minutes=1)))

    def acquire(self) -> None:
        """Take the lock, or raise WorkerRefused naming its live holder."""
        now = self.ctx.now()
        with self.ctx.uow() as uow:
            repo = JobRepo(uow.conn)
            row = repo.worker_lock(LOCK)
            if (
                row is not None
                and row.holder != self.holder
                and holder_alive(row, self.host, now, self.stale_after)
            ):
                raise WorkerRefused(
                    f"another worker (process {row.pid} on {row.host}, since"
                    f" {row.started_at.isoformat(timespec='seconds')}) serves this SQLite"
                    " database; SQLite takes one worker (PostgreSQL takes many)",
                    pid=row.pid,
                    host=row.host,
                )
            repo.take_worker_lock(LOCK, self.holder, os.getpid(), self.host, now)
            uow.commit()

    def heartbeat(self) -> None:
        """Say the holder is still there."""
        with self.ctx.uow() as uow:
            JobRepo(uow.conn).beat_worker_lock(LOCK, self.holder, self.ctx.now())
            uow.commit()

    def release(self) -> None:
        """Give the lock back (only this worker's)."""
        with self.ctx.uow() as uow:
            JobRepo(uow.conn).drop_worker_lock(LOCK, self.holder)
            uow.commit()
