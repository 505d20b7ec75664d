"""The birthday bonus: the ``birthday`` event, credited by the ``birthday_bonus`` job.

Every day shortly after local midnight (the program's time zone) the job finds the members
whose birthday it is that local day and evaluates the rules in force for the event
``birthday`` (``kind: event, event: birthday``, with ``when`` on tiers, segments... and
the rule's own ``expires``). What they give is credited through the ledger like any
event's points: an ``earn`` entry of the rule, its ``reference`` ``birthday:<year>`` and
``meta`` the year and the local day. Once per member and year, for good:
``birthday_bonuses`` has one row per member and year, written in the credit's own
transaction before the points, so a rerun, a second worker or the CLI racing the job never
credits twice (on PostgreSQL the second insert waits for the first transaction and then
does nothing).

- Born on 29 February: credited on 28 February in years without one (the choice of the
  birthday greeting too, :func:`kopilka.domain.reminders.is_birthday`), on 29 February in
  leap years.
- Skipped (counted): blocked members, members credited this year already, members the
  rules give nothing (a ``when`` that does not hold, a used-up ``limit`` or cap). Members
  without a birth date, and erased ones, are never candidates.
- Batches of :data:`BATCH` members, each its own transaction; the run's checkpoint is
  called between them (a stopped run leaves the credited members credited, and the next
  run skips them).

The greeting *message* is the ``birthday_greeting`` reminder (``services/reminders``);
this module only moves points. Event earnings write no outbox event (the outbox has no
``points.earned`` type), so neither does this.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TypedDict

from kopilka.domain.errors import ValidationError
from kopilka.domain.member import MemberStatus
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.reminders import is_birthday, local_day
from kopilka.domain.rules import RuleSet, evaluate_event
from kopilka.domain.tiers import PointsSource
from kopilka.ledger.ledger import Ledger
from kopilka.services import tiers, usage
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import member_context
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.birthday_bonuses import BirthdayBonusRepo
from kopilka.store.repos.rules import UsageRepo
from kopilka.store.uow import UnitOfWork

EVENT = "birthday"
JOB = "birthday_bonus"
BATCH = 200

Tick = Callable[[int], None]


def _no_tick(done: int = 0) -> None:
    return None


class BirthdayBonusReport(TypedDict):
    """What one run did: the local day it was for, the members credited and the points,
    and the birthday members skipped (blocked, credited before, given nothing)."""

    day: date
    credited: int
    skipped: int
    points: int


def birthday_days(day: date) -> list[tuple[int, int]]:
    """The (month, day) birth dates whose birthday falls on ``day``: its own, and 29
    February on 28 February (kept only outside leap years by :func:`is_birthday`)."""
    days = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28):
        days.append((2, 29))
    return days


def credit_birthdays(
    ctx: ServiceContext,
    program: Program,
    at: datetime,
    *,
    day: date | None = None,
    tick: Tick = _no_tick,
) -> BirthdayBonusReport:
    """Credit the birthday bonus the rules in force at ``at`` give to every member whose
    birthday is ``day`` (None: the local day of ``at`` in the program's time zone; a day
    that has not begun there yet is refused), once per member and year; the entries are
    dated ``at``. A program whose rules have no
    ``birthday`` rule credits nothing and reads no member."""
    local_today = local_day(at, program.timezone)
    today = day if day is not None else local_today
    if today > local_today:
        # a bonus credited ahead of its day would be spent before the birthday it is for
        raise ValidationError(
            msg(
                "%(day)s has not begun yet in the program's time zone; a birthday bonus is"
                " credited on its day or later",
                day=today.isoformat(),
            ),
            field="date",
        )
    report: BirthdayBonusReport = {"day": today, "credited": 0, "skipped": 0, "points": 0}
    with ctx.uow(read_only=True) as uow:
        ruleset = active_ruleset(uow, program, at)
    if ruleset is None or EVENT not in ruleset.events:
        return report
    days = birthday_days(today)
    after = 0
    while True:
        with ctx.uow() as uow:
            repo = BirthdayBonusRepo(uow.conn)
            rows = repo.born_on(program.id, days, after, BATCH)
            if not rows:
                return report
            after = rows[-1][0]
            due = [(m, status) for m, born, status in rows if is_birthday(born, today)]
            given = repo.credited([m for m, _ in due], today.year)
            lg = Ledger(uow.ledger, program)
            usage_repo = UsageRepo(uow.conn)
            for member_id, status in due:
                if status != MemberStatus.ACTIVE or member_id in given:
                    report["skipped"] += 1
                    continue
                points = _credit(uow, program, ruleset, lg, usage_repo, repo, member_id, today, at)
                if points:
                    report["credited"] += 1
                    report["points"] += points
                else:
                    report["skipped"] += 1
            uow.commit()
        tick(len(rows))
        if len(rows) < BATCH:
            return report


def _credit(
    uow: UnitOfWork,
    program: Program,
    ruleset: RuleSet,
    lg: Ledger,
    usage_repo: UsageRepo,
    repo: BirthdayBonusRepo,
    member_id: int,
    today: date,
    at: datetime,
) -> int:
    """Credit one member's bonus of ``today.year`` (0: the rules give nothing, or it was
    claimed meanwhile by a run racing this one)."""
    member = uow.members.get(program.id, member_id, identifiers=False)
    counters = usage.load(
        usage_repo,
        program.id,
        usage.capped_rules(ruleset, events=EVENT),
        member_id,
        at,
        program.timezone,
    )
    # no attributes: a birthday rule may not ``match`` (the document refuses it)
    result = evaluate_event(
        ruleset, program, EVENT, {}, member_context(member), usage=counters, at=at
    )
    total = sum(award.points for award in result.awards)
    if total <= 0:
        return 0
    # the claim first: of two runs racing, the second finds the row and credits nothing
    if not repo.claim(program.id, member_id, today.year, today, total, at):
        return 0
    for award in result.awards:
        own = ruleset.expiries.get(award.rule_id)
        lg.earn(
            member_id,
            award.points,
            at,
            rule_id=award.rule_id,
            rule_version=award.ruleset_version,
            reference=f"birthday:{today.year}",
            reason=award.description,
            meta={"birthday_year": today.year, "day": today.isoformat()},
            expiries=None if own is None else [(award.points, own)],
        )
    usage.record(usage_repo, program.id, ruleset, result, member_id, at, program.timezone)
    # a program counting events' points toward tiers upgrades at once
    tiers.after_points(uow, program, member_id, PointsSource.EVENTS, at, lg)
    return total
