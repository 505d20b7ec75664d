"""Paid membership: a program sells a tier (or a club) for a fixed term.

A *plan* is a line of the ``paid:`` list in the rules document's ``tiers:`` section
(``domain/rules/tiers_section.py``): a code, the tier it gives, a price and a term in months
or days, and names in Russian and English. A *membership* is one member's purchase of a
plan: while it is active the member's effective tier is at least the plan's tier (a floor,
like a manual tier; ``domain/tiers.py: effective``), and when its term ends they fall back
to the tier they earned. A renewal extends the term from its current end (or from now when
it has lapsed); a cancel stops renewing, the term still runs to its end; a refund ends it at
once. Each sale is money (minor units of the program's currency), never points. Pure.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Plan:
    """A paid plan: the tier it gives, its price (minor units) and its term."""

    code: str
    tier: str
    price_minor: int
    months: int = 0
    days: int = 0
    name_ru: str = ""
    name_en: str = ""

    def name(self, lang: str) -> str:
        """The plan's name in ``lang`` (Russian for ``ru``, English otherwise)."""
        return self.name_ru if lang == "ru" else self.name_en


class MembershipStatus(StrEnum):
    """Where a membership stands: renewing, cancelled (runs to its term end without
    renewing), or refunded (ended at once). Whether its term is still running is a matter
    of time (:func:`is_active`), not of the status."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class SaleKind(StrEnum):
    """What a sale line records: the first term, a renewal, or a refund (negative money)."""

    START = "start"
    RENEW = "renew"
    REFUND = "refund"


def add_term(start: datetime, plan: Plan) -> datetime:
    """The end of one term of ``plan`` begun at ``start``: calendar months (the day clamped
    to the month's last, 31 January + 1 month = 28 or 29 February), then days."""
    end = start
    if plan.months:
        month0 = start.month - 1 + plan.months
        year = start.year + month0 // 12
        month = month0 % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        end = start.replace(year=year, month=month, day=day)
    return end + timedelta(days=plan.days)


def renewal_start(current_end: datetime, now: datetime) -> datetime:
    """Where a renewal's term begins: at the current term's end while it runs (no day
    lost, none given twice), or now when the term has already ended."""
    return current_end if current_end > now else now


def is_active(status: MembershipStatus, ends_at: datetime, at: datetime) -> bool:
    """Whether a membership gives its tier at ``at``: not refunded, and its term not over
    (a cancelled one runs to its end)."""
    return status is not MembershipStatus.REFUNDED and at < ends_at
