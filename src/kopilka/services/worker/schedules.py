"""Job schedules as program settings, and the record of job runs (what ``kopilka jobs``
and the console's jobs page show)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy.exc import IntegrityError

from kopilka.domain.jobs import check_cron, next_run
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.worker.registry import REGISTRY, job_kind
from kopilka.store.repos.jobs import JobRepo, RunRow, ScheduleRow

MAX_RUNS = 1000


class JobSchedule(TypedDict):
    """A program's schedule of one job: its cron expression (read in the program's time
    zone), when it is due next, and who runs it now (None: nobody)."""

    program_id: int
    job: str
    cron: str
    next_run_at: datetime
    running_by: str | None
    lease_expires_at: datetime | None


class JobRunView(TypedDict):
    """One recorded run of a job."""

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
class SetSchedule:
    """Run ``job`` of a program on the cron expression ``cron`` (in its time zone)."""

    job: str
    cron: str


def _schedule(row: ScheduleRow) -> JobSchedule:
    return {
        "program_id": row.program_id,
        "job": row.job,
        "cron": row.cron,
        "next_run_at": row.next_run_at,
        "running_by": row.lease.holder if row.lease else None,
        "lease_expires_at": row.lease.expires_at if row.lease else None,
    }


def _run(row: RunRow) -> JobRunView:
    return {
        "id": row.id,
        "program_id": row.program_id,
        "job": row.job,
        "scheduled_for": row.scheduled_for,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "worker": row.worker,
        "outcome": row.outcome,
        "counts": row.counts,
        "error": row.error,
    }


def ensure_schedules(ctx: ServiceContext, program_ids: Sequence[int] | None = None) -> int:
    """Give every program (or those of ``program_ids``) a schedule of each registered job
    kind it lacks, on the kind's default cron, due at once; returns how many were added.
    Two workers adding the same one at once: the second finds it there and adds none."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = JobRepo(uow.conn)
        wanted = repo.program_ids() if program_ids is None else list(program_ids)
        have = {(s.program_id, s.job) for s in repo.schedules(wanted)}
        missing = [(p, k) for p in wanted for k in REGISTRY.values() if (p, k.name) not in have]
        if not missing:
            return 0
        try:
            for program_id, kind in missing:
                repo.add_schedule(program_id, kind.name, kind.default_cron, now)
            uow.commit()
        except IntegrityError:
            return 0  # another worker added them in the meantime
    return len(missing)


def set_schedule(ctx: ServiceContext, program: Program, cmd: SetSchedule) -> JobSchedule:
    """Set the cron expression of one of the program's jobs; the job is next due at the
    expression's first slot from now. An unknown job or an invalid expression is a
    ValidationError, and nothing is written."""
    job_kind(cmd.job)
    cron = check_cron(cmd.cron)
    ensure_schedules(ctx, [program.id])
    now = ctx.now()
    due = next_run(cron, now, program.timezone)
    with ctx.uow() as uow:
        repo = JobRepo(uow.conn)
        repo.set_cron(program.id, cmd.job, cron, due, now)
        (row,) = [s for s in repo.schedules([program.id]) if s.job == cmd.job]
        uow.commit()
    return _schedule(row)


def list_schedules(ctx: ServiceContext, program: Program) -> list[JobSchedule]:
    """The program's job schedules (the registered kinds it has none of yet are shown on
    their default cron, due at once, as a worker will add them)."""
    with ctx.uow(read_only=True) as uow:
        rows = {s.job: _schedule(s) for s in JobRepo(uow.conn).schedules([program.id])}
    for kind in REGISTRY.values():
        rows.setdefault(
            kind.name,
            {
                "program_id": program.id,
                "job": kind.name,
                "cron": kind.default_cron,
                "next_run_at": ctx.now(),
                "running_by": None,
                "lease_expires_at": None,
            },
        )
    return [rows[k] for k in sorted(rows)]


def list_runs(
    ctx: ServiceContext,
    program: Program | None = None,
    limit: int = 50,
    job: str | None = None,
) -> list[JobRunView]:
    """The latest ``limit`` job runs (of one program, or of all), newest first."""
    limit = max(1, min(limit, MAX_RUNS))
    with ctx.uow(read_only=True) as uow:
        rows = JobRepo(uow.conn).runs([program.id] if program else None, limit, job)
    return [_run(r) for r in rows]


def run_counts(ctx: ServiceContext) -> list[tuple[str, str, int]]:
    """How many job runs ended each way, per job kind: ``(job, outcome, count)`` (what
    the Prometheus metric ``kopilka_job_runs_total`` exposes)."""
    with ctx.uow(read_only=True) as uow:
        return JobRepo(uow.conn).run_counts()
