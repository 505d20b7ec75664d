"""The job kinds every worker runs: registered here, one :func:`register` call each.

- ``sweep``: hold timeouts, then activations, then expiries (the sweeps of
  :mod:`kopilka.services.jobs`, in the order ``kopilka expire`` runs them), every 5 minutes;
- ``accruals``: the scheduled accruals whose time has come, every minute;
- ``verify``: the ledger's invariants, its report stored for the console, hourly;
- ``totals``: the overview's figures, stored as a snapshot, every minute;
- ``outbox``: the outbox's events delivered to webhooks and NATS, every minute;
- ``messages``: members' queued messages that are due, sent (``services/notifications``),
  every minute;
- ``analytics``: the analytics rollups brought up to the newest rows and the month's budget
  cap checked (:func:`kopilka.services.analytics.refresh`), every 5 minutes;
- ``tiers``: the tier review (:func:`kopilka.services.tiers.review_tiers`) as of the run's
  time, daily at 03:30 in the program's time zone (with anniversary reviews each run
  judges the members whose anniversary has come, a late run catching up);
- ``rewards``: issued rewards past their expiry end (their points back by the program's
  setting), every 5 minutes.

- ``birthday_bonus``: the ``birthday`` event's points to the members whose birthday it is
  (:func:`kopilka.services.birthday_bonus.credit_birthdays`), daily at 00:05 in the
  program's time zone (the day is the run's local day, once per member and year).

The birthday greeting *message* is a reminder (``worker/reminders.py``).
"""

from __future__ import annotations

from kopilka.domain.program import Program
from kopilka.domain.reminders import local_day
from kopilka.services import analytics, birthday_bonus, ledger_reports, tiers
from kopilka.services import jobs as jobs_svc
from kopilka.services.context import ServiceContext
from kopilka.services.rewards import expire_due as expire_rewards

# the reminders' four kinds register themselves when imported
from kopilka.services.worker import reminders as _reminders  # noqa: F401
from kopilka.services.worker.accruals import ACCRUALS_JOB, run_due_accruals
from kopilka.services.worker.messages import MESSAGES_JOB, run_messages
from kopilka.services.worker.outbox import OUTBOX_JOB, run_outbox
from kopilka.services.worker.registry import Counts, JobKind, JobRun, register

SWEEP_JOB = "sweep"
TIERS_JOB = "tiers"
REWARDS_JOB = "rewards"


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


def run_analytics(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Add what is new to the analytics rollups (one transaction), then check the month's
    budget cap (``budget.cap_exceeded`` written at most once a month)."""
    report = analytics.refresh(ctx, program)
    return {
        "entries": report["entries"],
        "purchases": report["purchases"],
        "days": report["days"],
        "alerts": int(report["alert_written"]),
    }


def run_tiers(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Review every member's tier as of the run's time, batch by batch (each batch its own
    transaction, the run can stop between two; a run stopped half way leaves the reviewed
    members reviewed, and the next run finds them unchanged). A program whose rules define
    no tiers is skipped quietly: every count 0."""
    report = tiers.review_tiers(ctx, program, run.as_of, tick=run.checkpoint)
    return {
        "reviewed": report["members"],
        "upgraded": report["upgraded"],
        "downgraded": report["downgraded"],
        "entered_grace": report["entered_grace"],
        "unchanged": report["unchanged"],
    }


def run_birthday_bonus(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Credit the birthday bonus to the members whose birthday is the local day of the
    run's slot, batch by batch (each its own transaction); a rerun credits nobody twice."""
    # the day of the slot, not of the start: a run started late (a worker down over
    # midnight) still credits the day it was scheduled for
    day = local_day(run.scheduled_for, program.timezone)
    report = birthday_bonus.credit_birthdays(ctx, program, run.as_of, day=day, tick=run.checkpoint)
    return {
        "credited": report["credited"],
        "skipped": report["skipped"],
        "points": report["points"],
    }


def run_rewards(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """End the issued rewards whose expiry has passed as of the run's time, batch by batch
    (each its own transaction), refunding their points when the program says so."""
    expired, refunded = expire_rewards(ctx, program, run.as_of, progress=run.checkpoint)
    return {"expired": expired, "points_refunded": refunded}


SWEEP = register(
    JobKind(
        SWEEP_JOB,
        "*/5 * * * *",
        run_sweep,
        "hold timeouts, activations and expiries",
        ("holds_timed_out", "lots_activated", "lots_expired"),
    )
)
ACCRUALS = register(
    JobKind(
        ACCRUALS_JOB,
        "* * * * *",
        run_due_accruals,
        "scheduled accruals that are due",
        ("accruals", "credited", "refused"),
    )
)
VERIFY = register(
    JobKind(
        ledger_reports.VERIFY_JOB,
        "17 * * * *",
        run_verify,
        "the ledger's invariants, the report stored",
        ("checks", "failed"),
    )
)
TOTALS = register(
    JobKind(
        ledger_reports.TOTALS_JOB,
        "* * * * *",
        run_totals,
        "the overview's totals snapshot",
        ("members", "entries"),
    )
)
OUTBOX = register(
    JobKind(
        OUTBOX_JOB,
        "* * * * *",
        run_outbox,
        "outbox events delivered to their channels",
        ("dispatched", "delivered", "failed", "dead"),
    )
)
TIERS = register(
    JobKind(
        TIERS_JOB,
        "30 3 * * *",
        run_tiers,
        "tier reviews as of the run's time",
        ("reviewed", "upgraded", "downgraded", "entered_grace", "unchanged"),
    )
)
MESSAGES = register(
    JobKind(
        MESSAGES_JOB,
        "* * * * *",
        run_messages,
        "members' queued messages sent",
        ("sent", "retried", "failed"),
    )
)
REWARDS = register(
    JobKind(
        REWARDS_JOB,
        "*/5 * * * *",
        run_rewards,
        "issued rewards past their expiry ended",
        ("expired", "points_refunded"),
    )
)
ANALYTICS = register(
    JobKind(
        analytics.ANALYTICS_JOB,
        "*/5 * * * *",
        run_analytics,
        "analytics rollups brought up to date, the budget cap checked",
        ("entries", "purchases", "days", "alerts"),
    )
)
BIRTHDAY_BONUS = register(
    JobKind(
        birthday_bonus.JOB,
        "5 0 * * *",
        run_birthday_bonus,
        "birthday bonuses of the local day",
        ("credited", "skipped", "points"),
    )
)
