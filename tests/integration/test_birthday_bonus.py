"""The birthday bonus (the ``birthday`` event rule, the ``birthday_bonus`` job) on SQLite
and PostgreSQL with a frozen clock: credited on the member's local birthday in zones far
from UTC (Kamchatka, UTC+12, ahead of UTC's day; Los Angeles, behind it), once per member
and year however often it runs (and when two runs race), 29 February birthdays on 28
February outside leap years, blocked members and members the rules give nothing skipped,
the rule's own expiry on the lot, and the job run by the worker from the registry with
its counts recorded."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import ValidationError
from kopilka.services import birthday_bonus, events, rules
from kopilka.services import members as member_svc
from kopilka.services import worker as worker_svc
from kopilka.services.balance_view import balance_view
from kopilka.services.member_lookup import MemberRef
from kopilka.store.tables import birthday_bonuses, journal_entries, lots

BONUS = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - id: birthday-gift
    kind: event
    event: birthday
    description: "Happy birthday"
    points: 300
    expires: {days: 30}
  - id: birthday-vip
    kind: event
    event: birthday
    points: 200
    when: {segments: [vip]}
"""


def _program(ctx, make_program, zone: str):
    program = make_program(timezone=zone)
    rules.publish(ctx, program, BONUS, actor="test")
    return program


def _earned(ctx, member_id: int) -> list[tuple[str, int, str]]:
    """The member's birthday earnings: (rule, points, reference), in order."""
    j = journal_entries.c
    with ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(
            select(j.rule_id, j.points, j.reference)
            .where(j.member_id == member_id, j.kind == "earn", j.reference.like("birthday:%"))
            .order_by(j.id)
        )
        return [(str(r), int(p), str(ref)) for r, p, ref in rows]


def test_kamchatka_credits_on_the_local_day_ahead_of_utc(ctx, clock, make_program, make_member):
    """At 00:05 on 20 March in Kamchatka (still 19 March, 12:05 in UTC) the member born
    on 20 March is credited 300 points (the rule's `birthday:2026` entry, valid 30 days);
    the one born on 19 March (UTC's day) is not; a member without a birth date is no
    candidate; a VIP gets both rules' points."""
    program = _program(ctx, make_program, "Asia/Kamchatka")
    born = make_member(program, birthday="1990-03-20")
    vip = make_member(program, birthday="1985-03-20", attributes={"segments": ["vip"]})
    utc_day = make_member(program, birthday="1990-03-19")
    make_member(program)  # no birth date
    clock.set(datetime(2026, 3, 19, 12, 5, tzinfo=UTC))
    report = birthday_bonus.credit_birthdays(ctx, program, ctx.now())
    assert report == {"day": date(2026, 3, 20), "credited": 2, "skipped": 0, "points": 800}
    assert _earned(ctx, born) == [("birthday-gift", 300, "birthday:2026")]
    assert _earned(ctx, vip) == [
        ("birthday-gift", 300, "birthday:2026"),
        ("birthday-vip", 200, "birthday:2026"),
    ]
    assert _earned(ctx, utc_day) == []
    assert balance_view(ctx, program, born).available == 300
    with ctx.uow(read_only=True) as uow:
        (expires_at,) = uow.conn.execute(
            select(lots.c.expires_at).where(lots.c.member_id == born)
        ).one()
    # 30 days from 20 March, to the end of 19 April in Kamchatka (UTC+12)
    assert expires_at == datetime(2026, 4, 19, 12, 0, tzinfo=UTC)


def test_los_angeles_waits_for_its_own_midnight(ctx, clock, make_program, make_member):
    """At 06:00 UTC on 20 March it is still 19 March (23:00) in Los Angeles: the member
    born on 20 March gets nothing yet; at 00:05 local (07:05 UTC) they do."""
    program = _program(ctx, make_program, "America/Los_Angeles")
    born = make_member(program, birthday="2000-03-20")
    clock.set(datetime(2026, 3, 20, 6, 0, tzinfo=UTC))  # 23:00 on 19 March (PDT)
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 0
    clock.set(datetime(2026, 3, 20, 7, 5, tzinfo=UTC))  # 00:05 on 20 March (PDT)
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 1
    assert _earned(ctx, born) == [("birthday-gift", 300, "birthday:2026")]


def test_reruns_credit_nobody_twice_and_the_next_year_credits_again(
    ctx, clock, make_program, make_member
):
    """The same day run three times, and again later that day: one credit, the reruns
    count the member skipped; the next year's birthday credits again (its own key)."""
    program = _program(ctx, make_program, "Europe/Moscow")
    born = make_member(program, birthday="1990-06-01")
    clock.set(datetime(2026, 5, 31, 21, 5, tzinfo=UTC))  # 00:05 on 1 June in Moscow
    first = birthday_bonus.credit_birthdays(ctx, program, ctx.now())
    assert (first["credited"], first["skipped"]) == (1, 0)
    for _ in range(2):
        again = birthday_bonus.credit_birthdays(ctx, program, ctx.now())
        assert (again["credited"], again["skipped"]) == (0, 1)
    clock.advance(timedelta(hours=20))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 0
    assert len(_earned(ctx, born)) == 1
    clock.set(datetime(2027, 5, 31, 21, 5, tzinfo=UTC))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 1
    assert [ref for _, _, ref in _earned(ctx, born)] == ["birthday:2026", "birthday:2027"]


def test_racing_runs_credit_once(ctx, clock, make_program, make_member):
    """Two runs for the same day at once (two threads, each its own transactions; on
    PostgreSQL the second insert of the key waits for the first): the member is credited
    once, the other run counts them skipped."""
    program = _program(ctx, make_program, "Europe/Moscow")
    born = make_member(program, birthday="1990-06-01")
    clock.set(datetime(2026, 5, 31, 21, 5, tzinfo=UTC))
    reports: list[birthday_bonus.BirthdayBonusReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(birthday_bonus.credit_birthdays(ctx, program, ctx.now()))
        except BaseException as exc:  # an error of a thread fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # SQLite's single writer may refuse the second run outright (database locked): it
    # then credited nothing, which is what matters
    assert sum(r["credited"] for r in reports) == 1, (reports, _earned(ctx, born), errors)
    assert len(reports) + len(errors) == 2
    assert len(_earned(ctx, born)) == 1
    with ctx.uow(read_only=True) as uow:
        keys = uow.conn.execute(
            select(birthday_bonuses.c.year).where(birthday_bonuses.c.member_id == born)
        ).all()
    assert [k for (k,) in keys] == [2026]


def test_29_february_on_28_february_outside_leap_years(ctx, clock, make_program, make_member):
    """Born on 29 February: credited on 28 February 2027 (no 29th that year), not on 1
    March; in 2028 on 29 February, not on the 28th."""
    program = _program(ctx, make_program, "UTC")
    leapling = make_member(program, birthday="2000-02-29")
    feb28 = make_member(program, birthday="2000-02-28")
    clock.set(datetime(2027, 2, 28, 0, 5, tzinfo=UTC))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 2
    clock.set(datetime(2027, 3, 1, 0, 5, tzinfo=UTC))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 0
    clock.set(datetime(2028, 2, 28, 0, 5, tzinfo=UTC))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 1  # feb28
    clock.set(datetime(2028, 2, 29, 0, 5, tzinfo=UTC))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 1
    assert [ref for _, _, ref in _earned(ctx, leapling)] == ["birthday:2027", "birthday:2028"]
    assert [ref for _, _, ref in _earned(ctx, feb28)] == ["birthday:2027", "birthday:2028"]


def test_blocked_and_erased_members_are_skipped(ctx, clock, make_program, make_member):
    """A blocked member born that day is counted skipped and gets nothing; unblocked
    later the same day, the next run credits them; an erased member is no candidate."""
    program = _program(ctx, make_program, "Europe/Moscow")
    blocked = make_member(program, birthday="1990-06-01")
    erased = make_member(program, birthday="1990-06-01")
    member_svc.set_blocked(ctx, program, blocked, True, "fraud check")
    member_svc.erase(ctx, program, erased)
    clock.set(datetime(2026, 5, 31, 21, 5, tzinfo=UTC))
    report = birthday_bonus.credit_birthdays(ctx, program, ctx.now())
    assert (report["credited"], report["skipped"]) == (0, 1)
    assert _earned(ctx, blocked) == []
    member_svc.set_blocked(ctx, program, blocked, False)
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 1
    assert _earned(ctx, erased) == []


def test_rules_without_a_birthday_rule_credit_nothing(ctx, clock, make_program, make_member):
    """A program whose rules have no birthday rule (or no rules at all): nothing credited,
    nothing claimed, so a birthday rule published later that day still credits."""
    program = make_program(timezone="Europe/Moscow")
    born = make_member(program, birthday="1990-06-01")
    clock.set(datetime(2026, 5, 31, 21, 5, tzinfo=UTC))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 0
    rules.publish(ctx, program, "schema_version: 1\nrules: []\n", actor="test")
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 0
    clock.advance(timedelta(minutes=1))
    rules.publish(ctx, program, BONUS, actor="test")
    clock.advance(timedelta(minutes=1))
    assert birthday_bonus.credit_birthdays(ctx, program, ctx.now())["credited"] == 1
    assert len(_earned(ctx, born)) == 1


def test_the_worker_runs_the_job_daily_at_0005_local(ctx, clock, make_program, make_member):
    """The registry's ``birthday_bonus`` kind runs in a worker round, credits the members
    of the slot's local day, records credited/skipped/points; its schedule is 00:05 in the
    program's zone (Kamchatka: 12:05 UTC the day before)."""
    clock.set(datetime(2026, 3, 19, 12, 5, tzinfo=UTC))  # 00:05 on 20 March, Kamchatka
    program = _program(ctx, make_program, "Asia/Kamchatka")
    born = make_member(program, birthday="1990-03-20")
    blocked = make_member(program, birthday="1991-03-20")
    member_svc.set_blocked(ctx, program, blocked, True, "fraud check")
    assert "birthday_bonus" in worker_svc.REGISTRY
    options = worker_svc.WorkerOptions(
        worker_id="W",
        lease=timedelta(minutes=2),
        poll_seconds=0.01,
        once=True,
        program_ids=(program.id,),
        jobs=("birthday_bonus",),
    )
    assert worker_svc.Worker(ctx, options).round() == 1
    (run,) = worker_svc.list_runs(ctx, program, 10, "birthday_bonus")
    assert run["outcome"] == "ok"
    assert run["counts"] == {"credited": 1, "skipped": 1, "points": 300}
    assert _earned(ctx, born) == [("birthday-gift", 300, "birthday:2026")]
    (row,) = [s for s in worker_svc.list_schedules(ctx, program) if s["job"] == "birthday_bonus"]
    assert row["cron"] == "5 0 * * *"
    assert row["next_run_at"].isoformat() == "2026-03-20T12:05:00+00:00"


@pytest.mark.parametrize("event_type", ["birthday", "tier_reached"])
def test_the_bonus_events_cannot_be_sent_from_outside(
    ctx, clock, make_program, make_member, event_type
):
    """``POST /v1/events``'s use case refuses the types ``birthday`` and ``tier_reached``
    (only Kopilka records them), with nothing credited: a till could otherwise give the
    birthday bonus or a tier's welcome bonus at will."""
    program = _program(ctx, make_program, "Europe/Moscow")
    member = make_member(program, birthday="1990-06-01")
    command = events.RecordEvent("e-1", event_type, MemberRef(member_id=member))
    with pytest.raises(ValidationError) as err:
        events.record_event(ctx, program, command)
    assert err.value.details["field"] == "type"
    assert _earned(ctx, member) == []
