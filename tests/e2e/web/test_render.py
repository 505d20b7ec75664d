"""How the web pages write dates."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from kopilka.web.render import make_environment


def render(template: str, **context: object) -> str:
    return make_environment().from_string(template).render(**context)


def test_calendar_expiry_reads_as_the_last_valid_day():
    """Points gone at local midnight of 1 July are shown as valid until the end of 30 June."""
    moscow = SimpleNamespace(timezone="Europe/Moscow")
    gone_at = datetime(2027, 6, 30, 21, 0, tzinfo=UTC)  # 2027-07-01 00:00 in Moscow
    assert render("{{ at | until }}", at=gone_at, program=moscow) == "end of 2027-06-30"


def test_expiry_at_another_hour_keeps_its_time():
    """An expiry that is not a midnight (the N-days policy) keeps its exact local time."""
    moscow = SimpleNamespace(timezone="Europe/Moscow")
    gone_at = datetime(2027, 3, 14, 12, 0, tzinfo=UTC)
    assert render("{{ at | until }}", at=gone_at, program=moscow) == "2027-03-14 15:00 MSK"
