"""The job kinds every worker runs: registered here, one :func:`register` call each.

- ``sweep``: hold timeouts, then activations, then expiries (the sweeps of
  :mod:`kopilka.services.jobs`, in the order ``kopilka expire`` runs them), every 5 minutes;
- ``accruals``: the scheduled accruals whose time has come, every minute;
- ``verify``: the ledger's invariants, its report stored for the console, hourly;
- ``totals``: the overview's figures, stored as a snapshot, every minute;
- ``outbox``: the outbox's events delivered to webhooks and NATS, every minute.

Birthday bonuses are not a job yet: the rules document has birthday *conditions* on
purchases (``birthday: {days_before, days_after}``), and no birthday event for a job to
trigger. When it has one, a ``birthday`` kind registered here (at local midnight,
``0 0 * * *``, the schedule being read in the program's time zone) records that event for
the members whose birthday it is. Tier reviews and reminders plug in the
same way.
"""

from __future__ import annotations

from kopilka.domain.program import Program
from kopilka.services import jobs as jobs_svc
from kopilka.services import ledger_reports
from kopilka.services.context import ServiceContext
from kopilka.services.worker.accruals import ACCRUALS_JOB, run_due_accruals
from kopilka.services.worker.outbox import OUTBOX_JOB, run_outbox
from kopilka.services.worker.registry import Counts, JobKind, JobRun, register

SWEEP_JOB = "sweep"


def run_sweep(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Hold timeouts, activations and expiries due at the run's time, batch by batch
    (each batch its own transaction; the run can stop between two)."""
    at = run.as_of
    return {
        "holds_timed_out": jobs_svc.expire_holds(ctx, program, at, progress=run.checkpoint),
        "lots_activated": jobs_svc.activate_due(ctx, program, at, progress=run.checkpoint),
        "lots_expired": jobs_svc.expire_due(ctx, program, at, progress=run.checkpoint),
    }


def run_verify(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Verify the program's ledger and store the report (one read of the whole ledger)."""
    report = ledger_reports.check_ledger(ctx, program, "job")
    return {"checks": len(report["checks"]), "failed": report["failed"]}


def run_totals(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Recompute the overview's figures and store them as the program's snapshot."""
    snapshot = ledger_reports.snapshot_totals(ctx, program)
    return {"members": snapshot["totals"]["members"], "entries": snapshot["totals"]["entries"]}


SWEEP = register(
    JobKind(
        SWEEP_JOB,
        "*/5 * * * *",
        run_sweep,
        "hold timeouts, activations and expiries",
    )
)
ACCRUALS = register(
    JobKind(ACCRUALS_JOB, "* * * * *", run_due_accruals, "scheduled accruals that are due")
)
VERIFY = register(
    JobKind(
        ledger_reports.VERIFY_JOB,
        "17 * * * *",
        run_verify,
        "the ledger's invariants, the report stored",
    )
)
TOTALS = register(
    JobKind(ledger_reports.TOTALS_JOB, "* * * * *", run_totals, "the overview's totals snapshot")
)
OUTBOX = register(
    JobKind(OUTBOX_JOB, "* * * * *", run_outbox, "outbox events delivered to their channels")
)
