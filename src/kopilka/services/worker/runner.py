"""The worker: claims due job runs with leases, runs them, records each run.

One round: give every program a schedule of each registered job kind, then claim due runs
one at a time until none is left (or the worker is asked to stop). A claim is its own
short transaction: the schedule row is locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so workers never wait for each other), the run is recorded as ``running`` and the worker
takes a lease on the schedule. The job then runs in its own transactions, renewing the
lease between batches. A worker that dies stops renewing: once its lease has expired,
another worker claims the job, records the dead one's run as ``abandoned`` and runs it
again (every job is safe to run again: sweeps handle what is still due, accruals credit
under idempotency keys). A job therefore never runs twice at once.

On SQLite one worker serves a database (:mod:`kopilka.services.worker.single`).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypedDict

from kopilka.domain.errors import KopilkaError
from kopilka.domain.jobs import Lease, RunOutcome, lease_until, next_run
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.services.worker import kinds
from kopilka.services.worker.registry import REGISTRY, RunStopped
from kopilka.services.worker.schedules import ensure_schedules
from kopilka.services.worker.single import SingleWorker
from kopilka.store.repos.jobs import JobRepo

# the registered kinds are the ones of kinds.py and any registered later
__all__ = ["Worker", "WorkerOptions", "kinds"]


def default_worker_id() -> str:
    """``host:pid:random``: unique per worker, and says where it runs."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker runs: its id, its lease, how long it sleeps when nothing is due, and
    whether it stops once nothing is due (``once``). ``program_ids`` and ``jobs`` limit
    it to some programs and job kinds (None: all)."""

    worker_id: str = field(default_factory=default_worker_id)
    lease: timedelta = timedelta(minutes=2)
    poll_seconds: float = 5.0
    once: bool = False
    program_ids: tuple[int, ...] | None = None
    jobs: tuple[str, ...] | None = None


class Claimed(TypedDict):
    """A run a worker has claimed (and holds the lease of)."""

    run_id: int
    program_id: int
    job: str
    scheduled_for: datetime
    took_over: bool


class RunReport(TypedDict):
    """How a run ended: what the worker logs and the run's record holds."""

    run_id: int
    program_id: int
    job: str
    scheduled_for: datetime
    outcome: str
    counts: dict[str, int]
    error: str | None


class Observer(Protocol):
    """Told when a run starts and ends (the CLI logs them; nothing personal is in them)."""

    def started(self, claimed: Claimed) -> None: ...

    def ended(self, report: RunReport) -> None: ...


class _Silent:
    def started(self, claimed: Claimed) -> None:
        pass

    def ended(self, report: RunReport) -> None:
        pass


def claim(
    ctx: ServiceContext,
    worker_id: str,
    lease: timedelta,
    program_ids: Sequence[int] | None = None,
    jobs: Sequence[str] | None = None,
) -> Claimed | None:
    """Claim the most overdue job run that nobody holds (None: nothing is due): record it
    as running and take its lease, in one transaction."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = JobRepo(uow.conn)
        row = repo.lock_claimable(now, program_ids, jobs if jobs is not None else list(REGISTRY))
        if row is None:
            return None
        took_over = row.lease is not None
        if took_over:
            repo.abandon_runs(row.program_id, row.job, now)
        run_id = repo.start_run(row.program_id, row.job, row.next_run_at, worker_id, now)
        repo.take_lease(
            row.program_id, row.job, Lease(worker_id, lease_until(now, lease)), run_id, now
        )
        uow.commit()
    return {
        "run_id": run_id,
        "program_id": row.program_id,
        "job": row.job,
        "scheduled_for": row.next_run_at,
        "took_over": took_over,
    }


def safe_error(e: BaseException) -> str:
    """What a failed run records of its error: a Kopilka error's code and message (they
    name ids and fields, never personal data), else only the exception's type (a database
    error's text may quote the values of a statement)."""
    if isinstance(e, KopilkaError):
        return f"{e.code}: {e.message}"[:500]
    return type(e).__name__


class _Run:
    """The :class:`~kopilka.services.worker.registry.JobRun` a job runs as."""

    def __init__(
        self,
        ctx: ServiceContext,
        claimed: Claimed,
        options: WorkerOptions,
        stop: threading.Event,
    ) -> None:
        self._ctx = ctx
        self._claimed = claimed
        self._options = options
        self._stop = stop
        self.as_of = ctx.now()
        self._lease = Lease(options.worker_id, lease_until(self.as_of, options.lease))

    @property
    def scheduled_for(self) -> datetime:
        return self._claimed["scheduled_for"]

    @property
    def lease(self) -> timedelta:
        return self._options.lease

    def checkpoint(self, done: int = 0) -> None:
        now = self._ctx.now()
        if self._lease.renewal_due(now, self._options.lease):
            until = lease_until(now, self._options.lease)
            with self._ctx.uow() as uow:
                kept = JobRepo(uow.conn).renew_lease(
                    self._claimed["program_id"],
                    self._claimed["job"],
                    self._claimed["run_id"],
                    self._options.worker_id,
                    until,
                )
                uow.commit()
            if not kept:
                raise RunStopped("lease lost")
            self._lease = Lease(self._options.worker_id, until)
        if self._stop.is_set():
            raise RunStopped("stop requested")


def execute(
    ctx: ServiceContext,
    claimed: Claimed,
    options: WorkerOptions,
    stop: threading.Event | None = None,
) -> RunReport:
    """Run a claimed job, then record how it ended and give its lease back: the job is due
    next at its schedule's next slot (after a failure too), or again at once when it was
    stopped halfway. A worker that lost its lease records its run and leaves the schedule
    to the worker that took it over."""
    kind = REGISTRY[claimed["job"]]
    program = program_svc.get_program(ctx, claimed["program_id"])
    run = _Run(ctx, claimed, options, stop or threading.Event())
    counts: dict[str, int] = {}
    error: str | None = None
    outcome = RunOutcome.OK
    try:
        counts = dict(kind.run(ctx, program, run))
    except RunStopped as e:
        outcome = RunOutcome.INTERRUPTED if e.why == "stop requested" else RunOutcome.ABANDONED
        error = e.why
    except Exception as e:  # a job's failure is recorded, and the worker goes on
        outcome = RunOutcome.FAILED
        error = safe_error(e)
    now = ctx.now()
    with ctx.uow() as uow:
        repo = JobRepo(uow.conn)
        schedule = repo.lock_schedule(claimed["program_id"], claimed["job"])
        due: datetime | None = None
        if schedule is not None and outcome in (RunOutcome.OK, RunOutcome.FAILED):
            due = next_run(schedule.cron, max(now, claimed["scheduled_for"]), program.timezone)
        repo.release(
            claimed["program_id"],
            claimed["job"],
            claimed["run_id"],
            options.worker_id,
            due,
            now,
        )
        repo.end_run(claimed["run_id"], outcome, counts, error, now)
        uow.commit()
    return {
        "run_id": claimed["run_id"],
        "program_id": claimed["program_id"],
        "job": claimed["job"],
        "scheduled_for": claimed["scheduled_for"],
        "outcome": outcome.value,
        "counts": counts,
        "error": error,
    }


class WorkerSummary(TypedDict):
    """What a worker did before it stopped: its runs by outcome."""

    worker_id: str
    runs: dict[str, int]


class Worker:
    """Runs every due job of every program until asked to stop (``stop`` set: by SIGTERM
    or SIGINT in ``kopilka worker``), or, with ``once``, until nothing is due."""

    def __init__(
        self,
        ctx: ServiceContext,
        options: WorkerOptions,
        *,
        stop: threading.Event | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.ctx = ctx
        self.options = options
        self.stop = stop or threading.Event()
        self.observer: Observer = observer or _Silent()
        self.runs: dict[str, int] = {}

    def round(self) -> int:
        """One round: schedules for new programs and kinds, then every due run, one after
        the other, until none is due or the worker must stop; returns the runs made."""
        o = self.options
        ensure_schedules(self.ctx, o.program_ids)
        made = 0
        while not self.stop.is_set():
            claimed = claim(self.ctx, o.worker_id, o.lease, o.program_ids, o.jobs)
            if claimed is None:
                break
            self.observer.started(claimed)
            report = execute(self.ctx, claimed, o, self.stop)
            self.observer.ended(report)
            self.runs[report["outcome"]] = self.runs.get(report["outcome"], 0) + 1
            made += 1
        return made

    def run(self) -> WorkerSummary:
        """Serve until stopped (see the class). On SQLite the worker first takes the
        database's one worker lock: a WorkerRefused when another live worker holds it."""
        single = SingleWorker.for_context(self.ctx, self.options.worker_id, self.options.lease)
        if single is not None:
            single.acquire()
        try:
            while not self.stop.is_set():
                self.round()
                if self.options.once:
                    break
                if single is not None:
                    single.heartbeat()
                self.stop.wait(self.options.poll_seconds)
        finally:
            if single is not None:
                single.release()
        return {"worker_id": self.options.worker_id, "runs": dict(self.runs)}
