"""What the caller tells the engine (member, usage so far) and what it gets back (awards).

The engine is pure: it never reads a database. The caller passes the member's facts and the
usage counters of capped rules, and stores the :class:`UsageDelta` of the result afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class MemberContext:
    """The member as the rules see them; counts and spend are as of BEFORE this purchase."""

    member_id: str
    tier: str | None = None
    attributes: Mapping[str, object] = field(default_factory=dict)
    segments: frozenset[str] = frozenset()
    birthday: date | None = None
    lifetime_spend_minor: int = 0
    purchase_count: int = 0
    enrolled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UsageCounters:
    """Points and events already counted against capped rules, keyed by rule id.

    ``points_today`` and ``points_this_month`` are this member's points from each rule in the
    current day and month of the PROGRAM's time zone; ``budget_used`` is each rule's campaign
    total over all members; ``events_in_period`` is how many times each event rule has awarded
    this member in the rule's own limit period (see :func:`period_start`).
    """

    points_today: Mapping[str, int] = field(default_factory=dict)
    points_this_month: Mapping[str, int] = field(default_factory=dict)
    budget_used: Mapping[str, int] = field(default_factory=dict)
    events_in_period: Mapping[str, int] = field(default_factory=dict)


NO_USAGE = UsageCounters()


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """What this evaluation consumed: add to the counters once the award is booked."""

    points_by_rule: Mapping[str, int] = field(default_factory=dict)
    events_by_rule: Mapping[str, int] = field(default_factory=dict)


class Award(NamedTuple):
    """Points one rule gave, attributed to one basket line (``None`` for an event).

    A named tuple rather than a dataclass: a purchase creates one per rule and line, and tuple
    construction is several times cheaper in the hot path.
    """

    rule_id: str
    ruleset_version: int
    line_id: str | None
    points: int
    description: str
    visible: bool = True


@dataclass(frozen=True, slots=True)
class EarnResult:
    """The outcome of evaluating a purchase or an event."""

    ruleset_version: int
    awards: tuple[Award, ...]
    usage: UsageDelta
    control_group: tuple[str, ...] = ()

    @property
    def total_points(self) -> int:
        return sum(a.points for a in self.awards)

    def points_by_line(self) -> dict[str, int]:
        """Points per basket line (lines without points are absent)."""
        out: dict[str, int] = {}
        for award in self.awards:
            if award.line_id is not None:
                out[award.line_id] = out.get(award.line_id, 0) + award.points
        return out

    def points_by_rule(self) -> dict[str, int]:
        """Points per rule id."""
        out: dict[str, int] = {}
        for award in self.awards:
            out[award.rule_id] = out.get(award.rule_id, 0) + award.points
        return out
