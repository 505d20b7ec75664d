"""When the worker runs a program's jobs, and who may run one: schedules and leases (pure).

A schedule is a five-field cron expression evaluated on the wall clock of the program's
time zone (``croniter`` computes the slots; nothing here parses cron by hand). Around
daylight-saving changes it behaves as Vixie cron does:

- an expression that fires every hour (its hour field covers all 24 hours, e.g.
  ``*/5 * * * *``) follows real time: the repeated autumn hour runs again, and the
  skipped spring hour has no slots;
- an expression at fixed hours (``30 2 * * *``) runs once per local day: a time that
  occurs twice (autumn) runs at its first occurrence only, and a time that does not
  exist (spring) runs as if the clock had not moved, an hour later in the new time.

A run is claimed with a **lease**: the worker that holds it may run the job until the lease
expires; a worker that dies stops renewing it, and once it has expired another worker may
claim the job (the run of the dead one is then recorded as abandoned).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ValidationError

# the largest daylight-saving shift there is (Antarctica/Troll: two hours), with a margin
_MAX_SHIFT = timedelta(hours=3)
_MAX_CRON = 120


class RunOutcome(enum.StrEnum):
    """How a job run ended (``running`` until it does)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"  # the job raised: the error's text is recorded (never personal data)
    INTERRUPTED = "interrupted"  # the worker was asked to stop; the job is due again at once
    ABANDONED = "abandoned"  # its worker's lease expired (it died); another took the job over


def check_cron(expression: str) -> str:
    """The expression, trimmed, when it is a valid five-field cron expression (``@daily``
    and the like too); a ValidationError on ``cron`` otherwise."""
    text = " ".join(expression.split())
    if not text or len(text) > _MAX_CRON:
        raise ValidationError(
            f"a schedule is a cron expression of at most {_MAX_CRON} characters", field="cron"
        )
    if not text.startswith("@") and len(text.split(" ")) != 5:
        raise ValidationError(
            "a schedule has five fields: minute hour day-of-month month day-of-week,"
            f" e.g. '*/5 * * * *' (got {text!r})",
            field="cron",
        )
    try:
        croniter(text)
    except (CroniterError, ValueError, KeyError) as e:
        raise ValidationError(f"not a valid cron expression {text!r}: {e}", field="cron") from None
    return text


def _every_hour(expression: str) -> bool:
    hours = croniter.expand(expression)[0][1]
    return hours == ["*"] or len(hours) == 24


def next_run(expression: str, after: datetime, timezone: str) -> datetime:
    """The first slot of ``expression`` strictly after ``after``, in UTC, the expression
    read on the wall clock of ``timezone`` (see the module's note on daylight saving)."""
    after = ensure_utc(after)
    zone = ZoneInfo(timezone)
    folds = (0, 1) if _every_hour(expression) else (0,)
    wall_after = after.astimezone(zone).replace(tzinfo=None)
    # slots are walked on the naive wall clock, from a little before ``after`` (a wall time
    # that maps to an instant after it may come earlier on the wall in the repeated hour)
    slots = croniter(expression, wall_after - _MAX_SHIFT)
    best: datetime | None = None
    while True:
        wall: datetime = slots.get_next(datetime)
        if best is not None and wall > best.astimezone(zone).replace(tzinfo=None) + _MAX_SHIFT:
            return best
        for fold in folds:
            at = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if at > after and (best is None or at < best):
                best = at


@dataclass(frozen=True, slots=True)
class Lease:
    """Who runs a job (``holder``: a worker's id) until when."""

    holder: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        """Whether another worker may take the job over at ``now``."""
        return self.expires_at <= now

    def renewal_due(self, now: datetime, ttl: timedelta) -> bool:
        """Whether the holder should renew now: a third of the lease is gone."""
        return self.expires_at - now < ttl * 2 / 3


def lease_until(now: datetime, ttl: timedelta) -> datetime:
    """When a lease taken or renewed at ``now`` expires."""
    if ttl <= timedelta(0):
        raise ValidationError("a lease lasts a positive time", field="lease")
    return ensure_utc(now) + ttl


def claimable(next_run_at: datetime, lease: Lease | None, now: datetime) -> bool:
    """Whether a schedule's run may be claimed at ``now``: it is due, and nobody holds a
    lease on it that has not expired."""
    return next_run_at <= now and (lease is None or lease.expired(now))
