"""The reminders as job kinds (``services/reminders.py``): each daily at a local hour of
the program's time zone (the schedule is read in it), each doing nothing until the
program switches it on in its reminder settings.

- ``expiry_reminder``: 11:00, points expiring in the program's days before (30, 7, 1);
- ``winback``: 12:00, no purchase for the program's N days;
- ``birthday_greeting``: 10:00, the members whose birthday it is;
- ``tier_drop``: 11:30, tiers judged at a calendar window's end within N days, not kept yet.
"""

from __future__ import annotations

from kopilka.domain.program import Program
from kopilka.domain.reminders import ReminderKind
from kopilka.services import reminders
from kopilka.services.context import ServiceContext
from kopilka.services.worker.registry import Counts, JobKind, JobRun, register

COUNTS = ("due", "recorded", "suppressed", "repeated")


def _counts(done: reminders.ReminderCounts) -> Counts:
    return {name: int(done[name]) for name in COUNTS}  # type: ignore[literal-required]


def run_expiry_reminders(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Record the expiry reminders due as of the run's time."""
    return _counts(reminders.send_expiry_reminders(ctx, program, run.as_of, run.checkpoint))


def run_win_back(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Record the win-back messages due as of the run's time."""
    return _counts(reminders.send_win_back(ctx, program, run.as_of, run.checkpoint))


def run_birthday_greetings(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Record today's birthday greetings (today in the program's time zone)."""
    return _counts(reminders.send_birthday_greetings(ctx, program, run.as_of, run.checkpoint))


def run_tier_drop_warnings(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Record the warnings of tiers about to be lost."""
    return _counts(reminders.send_tier_drop_warnings(ctx, program, run.as_of, run.checkpoint))


EXPIRY_REMINDERS = register(
    JobKind(
        str(ReminderKind.EXPIRY),
        "0 11 * * *",
        run_expiry_reminders,
        "reminders of points about to expire",
        COUNTS,
    )
)
WIN_BACK = register(
    JobKind(str(ReminderKind.WIN_BACK), "0 12 * * *", run_win_back, "win-back messages", COUNTS)
)
BIRTHDAY_GREETINGS = register(
    JobKind(
        str(ReminderKind.BIRTHDAY),
        "0 10 * * *",
        run_birthday_greetings,
        "birthday greetings",
        COUNTS,
    )
)
TIER_DROP_WARNINGS = register(
    JobKind(
        str(ReminderKind.TIER_DROP),
        "30 11 * * *",
        run_tier_drop_warnings,
        "warnings of a tier about to be lost",
        COUNTS,
    )
)
