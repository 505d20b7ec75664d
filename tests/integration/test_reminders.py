"""Reminders as the worker runs them, with a frozen clock, on SQLite and PostgreSQL:
expiry reminders at the offsets of the program (once per expiry day and offset, with the
points and the day), win-back after N days without a purchase, birthday greetings on the
local birthday; off until switched on; marketing, so a member without consent is recorded
suppressed; settings validated and audited."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import ValidationError
from kopilka.domain.reminders import ReminderSettings, expiry_day
from kopilka.services import members as member_svc
from kopilka.services import points, purchases, rules
from kopilka.services.balance_view import balance_view
from kopilka.services.points import Earn
from kopilka.services.reminders import (
    SetReminders,
    reminder_settings,
    send_birthday_greetings,
    send_expiry_reminders,
    send_tier_drop_warnings,
    send_win_back,
    set_reminder_settings,
)
from kopilka.store.tables import audit_log, messages
from tests import commands

ZONE = "Europe/Moscow"


@pytest.fixture
def program(make_program):
    return make_program(timezone=ZONE, expiry_kind="days", expiry_n=40)


def enroll(ctx, program, *, consent: bool = True, birthday: date | None = None) -> int:
    tag = uuid.uuid4().hex[:8]
    return member_svc.enroll(
        ctx,
        program,
        member_svc.Enroll(
            member_svc.identifiers([("email", f"vera.{tag}@example.org")]),
            profile=member_svc.Profile(first_name="Vera", birthday=birthday),
            consents=(member_svc.ConsentChoice("marketing_email", granted=consent),),
        ),
    ).id


def switch_on(ctx, program, **settings) -> None:
    set_reminder_settings(ctx, program, SetReminders(ReminderSettings(**settings), "test"))


def sent(ctx, program, topic: str) -> list:
    with ctx.uow(read_only=True) as uow:
        return uow.conn.execute(
            select(messages.c.member_id, messages.c.variables, messages.c.status)
            .where(messages.c.program_id == program.id, messages.c.topic == topic)
            .order_by(messages.c.id)
        ).all()


def test_reminders_are_off_until_switched_on(ctx, clock, program):
    """A program that never set them sends none, and says every kind is off."""
    member = enroll(ctx, program)
    points.earn(ctx, program, Earn(member, 100, key="earn-1"))
    clock.advance(timedelta(days=39))
    assert send_expiry_reminders(ctx, program, ctx.now())["due"] == 0
    assert send_win_back(ctx, program, ctx.now())["due"] == 0
    assert sent(ctx, program, "expiry_reminder") == []
    assert reminder_settings(ctx, program) == ReminderSettings()


def test_expiry_reminders_come_at_each_offset_once(ctx, clock, program):
    """Points expiring on day D: the 7-day reminder 7 days before (a run before that sends
    nothing, the 30-day one came earlier), once however often the job runs, then the 1-day
    one; each with the points, the day and the balance."""
    switch_on(ctx, program, expiry=True, expiry_days=(30, 7, 1))
    member = enroll(ctx, program)
    points.earn(ctx, program, Earn(member, 120, key="earn-1"))
    [lot] = balance_view(ctx, program, member).expiring
    day = expiry_day(lot.at, ZONE)
    noon = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)  # 12:00 in Moscow

    clock.set(noon - timedelta(days=31))
    assert send_expiry_reminders(ctx, program, ctx.now())["due"] == 0  # 31 days left
    clock.set(noon - timedelta(days=30))
    first = send_expiry_reminders(ctx, program, ctx.now())
    assert first == {"due": 1, "recorded": 1, "suppressed": 0, "repeated": 0}
    again = send_expiry_reminders(ctx, program, ctx.now())
    assert again == {"due": 1, "recorded": 0, "suppressed": 0, "repeated": 1}
    clock.set(noon - timedelta(days=7))
    assert send_expiry_reminders(ctx, program, ctx.now())["recorded"] == 1
    clock.set(noon - timedelta(days=3))  # still the 7-day one: sent already
    assert send_expiry_reminders(ctx, program, ctx.now())["repeated"] == 1
    clock.set(noon)
    assert send_expiry_reminders(ctx, program, ctx.now())["recorded"] == 1
    rows = sent(ctx, program, "expiry_reminder")
    assert len(rows) == 3
    assert {r.member_id for r in rows} == {member}
    assert rows[0].variables == {"points": 120, "date": day.isoformat(), "balance": 120}


def test_points_spent_or_expired_are_not_reminded(ctx, clock, program):
    """A lot whose points were spent has nothing to remind of."""
    switch_on(ctx, program, expiry=True, expiry_days=(30,))
    member = enroll(ctx, program)
    points.earn(ctx, program, Earn(member, 50, key="earn-1"))
    points.redeem(ctx, program, points.Redeem(member, 50, key="spend-1"))
    clock.advance(timedelta(days=20))
    assert send_expiry_reminders(ctx, program, ctx.now())["due"] == 0


def test_a_member_without_marketing_consent_is_recorded_suppressed(ctx, clock, program):
    """Reminders are marketing: the message is in the log, not sent, and counted so."""
    switch_on(ctx, program, expiry=True, expiry_days=(30,))
    member = enroll(ctx, program, consent=False)
    points.earn(ctx, program, Earn(member, 10, key="earn-1"))
    clock.advance(timedelta(days=15))
    done = send_expiry_reminders(ctx, program, ctx.now())
    assert done == {"due": 1, "recorded": 0, "suppressed": 1, "repeated": 0}
    [row] = sent(ctx, program, "expiry_reminder")
    assert row.status == "suppressed"


def test_win_back_after_n_days_without_a_purchase_once_per_lapse(ctx, clock, program):
    """60 days after enrolment with no purchase: one win-back message, not two."""
    switch_on(ctx, program, win_back=True, win_back_days=60)
    member = enroll(ctx, program)
    clock.advance(timedelta(days=59, hours=23))
    assert send_win_back(ctx, program, ctx.now())["due"] == 0
    clock.advance(timedelta(hours=1))
    assert send_win_back(ctx, program, ctx.now())["recorded"] == 1
    assert send_win_back(ctx, program, ctx.now())["repeated"] == 1
    [row] = sent(ctx, program, "winback")
    assert row.member_id == member
    assert row.variables == {"days": 60, "balance": 0}


def test_birthday_greetings_on_the_local_birthday_once_a_year(ctx, clock, program):
    """At 01:00 on 20 March in Moscow (still 19 March in UTC) the member born on 20 March
    is greeted, once however often the job runs; the one born on 21 March is not."""
    switch_on(ctx, program, birthday=True)
    member = enroll(ctx, program, birthday=date(1990, 3, 20))
    enroll(ctx, program, birthday=date(1990, 3, 21))
    clock.set(datetime(2026, 3, 19, 22, 0, tzinfo=UTC))  # 20 March, 01:00 in Moscow
    assert send_birthday_greetings(ctx, program, ctx.now())["recorded"] == 1
    assert send_birthday_greetings(ctx, program, ctx.now())["repeated"] == 1
    [row] = sent(ctx, program, "birthday_greeting")
    assert row.member_id == member
    assert row.variables == {"bonus_points": 0}


def test_settings_are_audited_and_bad_ones_refused(ctx, program):
    """A change is in the audit log with before and after; a bad list writes nothing."""
    switch_on(ctx, program, expiry=True, expiry_days=(14, 3))
    assert reminder_settings(ctx, program).expiry_days == (14, 3)
    with ctx.uow(read_only=True) as uow:
        [entry] = uow.conn.execute(
            select(audit_log.c.action, audit_log.c.after).where(
                audit_log.c.program_id == program.id
            )
        ).all()
    assert entry.action == "reminders.settings"
    assert entry.after["expiry"] == {"enabled": True, "days_before": [14, 3]}
    with pytest.raises(ValidationError):
        ReminderSettings.from_json({"expiry": {"enabled": True, "days_before": [3, 3]}})
    assert reminder_settings(ctx, program).expiry_days == (14, 3)


TIERED = """
rules: [{id: base, kind: rate, rate: {percent: 5}}]
tiers:
  window: {kind: calendar_year}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}, keep: {spend: "10000"}}
"""


def test_a_tier_about_to_drop_is_warned_within_n_days_of_the_windows_end(ctx, clock, make_program):
    """Gold reached in 2025 and nothing bought in 2026: 11 days before the year's end the
    member is told the tier, the one below, the last day and the spend missing; 21 days
    before, not yet; a member who keeps the tier is not told."""
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    program = make_program()
    rules.publish(ctx, program, TIERED, actor="test")
    switch_on(ctx, program, tier_drop=True, tier_drop_days=14)
    lapsing, keeping = enroll(ctx, program), enroll(ctx, program)

    def buy(member_id: int, receipt: str) -> None:
        body = {
            "receipt_id": receipt,
            "member_id": member_id,
            "lines": [{"line_id": "1", "sku": "S", "amount": "16000"}],
        }
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))

    buy(lapsing, "R-1")
    buy(keeping, "R-2")
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    buy(keeping, "R-3")  # 16,000 this year: gold is kept
    clock.set(datetime(2026, 12, 10, 9, tzinfo=UTC))
    assert send_tier_drop_warnings(ctx, program, ctx.now())["due"] == 0
    clock.set(datetime(2026, 12, 20, 9, tzinfo=UTC))
    assert send_tier_drop_warnings(ctx, program, ctx.now())["due"] == 1
    assert send_tier_drop_warnings(ctx, program, ctx.now())["repeated"] == 1
    [row] = sent(ctx, program, "tier_drop")
    assert row.member_id == lapsing
    # the tier's names in the program's language (Russian unless set otherwise)
    assert row.variables["tier"] == "Золотой"
    assert row.variables["next_tier"] == "Базовый"
    assert row.variables["date"] == "2026-12-31"
    assert "10" in row.variables["needed"]
