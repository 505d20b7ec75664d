"""The worker's rows: job schedules and their leases, job runs, scheduled accruals and the
SQLite worker lock.

A run is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers
never lock the same schedule row, and the one that does not get it moves on to the next
due job instead of waiting. SQLite has one writer (and one worker), so the clause is
dropped there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from kopilka.domain.jobs import Lease, RunOutcome
from kopilka.store.repos import new_id
from kopilka.store.tables import (
    job_runs,
    job_schedules,
    programs,
    scheduled_accrual_members,
    scheduled_accruals,
    worker_locks,
)


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    program_id: int
    job: str
    cron: str
    next_run_at: datetime
    lease: Lease | None
    lease_run_id: int | None


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    program_id: int
    job: str
    scheduled_for: datetime
    started_at: datetime
    ended_at: datetime | None
    worker: str
    outcome: str
    counts: dict[str, int]
    error: str | None


@dataclass(frozen=True, slots=True)
class AccrualRow:
    id: int
    program_id: int
    points: int
    reason: str
    run_at: datetime
    status: str
    members: int
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class LockRow:
    holder: str
    pid: int
    host: str
    started_at: datetime
    heartbeat_at: datetime


def _schedule(r: Any) -> ScheduleRow:
    lease = (
        Lease(r.lease_holder, r.lease_expires_at)
        if r.lease_holder is not None and r.lease_expires_at is not None
        else None
    )
    return ScheduleRow(r.program_id, r.job, r.cron, r.next_run_at, lease, r.lease_run_id)


def _run(r: Any) -> RunRow:
    return RunRow(
        r.id,
        r.program_id,
        r.job,
        r.scheduled_for,
        r.started_at,
        r.ended_at,
        r.worker,
        r.outcome,
        dict(r.counts or {}),
        r.error,
    )


def _accrual(r: Any) -> AccrualRow:
    return AccrualRow(
        r.id,
        r.program_id,
        r.points,
        r.reason,
        r.run_at,
        r.status,
        r.members,
        r.created_by,
        r.created_at,
        r.ended_at,
        dict(r.counts or {}),
    )


class JobRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- schedules -------------------------------------------------------------------

    def program_ids(self) -> list[int]:
        return [
            int(i)
            for i in self.conn.execute(select(programs.c.id).order_by(programs.c.id)).scalars()
        ]

    def schedules(self, program_ids: Sequence[int] | None = None) -> list[ScheduleRow]:
        c = job_schedules.c
        q = select(job_schedules).order_by(c.program_id, c.job)
        if program_ids is not None:
            q = q.where(c.program_id.in_(program_ids))
        return [_schedule(r) for r in self.conn.execute(q)]

    def add_schedule(self, program_id: int, job: str, cron: str, next_run_at: datetime) -> None:
        self.conn.execute(
            insert(job_schedules).values(
                program_id=program_id,
                job=job,
                cron=cron,
                next_run_at=next_run_at,
                updated_at=next_run_at,
            )
        )

    def set_cron(
        self, program_id: int, job: str, cron: str, next_run_at: datetime, now: datetime
    ) -> None:
        c = job_schedules.c
        self.conn.execute(
            update(job_schedules)
            .where(c.program_id == program_id, c.job == job)
            .values(cron=cron, next_run_at=next_run_at, updated_at=now)
        )

    def bring_forward(self, program_id: int, job: str, at: datetime, now: datetime) -> None:
        """Make the job due at ``at`` at the latest (a scheduled accrual's time)."""
        c = job_schedules.c
        self.conn.execute(
            update(job_schedules)
            .where(c.program_id == program_id, c.job == job, c.next_run_at > at)
            .values(next_run_at=at, updated_at=now)
        )

    def lock_claimable(
        self, now: datetime, program_ids: Sequence[int] | None, jobs: Iterable[str]
    ) -> ScheduleRow | None:
        """The most overdue schedule that is due and not leased, locked (rows another
        worker has locked are skipped, not waited for)."""
        c = job_schedules.c
        q = (
            select(job_schedules)
            .where(
                c.next_run_at <= now,
                c.job.in_(list(jobs)),
                or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            )
            .order_by(c.next_run_at, c.program_id, c.job)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if program_ids is not None:
            q = q.where(c.program_id.in_(program_ids))
        row = self.conn.execute(q).first()
        return _schedule(row) if row is not None else None

    def lock_schedule(self, program_id: int, job: str) -> ScheduleRow | None:
        c = job_schedules.c
        row = self.conn.execute(
            select(job_schedules).where(c.program_id == program_id, c.job == job).with_for_update()
        ).first()
        return _schedule(row) if row is not None else None

    def take_lease(
        self, program_id: int, job: str, lease: Lease, run_id: int, now: datetime
    ) -> None:
        c = job_schedules.c
        self.conn.execute(
            update(job_schedules)
            .where(c.program_id == program_id, c.job == job)
            .values(
                lease_holder=lease.holder,
                lease_expires_at=lease.expires_at,
                lease_run_id=run_id,
                updated_at=now,
            )
        )

    def renew_lease(
        self, program_id: int, job: str, run_id: int, holder: str, until: datetime
    ) -> bool:
        """Extend the lease if ``holder`` still holds it for ``run_id``; False when it was
        lost (it expired and another worker took the job over)."""
        c = job_schedules.c
        done = self.conn.execute(
            update(job_schedules)
            .where(
                c.program_id == program_id,
                c.job == job,
                c.lease_holder == holder,
                c.lease_run_id == run_id,
            )
            .values(lease_expires_at=until)
        )
        return done.rowcount == 1

    def release(
        self,
        program_id: int,
        job: str,
        run_id: int,
        holder: str,
        next_run_at: datetime | None,
        now: datetime,
    ) -> bool:
        """End ``holder``'s lease of ``run_id`` and set when the job is due next (None:
        unchanged); False when the lease was lost already."""
        c = job_schedules.c
        values: dict[str, Any] = {
            "lease_holder": None,
            "lease_expires_at": None,
            "lease_run_id": None,
            "updated_at": now,
        }
        if next_run_at is not None:
            values["next_run_at"] = next_run_at
        done = self.conn.execute(
            update(job_schedules)
            .where(
                c.program_id == program_id,
                c.job == job,
                c.lease_holder == holder,
                c.lease_run_id == run_id,
            )
            .values(**values)
        )
        return done.rowcount == 1

    # --- runs ------------------------------------------------------------------------

    def start_run(
        self, program_id: int, job: str, scheduled_for: datetime, worker: str, now: datetime
    ) -> int:
        return new_id(
            self.conn.execute(
                insert(job_runs).values(
                    program_id=program_id,
                    job=job,
                    scheduled_for=scheduled_for,
                    started_at=now,
                    worker=worker[:128],
                    outcome=RunOutcome.RUNNING.value,
                )
            )
        )

    def abandon_runs(self, program_id: int, job: str, now: datetime) -> int:
        """Mark the job's runs still ``running`` as abandoned (their worker's lease expired)."""
        c = job_runs.c
        done = self.conn.execute(
            update(job_runs)
            .where(
                c.program_id == program_id,
                c.job == job,
                c.outcome == RunOutcome.RUNNING.value,
            )
            .values(outcome=RunOutcome.ABANDONED.value, ended_at=now)
        )
        return int(done.rowcount)

    def end_run(
        self,
        run_id: int,
        outcome: RunOutcome,
        counts: dict[str, int],
        error: str | None,
        now: datetime,
    ) -> None:
        self.conn.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(
                outcome=outcome.value,
                counts=counts,
                error=error[:500] if error else None,
                ended_at=now,
            )
        )

    def runs(
        self, program_ids: Sequence[int] | None, limit: int, job: str | None = None
    ) -> list[RunRow]:
        c = job_runs.c
        q = select(job_runs).order_by(c.id.desc()).limit(limit)
        if program_ids is not None:
            q = q.where(c.program_id.in_(program_ids))
        if job is not None:
            q = q.where(c.job == job)
        return [_run(r) for r in self.conn.execute(q)]

    def run_counts(self) -> list[tuple[str, str, int]]:
        """How many runs ended each way, per job kind: (job, outcome, count)."""
        c = job_runs.c
        q = select(c.job, c.outcome, func.count()).group_by(c.job, c.outcome)
        return [(str(j), str(o), int(n)) for j, o, n in self.conn.execute(q)]

    # --- scheduled accruals ------------------------------------------------------------

    def add_accrual(
        self,
        program_id: int,
        points: int,
        reason: str,
        run_at: datetime,
        member_ids: Sequence[int],
        created_by: str,
        now: datetime,
    ) -> int:
        accrual_id = new_id(
            self.conn.execute(
                insert(scheduled_accruals).values(
                    program_id=program_id,
                    points=points,
                    reason=reason,
                    run_at=run_at,
                    status="scheduled",
                    members=len(member_ids),
                    created_by=created_by[:128],
                    created_at=now,
                )
            )
        )
        self.conn.execute(
            insert(scheduled_accrual_members),
            [{"accrual_id": accrual_id, "member_id": m} for m in member_ids],
        )
        return accrual_id

    def accrual(self, program_id: int, accrual_id: int, *, lock: bool = False) -> AccrualRow | None:
        c = scheduled_accruals.c
        q = select(scheduled_accruals).where(c.id == accrual_id, c.program_id == program_id)
        if lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        return _accrual(row) if row is not None else None

    def accruals(self, program_id: int, limit: int) -> list[AccrualRow]:
        c = scheduled_accruals.c
        q = (
            select(scheduled_accruals)
            .where(c.program_id == program_id)
            .order_by(c.id.desc())
            .limit(limit)
        )
        return [_accrual(r) for r in self.conn.execute(q)]

    def due_accruals(self, program_id: int, now: datetime) -> list[AccrualRow]:
        c = scheduled_accruals.c
        q = (
            select(scheduled_accruals)
            .where(c.program_id == program_id, c.status == "scheduled", c.run_at <= now)
            .order_by(c.run_at, c.id)
        )
        return [_accrual(r) for r in self.conn.execute(q)]

    def accrual_members(self, accrual_id: int, after: int, limit: int) -> list[int]:
        c = scheduled_accrual_members.c
        q = (
            select(c.member_id)
            .where(c.accrual_id == accrual_id, c.member_id > after)
            .order_by(c.member_id)
            .limit(limit)
        )
        return [int(m) for m in self.conn.execute(q).scalars()]

    def end_accrual(
        self, accrual_id: int, status: str, counts: dict[str, int] | None, now: datetime
    ) -> bool:
        """Move a ``scheduled`` accrual to ``status``; False when it was not scheduled."""
        c = scheduled_accruals.c
        done = self.conn.execute(
            update(scheduled_accruals)
            .where(c.id == accrual_id, c.status == "scheduled")
            .values(status=status, counts=counts, ended_at=now)
        )
        return done.rowcount == 1

    # --- the SQLite worker lock --------------------------------------------------------

    def worker_lock(self, name: str) -> LockRow | None:
        c = worker_locks.c
        row = self.conn.execute(select(worker_locks).where(c.name == name)).first()
        if row is None:
            return None
        return LockRow(row.holder, row.pid, row.host, row.started_at, row.heartbeat_at)

    def take_worker_lock(self, name: str, holder: str, pid: int, host: str, now: datetime) -> None:
        self.conn.execute(delete(worker_locks).where(worker_locks.c.name == name))
        self.conn.execute(
            insert(worker_locks).values(
                name=name, holder=holder, pid=pid, host=host, started_at=now, heartbeat_at=now
            )
        )

    def beat_worker_lock(self, name: str, holder: str, now: datetime) -> bool:
        c = worker_locks.c
        done = self.conn.execute(
            update(worker_locks)
            .where(and_(c.name == name, c.holder == holder))
            .values(heartbeat_at=now)
        )
        return done.rowcount == 1

    def drop_worker_lock(self, name: str, holder: str) -> None:
        c = worker_locks.c
        self.conn.execute(delete(worker_locks).where(c.name == name, c.holder == holder))
