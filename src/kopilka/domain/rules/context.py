"""What the caller tells the engine (member, usage so far) and what it gets back (awards).

The engine is pure: it never reads a database. The caller passes the member's facts and the
usage counters of capped rules, and stores the :class:`UsageDelta` of the result afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, final


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
    # the personal offers in force for this member now (rule ids: addressed, activated when
    # required, in their window; see domain/rules/offers.py), and the categories the member
    # chose for each favourite categories rule
    offers: frozenset[str] = frozenset()
    favourites: Mapping[str, frozenset[str]] = field(default_factory=dict)


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

    def __init__(
        self,
        points_by_rule: Mapping[str, int] | None = None,
        events_by_rule: Mapping[str, int] | None = None,
    ) -> None:
        # written out (the dataclass keeps it): compiled, a generated __init__ would be Python
        # code, this one is native and each object.__setattr__ a plain store (see EarnResult)
        object.__setattr__(self, "points_by_rule", {} if points_by_rule is None else points_by_rule)
        object.__setattr__(self, "events_by_rule", {} if events_by_rule is None else events_by_rule)


@final
class Award:
    """Points one rule gave, attributed to one basket line (``None`` for an event).

    A purchase creates one per rule and line, so how an award is built matters. Compiled
    (the optional mypyc build, see ``setup.py``), this is a native class with read-only
    fields: one allocation and a direct C call, where the named tuple below costs four tuples
    through ``tuple.__new__``'s generic call path. Interpreted, the named tuple is the
    cheaper one (built in C by ``map``; this class's ``__init__`` would be a Python frame per
    award), so when this module runs as Python, ``Award`` is the named tuple of
    :mod:`kopilka.domain.rules.award_tuple` instead. Both
    have the same fields in the same order, iterate, unpack, index and compare as tuples of
    those values, hash alike and print alike; ``tests/unit/rules/test_award.py`` holds them
    to that.
    """

    __slots__ = ("description", "line_id", "points", "rule_id", "ruleset_version", "visible")

    def __init__(
        self,
        rule_id: str,
        ruleset_version: int,
        line_id: str | None,
        points: int,
        description: str,
        visible: bool = True,
    ) -> None:
        self.rule_id: Final = rule_id
        self.ruleset_version: Final = ruleset_version
        self.line_id: Final = line_id
        self.points: Final = points
        self.description: Final = description
        self.visible: Final = visible

    def as_tuple(self) -> tuple[str, int, str | None, int, str, bool]:
        """The fields in order: ``(rule_id, ruleset_version, line_id, points, description,
        visible)``."""
        return (
            self.rule_id,
            self.ruleset_version,
            self.line_id,
            self.points,
            self.description,
            self.visible,
        )

    def __iter__(self) -> Iterator[object]:
        return iter(self.as_tuple())

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> object:
        return self.as_tuple()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return self.as_tuple() == other
        if type(other) is type(self):  # not isinstance(other, Award): see the end of the module
            return self.as_tuple() == other.as_tuple()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return (
            f"Award(rule_id={self.rule_id!r}, ruleset_version={self.ruleset_version!r}, "
            f"line_id={self.line_id!r}, points={self.points!r}, "
            f"description={self.description!r}, visible={self.visible!r})"
        )


if __file__.endswith(".py"):  # this module runs as Python: awards are named tuples (see Award)
    from kopilka.domain.rules.award_tuple import Award as _AwardTuple

    _AwardClass = Award  # the compiled build's Award, interpreted (tests compare the two)
    globals()["Award"] = _AwardTuple


@dataclass(frozen=True, slots=True)
class EarnResult:
    """The outcome of evaluating a purchase or an event."""

    ruleset_version: int
    awards: tuple[Award, ...]
    usage: UsageDelta
    control_group: tuple[str, ...] = ()

    def __init__(
        self,
        ruleset_version: int,
        awards: tuple[Award, ...],
        usage: UsageDelta,
        control_group: tuple[str, ...] = (),
    ) -> None:
        # the dataclass keeps an __init__ the class defines. Compiled (mypyc), the generated one
        # would stay Python code (a frame and a generic call per field, ~10,000 instructions per
        # evaluation for this and UsageDelta); this one is native, and mypyc makes each
        # object.__setattr__ of a field a plain store. Interpreted, it is what the dataclass
        # would generate for a frozen class.
        object.__setattr__(self, "ruleset_version", ruleset_version)
        object.__setattr__(self, "awards", awards)
        object.__setattr__(self, "usage", usage)
        object.__setattr__(self, "control_group", control_group)

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
