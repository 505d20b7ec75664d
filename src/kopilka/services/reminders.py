"""Reminders: each program's settings (a switch and parameters per kind) and the jobs that
record the messages (``domain/reminders.py`` for the kinds and their arithmetic).

A run finds who is due, a page of members at a time, and records each reminder through the
notifications (:func:`kopilka.services.notifications.notify`) with its dedupe key, in the
batch's own transaction: a run repeated, or run by two workers, records each reminder once.
The notifications apply consent, the frequency caps and quiet hours (reminders are
marketing messages: only to members who consented to the channel), and the program's
template of the topic (``templates/<language>/<topic>.*``) writes the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypedDict

from kopilka.domain.notifications import Purpose
from kopilka.domain.program import Program
from kopilka.domain.reminders import (
    Reminder,
    ReminderKind,
    ReminderSettings,
    dedupe_key,
    expiry_day,
    expiry_offset,
    is_birthday,
    lapsed,
    local_day,
)
from kopilka.services.context import ServiceContext
from kopilka.services.notifications import Notify, get_policy, notify
from kopilka.services.tiers import member_tier
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.reminders import ReminderRepo

BATCH = 500
Tick = Callable[[int], None]


def _no_tick(done: int) -> None:
    return None


# ---- settings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetReminders:
    """Replace the program's reminder settings (validated when built) as ``actor``."""

    settings: ReminderSettings
    actor: str


def reminder_settings(ctx: ServiceContext, program: Program) -> ReminderSettings:
    """The program's reminder settings (every reminder off when never set)."""
    with ctx.uow(read_only=True) as uow:
        stored = ReminderRepo(uow.conn).settings(program.id)
    return ReminderSettings() if stored is None else ReminderSettings.from_json(stored)


def set_reminder_settings(
    ctx: ServiceContext, program: Program, command: SetReminders
) -> ReminderSettings:
    """Store the settings, audited with what they were before and after."""
    with ctx.uow() as uow:
        repo = ReminderRepo(uow.conn)
        before = repo.settings(program.id)
        after = command.settings.to_json()
        repo.save_settings(program.id, after, ctx.now(), command.actor)
        AuditLogRepo(uow.conn).add(
            program.id,
            command.actor,
            "reminders.settings",
            f"program:{program.id}",
            before,
            after,
            ctx.now(),
        )
        uow.commit()
    return command.settings


# ---- the runs ---------------------------------------------------------------------------


class ReminderCounts(TypedDict):
    """What a run did: reminders due, messages recorded (queued to be sent), recorded
    suppressed (no consent, a cap, the topic switched off), and repeated (sent before:
    the dedupe key was known)."""

    due: int
    recorded: int
    suppressed: int
    repeated: int


def _record(
    ctx: ServiceContext, program: Program, reminders: Iterable[Reminder], at: datetime
) -> ReminderCounts:
    counts: ReminderCounts = {"due": 0, "recorded": 0, "suppressed": 0, "repeated": 0}
    batch = list(reminders)
    if not batch:
        return counts
    with ctx.uow() as uow:
        for reminder in batch:
            counts["due"] += 1
            done = notify(
                uow,
                program,
                Notify(
                    program_id=program.id,
                    topic=str(reminder.kind),
                    variables=reminder.variables,
                    member_id=reminder.member_id,
                    purpose=Purpose.MARKETING,
                    dedupe_key=reminder.key,
                ),
                at,
            )
            if done["duplicate"]:
                counts["repeated"] += 1
            elif done["status"] == "suppressed":
                counts["suppressed"] += 1
            else:
                counts["recorded"] += 1
        uow.commit()
    return counts


def _add(total: ReminderCounts, more: ReminderCounts) -> None:
    total["due"] += more["due"]
    total["recorded"] += more["recorded"]
    total["suppressed"] += more["suppressed"]
    total["repeated"] += more["repeated"]


def _empty() -> ReminderCounts:
    return {"due": 0, "recorded": 0, "suppressed": 0, "repeated": 0}


def send_expiry_reminders(
    ctx: ServiceContext, program: Program, at: datetime, tick: Tick = _no_tick
) -> ReminderCounts:
    """For each member's points that expire on one day, the reminder its days left call for
    (the smallest of the program's offsets not below them), with the points and the day."""
    settings = reminder_settings(ctx, program)
    total = _empty()
    if not settings.expiry:
        return total
    today = local_day(at, program.timezone)
    until = at + timedelta(days=max(settings.expiry_days) + 1)
    from_member = 0
    while True:
        with ctx.uow(read_only=True) as uow:
            repo = ReminderRepo(uow.conn)
            rows = repo.expiring(program.id, at, until, from_member, BATCH)
            # a page ends inside a member's rows: that member is read again from the next
            # page's start, whole, unless the page holds nothing else
            last = rows[-1][0] if rows else 0
            whole = (
                rows
                if len(rows) < BATCH or rows[0][0] == last
                else [r for r in rows if r[0] != last]
            )
            by_day: dict[tuple[int, date], int] = {}
            for member_id, expires_at, points in whole:
                day = expiry_day(expires_at, program.timezone)
                by_day[(member_id, day)] = by_day.get((member_id, day), 0) + points
            balances = {m: repo.available(m) for m, _ in by_day}
        reminders = []
        for (member_id, day), points in by_day.items():
            offset = expiry_offset(settings.expiry_days, today, day)
            if offset is None:
                continue
            reminders.append(
                Reminder(
                    ReminderKind.EXPIRY,
                    member_id,
                    {"points": points, "date": day.isoformat(), "balance": balances[member_id]},
                    dedupe_key(ReminderKind.EXPIRY, member_id, day.isoformat(), offset),
                )
            )
        _add(total, _record(ctx, program, reminders, at))
        tick(len(reminders))
        if len(rows) < BATCH:
            return total
        from_member = last if whole is not rows else last + 1


def send_win_back(
    ctx: ServiceContext, program: Program, at: datetime, tick: Tick = _no_tick
) -> ReminderCounts:
    """Members with no purchase (nor enrolment) for the program's N days: once per lapse
    (the key names the day of the last purchase, so a member who buys and lapses again is
    reminded again)."""
    settings = reminder_settings(ctx, program)
    total = _empty()
    if not settings.win_back:
        return total
    days = settings.win_back_days
    after = 0
    while True:
        with ctx.uow(read_only=True) as uow:
            repo = ReminderRepo(uow.conn)
            rows = repo.last_activity(program.id, at - timedelta(days=days), after, BATCH)
            balances = {m: repo.available(m) for m, _ in rows}
        reminders = [
            Reminder(
                ReminderKind.WIN_BACK,
                member_id,
                {"days": days, "balance": balances[member_id]},
                dedupe_key(ReminderKind.WIN_BACK, member_id, local_day(last, program.timezone)),
            )
            for member_id, last in rows
            if lapsed(last, at, days)
        ]
        _add(total, _record(ctx, program, reminders, at))
        tick(len(reminders))
        if len(rows) < BATCH:
            return total
        after = rows[-1][0]


def send_birthday_greetings(
    ctx: ServiceContext, program: Program, at: datetime, tick: Tick = _no_tick
) -> ReminderCounts:
    """Members whose birthday it is today in the program's time zone, once a year."""
    settings = reminder_settings(ctx, program)
    total = _empty()
    if not settings.birthday:
        return total
    today = local_day(at, program.timezone)
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28):
        days.append((2, 29))  # read by is_birthday: only outside leap years
    with ctx.uow(read_only=True) as uow:
        born = ReminderRepo(uow.conn).born_on(program.id, days)
    due = [m for m, birthday in born if is_birthday(birthday, today)]
    for start in range(0, len(due), BATCH):
        reminders = [
            Reminder(
                ReminderKind.BIRTHDAY,
                member_id,
                {"bonus_points": 0},
                dedupe_key(ReminderKind.BIRTHDAY, member_id, today.year),
            )
            for member_id in due[start : start + BATCH]
        ]
        _add(total, _record(ctx, program, reminders, at))
        tick(len(reminders))
    return total


def send_tier_drop_warnings(
    ctx: ServiceContext, program: Program, at: datetime, tick: Tick = _no_tick
) -> ReminderCounts:
    """Members whose tier is judged at the end of a calendar window that ends within the
    program's N days, and who do not meet what keeps it yet: the tier, the one below, the
    window's last day and what is missing. Rolling and lifetime windows have no such day
    (the tier is reviewed every day): no warning; a manual tier is kept whatever happens:
    none either."""
    settings = reminder_settings(ctx, program)
    total = _empty()
    if not settings.tier_drop:
        return total
    today = local_day(at, program.timezone)
    # the tier's name in the program's language (a message's language is the member's
    # when they chose one, which this one variable does not follow)
    lang = get_policy(ctx, program).default_language
    after = 0
    while True:
        with ctx.uow(read_only=True) as uow:
            members = ReminderRepo(uow.conn).with_tier(program.id, after, BATCH)
        reminders = []
        for member_id in members:
            reminder = _tier_drop(ctx, program, member_id, today, settings.tier_drop_days, lang)
            if reminder is not None:
                reminders.append(reminder)
        _add(total, _record(ctx, program, reminders, at))
        tick(len(members))
        if len(members) < BATCH:
            return total
        after = members[-1]


def _tier_drop(
    ctx: ServiceContext, program: Program, member_id: int, today: date, days: int, lang: str
) -> Reminder | None:
    standing = member_tier(ctx, program, member_id, history=0)
    progress, tier = standing["progress"], standing["tier"]
    if progress is None or tier is None or progress["keep_met"] or standing["manual"]:
        return None
    if progress["keep_deadline"] is None:
        return None
    deadline = date.fromisoformat(progress["keep_deadline"])
    if not 0 <= (deadline - today).days <= days:
        return None
    codes = [t["code"] for t in standing["tiers"]]
    below = codes.index(tier["code"]) - 1 if tier["code"] in codes else -1
    name = "name_ru" if lang == "ru" else "name_en"
    lower = str(standing["tiers"][below][name]) if below >= 0 else ""  # type: ignore[literal-required]
    needed = ", ".join(_missing(p["metric"], p["missing"], lang) for p in progress["keep"])
    return Reminder(
        ReminderKind.TIER_DROP,
        member_id,
        {
            "tier": str(tier[name]),  # type: ignore[literal-required]
            "next_tier": lower,
            "date": deadline.isoformat(),
            "needed": needed,
        },
        dedupe_key(ReminderKind.TIER_DROP, member_id, tier["code"], deadline.isoformat()),
    )


UNITS = {
    "en": {"points": "points", "purchases": "purchases"},
    "ru": {"points": "баллов", "purchases": "покупок"},
}


def _missing(metric: str, value: str, lang: str) -> str:
    # money is written in the program's currency already; counts get their unit (the
    # genitive plural reads right after any number in a "needs N more" sentence)
    unit = UNITS.get(lang, UNITS["en"]).get(metric)
    return f"{value} {unit}" if unit else value
