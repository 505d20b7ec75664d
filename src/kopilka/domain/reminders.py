"""Reminders, the pure part: a program's reminder settings (a switch and the parameters of
each kind, validated) and the calendar arithmetic that decides who is due.

Four kinds, each a job of the worker (``services/reminders.py``) and a message topic:

- ``expiry_reminder``: points of the member's open lots that expire on a day, sent N days
  before it for each N of a list (30, 7, 1), once per expiry day and N;
- ``winback``: no purchase (nor enrolment) for N days, once per such lapse;
- ``birthday_greeting``: on the member's birthday in the program's time zone (29 February
  falls on 28 February in other years), once a year;
- ``tier_drop``: the member's tier is judged at the end of a calendar window and
  what keeps it is not met yet, N days before that end, once per tier and end.

Every reminder has a dedupe key (:func:`dedupe_key`): the notifications record at most one
message per key, so a job that runs twice, or two workers, send it once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg

MAX_OFFSETS = 5
MAX_DAYS = 366
MAX_WIN_BACK_DAYS = 3650


class ReminderKind(enum.StrEnum):
    """The kinds of reminder; each is also its message topic and its job's name."""

    EXPIRY = "expiry_reminder"
    WIN_BACK = "winback"
    BIRTHDAY = "birthday_greeting"
    TIER_DROP = "tier_drop"


def _days(value: object, name: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(
            msg("%(field)s must be a whole number of days", field=name), field=name
        )
    try:
        days = int(value)
    except ValueError:
        raise ValidationError(
            msg("%(field)s must be a whole number of days", field=name), field=name
        ) from None
    if not 1 <= days <= most:
        raise ValidationError(
            msg("%(field)s must be 1 to %(most)s days", field=name, most=most), field=name
        )
    return days


def read_offsets(value: object) -> tuple[int, ...]:
    """The expiry reminders' days before, from a list or a text such as ``"30, 7, 1"``:
    1 to 5 distinct whole numbers of 1-366 days, largest first."""
    items: list[object]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValidationError(msg("days before must be a list of days"), field="expiry_days")
    days = [_days(v, "expiry_days", MAX_DAYS) for v in items]
    if not 1 <= len(days) <= MAX_OFFSETS:
        raise ValidationError(
            msg("give 1 to %(most)s days before expiry", most=MAX_OFFSETS), field="expiry_days"
        )
    if len(set(days)) != len(days):
        raise ValidationError(msg("a day before expiry is given twice"), field="expiry_days")
    return tuple(sorted(days, reverse=True))


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    """A program's reminders: which are on, and their parameters. Off until switched on."""

    expiry: bool = False
    expiry_days: tuple[int, ...] = (30, 7, 1)
    win_back: bool = False
    win_back_days: int = 60
    birthday: bool = False
    tier_drop: bool = False
    tier_drop_days: int = 14

    def __post_init__(self) -> None:
        read_offsets(list(self.expiry_days))
        _days(self.win_back_days, "win_back_days", MAX_WIN_BACK_DAYS)
        _days(self.tier_drop_days, "tier_drop_days", MAX_DAYS)

    def enabled(self, kind: ReminderKind) -> bool:
        """Whether the program sends reminders of ``kind``."""
        return {
            ReminderKind.EXPIRY: self.expiry,
            ReminderKind.WIN_BACK: self.win_back,
            ReminderKind.BIRTHDAY: self.birthday,
            ReminderKind.TIER_DROP: self.tier_drop,
        }[kind]

    def to_json(self) -> dict[str, object]:
        """The stored form (``reminder_settings.settings``)."""
        return {
            "expiry": {"enabled": self.expiry, "days_before": list(self.expiry_days)},
            "win_back": {"enabled": self.win_back, "days": self.win_back_days},
            "birthday": {"enabled": self.birthday},
            "tier_drop": {"enabled": self.tier_drop, "days_before": self.tier_drop_days},
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ReminderSettings:
        """The stored form (or a request's) read back, validated (ValidationError)."""

        def part(name: str) -> dict[str, object]:
            value = data.get(name) or {}
            if not isinstance(value, dict):
                raise ValidationError(msg("reminder settings are malformed"), field=name)
            return value

        def switch(section: dict[str, object], name: str) -> bool:
            value = section.get("enabled", False)
            if not isinstance(value, bool):
                raise ValidationError(msg("a switch must be true or false"), field=name)
            return value

        expiry, win_back = part("expiry"), part("win_back")
        birthday, tier_drop = part("birthday"), part("tier_drop")
        return cls(
            expiry=switch(expiry, "expiry"),
            expiry_days=read_offsets(expiry.get("days_before", [30, 7, 1])),
            win_back=switch(win_back, "win_back"),
            win_back_days=_days(win_back.get("days", 60), "win_back_days", MAX_WIN_BACK_DAYS),
            birthday=switch(birthday, "birthday"),
            tier_drop=switch(tier_drop, "tier_drop"),
            tier_drop_days=_days(tier_drop.get("days_before", 14), "tier_drop_days", MAX_DAYS),
        )


def local_day(at: datetime, timezone: str) -> date:
    """The program's calendar day of an instant."""
    return at.astimezone(ZoneInfo(timezone)).date()


def expiry_day(expires_at: datetime, timezone: str) -> date:
    """The last day the points can be spent, as the portal says it ("expire: end of D"):
    a lot that expires at local midnight is spendable to the end of the day before."""
    return local_day(expires_at - timedelta(microseconds=1), timezone)


def expiry_offset(offsets: tuple[int, ...], today: date, day: date) -> int | None:
    """The reminder due today for points that expire at the end of ``day``: the smallest
    offset that is at least the days left (so a run that was missed still reminds, and a lot
    already closer than 30 days gets the 7-day reminder, never the 30-day one late); None
    once ``day`` has passed or is further than every offset."""
    left = (day - today).days
    if left < 0:
        return None
    fitting = [n for n in offsets if n >= left]
    return min(fitting) if fitting else None


def is_birthday(birthday: date, today: date) -> bool:
    """Whether ``today`` is the birthday (29 February: 28 February outside leap years)."""
    if (birthday.month, birthday.day) == (today.month, today.day):
        return True
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (
        (birthday.month, birthday.day) == (2, 29)
        and not leap
        and (today.month, today.day) == (2, 28)
    )


def lapsed(last_activity: datetime, now: datetime, days: int) -> bool:
    """Whether ``days`` whole days have passed since the last purchase (or enrolment)."""
    return now - last_activity >= timedelta(days=days)


def dedupe_key(kind: ReminderKind, member_id: int, *parts: object) -> str:
    """The one key of one reminder: the kind, the member, and what makes it this one (the
    expiry day and offset; the lapse's start; the year; the tier and its deadline)."""
    return ":".join([str(kind), str(member_id), *(str(p) for p in parts)])


@dataclass(frozen=True, slots=True)
class Reminder:
    """One message to record: its kind (the topic), the member, the template's variables
    and its dedupe key."""

    kind: ReminderKind
    member_id: int
    variables: dict[str, object] = field(default_factory=dict)
    key: str = ""
