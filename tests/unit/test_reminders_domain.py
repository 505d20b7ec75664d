"""Reminders, the pure part: the settings are validated and round-trip, and the calendar
decides who is due (which expiry offset, birthdays on 29 February, lapses)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.reminders import (
    ReminderKind,
    ReminderSettings,
    dedupe_key,
    expiry_day,
    expiry_offset,
    is_birthday,
    lapsed,
    read_offsets,
)


def test_settings_round_trip_and_default_to_off():
    """Every reminder is off until switched on; the stored form reads back the same."""
    default = ReminderSettings()
    assert not any(default.enabled(k) for k in ReminderKind)
    on = ReminderSettings(expiry=True, expiry_days=(7, 30), win_back=True, win_back_days=90)
    back = ReminderSettings.from_json(on.to_json())
    assert back.expiry_days == (30, 7)  # largest first
    assert back == ReminderSettings(
        expiry=True, expiry_days=(30, 7), win_back=True, win_back_days=90
    )
    assert back.enabled(ReminderKind.WIN_BACK)
    assert not back.enabled(ReminderKind.BIRTHDAY)


@pytest.mark.parametrize(
    "data",
    [
        {"expiry": {"enabled": "yes"}},
        {"expiry": {"enabled": True, "days_before": []}},
        {"expiry": {"enabled": True, "days_before": [30, 30]}},
        {"expiry": {"enabled": True, "days_before": [0]}},
        {"expiry": {"enabled": True, "days_before": [400]}},
        {"expiry": {"enabled": True, "days_before": [1, 2, 3, 4, 5, 6]}},
        {"win_back": {"enabled": True, "days": "soon"}},
        {"tier_drop": {"enabled": True, "days_before": -1}},
        {"birthday": "on"},
    ],
)
def test_bad_settings_are_refused_naming_the_field(data):
    """Each malformed part is a ValidationError with the field it is about."""
    with pytest.raises(ValidationError) as e:
        ReminderSettings.from_json(data)
    assert e.value.details.get("field")


def test_offsets_read_from_text_largest_first():
    """ "30, 7, 1" as a form writes it; order does not matter."""
    assert read_offsets("1, 30,7") == (30, 7, 1)


def test_the_expiry_reminder_due_is_the_smallest_offset_not_below_the_days_left():
    """30 days before: the 30-day one; 20 days before (a missed run or a short lot): the
    30-day one still; 5 days before: the 7-day one; on the day: the 1-day one; after the
    day or further than every offset: none."""
    offsets = (30, 7, 1)
    today = date(2027, 3, 1)
    assert expiry_offset(offsets, today, date(2027, 3, 31)) == 30
    assert expiry_offset(offsets, today, date(2027, 3, 21)) == 30
    assert expiry_offset(offsets, today, date(2027, 3, 6)) == 7
    assert expiry_offset(offsets, today, date(2027, 3, 1)) == 1
    assert expiry_offset(offsets, today, date(2027, 2, 28)) is None
    assert expiry_offset(offsets, today, date(2027, 4, 1)) is None


def test_the_expiry_day_is_the_last_day_the_points_can_be_spent():
    """A lot that expires at local midnight is spendable to the end of the day before, as
    the portal says it."""
    midnight_moscow = datetime(2027, 3, 14, 21, 0, tzinfo=UTC)  # 15 March 00:00 MSK
    assert expiry_day(midnight_moscow, "Europe/Moscow") == date(2027, 3, 14)


def test_birthdays_on_29_february_fall_on_28_february_outside_leap_years():
    """Once a year for everybody."""
    leapling = date(2000, 2, 29)
    assert is_birthday(leapling, date(2027, 2, 28))
    assert not is_birthday(leapling, date(2028, 2, 28))
    assert is_birthday(leapling, date(2028, 2, 29))
    assert is_birthday(date(1990, 6, 1), date(2027, 6, 1))
    assert not is_birthday(date(1990, 6, 1), date(2027, 6, 2))


def test_a_lapse_is_whole_days_since_the_last_purchase():
    """60 days to the second."""
    last = datetime(2027, 1, 1, 12, tzinfo=UTC)
    assert not lapsed(last, datetime(2027, 3, 2, 11, 59, tzinfo=UTC), 60)
    assert lapsed(last, datetime(2027, 3, 2, 12, 0, tzinfo=UTC), 60)


def test_dedupe_keys_name_the_kind_the_member_and_what_makes_the_reminder_one():
    """The same reminder has the same key; another offset or day another."""
    one = dedupe_key(ReminderKind.EXPIRY, 5, "2027-03-14", 7)
    assert one == "expiry_reminder:5:2027-03-14:7"
    assert one != dedupe_key(ReminderKind.EXPIRY, 5, "2027-03-14", 1)
