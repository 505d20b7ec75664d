"""Tiers: status levels a member earns by what they buy, keeps by buying again, and loses
at a review. Pure: the metrics come in, the decisions go out; the store and the services
(``services/tiers.py``) read and write them.

A program's tiers are the ``tiers:`` section of its rules document (parsed by
``domain/rules/tiers_section.py`` into a :class:`TierPolicy`). Tiers are ordered from the
lowest to the highest; a member qualifies for the highest tier whose *entry* threshold the
metrics of the window meet, and keeps a tier at a review while its *retention* threshold
(never higher than the entry) is met. Rules read the member's effective tier
(``members.tier_code``): the earned tier, or a manual tier set by support when that is
higher (a floor, until a date or for good).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from kopilka.domain.memberships import Plan


class Combine(StrEnum):
    """How the metrics of a threshold combine: any one met, or all of them."""

    ANY = "any"
    ALL = "all"


class WindowKind(StrEnum):
    """Which purchases count: the last N months, the calendar year or quarter so far, or
    every purchase ever."""

    ROLLING = "rolling"
    YEAR = "calendar_year"
    QUARTER = "calendar_quarter"
    LIFETIME = "lifetime"


class Downgrade(StrEnum):
    """What a review does when a member no longer meets their tier's retention."""

    NEVER = "never"
    AT_REVIEW = "at_review"
    AFTER_GRACE = "after_grace"


class PointsSource(StrEnum):
    """Where qualifying points come from: purchase earnings (always counted unless the
    program says otherwise), the points of event rules (``kind: event``, a birthday among
    them; never a tier's own welcome bonus) and support's adjustments."""

    PURCHASES = "purchases"
    EVENTS = "events"
    ADJUSTMENTS = "adjustments"


class ReviewSchedule(StrEnum):
    """When a member's tier is reviewed: at the end of the calendar period (a calendar
    window), on the anniversary of reaching the tier, or at every review run (rolling)."""

    PERIOD_END = "period_end"
    ANNIVERSARY = "anniversary"
    ROLLING = "rolling"


class ChangeReason(StrEnum):
    """Why a member's tier changed (stored with every change)."""

    PURCHASE = "purchase"
    REVIEW = "review"
    MANUAL = "manual"
    RETURN = "return"
    MIGRATION = "migration"
    EVENT = "event"  # an event rule's points (qualifying points that count events)
    ADJUSTMENT = "adjustment"  # support's adjustment (qualifying points that count them)
    PAID = "paid"  # a paid membership started, renewed, was refunded or its term ended


@dataclass(frozen=True, slots=True)
class Metrics:
    """What a member did in a window: money spent (minor units, returns taken out),
    qualifying points (earned by purchases, claw-backs taken out) and purchases."""

    spend_minor: int = 0
    points: int = 0
    purchases: int = 0

    def plus(self, spend_minor: int, points: int, purchases: int) -> Metrics:
        """These metrics with one more purchase (or a return, with negative values)."""
        return Metrics(
            self.spend_minor + spend_minor, self.points + points, self.purchases + purchases
        )


@dataclass(frozen=True, slots=True)
class Threshold:
    """A tier's bar: ``None`` for a metric the bar does not test. A bar testing nothing is
    always met (the base tier)."""

    spend_minor: int | None = None
    points: int | None = None
    purchases: int | None = None
    # the tested metrics, worked out once: a review or recompute tests every member's
    _parts: tuple[tuple[str, int], ...] = field(
        init=False, repr=False, compare=False, hash=False, default=()
    )

    def __post_init__(self) -> None:
        out = []
        if self.spend_minor is not None:
            out.append(("spend", self.spend_minor))
        if self.points is not None:
            out.append(("points", self.points))
        if self.purchases is not None:
            out.append(("purchases", self.purchases))
        object.__setattr__(self, "_parts", tuple(out))

    def parts(self) -> list[tuple[str, int]]:
        """The tested metrics as ``(name, value)``, in a fixed order."""
        return list(self._parts)

    def met(self, metrics: Metrics, combine: Combine) -> bool:
        """Whether ``metrics`` meet this bar."""
        parts = self._parts
        if not parts:
            return True
        if combine is Combine.ANY:
            return any(_value(metrics, name) >= bar for name, bar in parts)
        return all(_value(metrics, name) >= bar for name, bar in parts)

    def missing(self, metrics: Metrics) -> dict[str, int]:
        """What each tested metric still lacks (0 when met)."""
        return {name: max(bar - _value(metrics, name), 0) for name, bar in self.parts()}

    def as_dict(self) -> dict[str, int]:
        """The bar as stored beside a tier change."""
        return dict(self.parts())


def _value(metrics: Metrics, name: str) -> int:
    if name == "spend":
        return metrics.spend_minor
    if name == "points":
        return metrics.points
    return metrics.purchases


@dataclass(frozen=True, slots=True)
class Tier:
    """One level: its code, names, the bar to reach it and the (lower or equal) bar to keep it."""

    code: str
    name_ru: str
    name_en: str
    entry: Threshold
    keep: Threshold
    benefits_ru: str = ""
    benefits_en: str = ""

    def name(self, lang: str) -> str:
        """The tier's name in ``lang`` (Russian for ``ru``, English otherwise)."""
        return self.name_ru if lang == "ru" else self.name_en

    def benefits(self, lang: str) -> str:
        """The one-line benefits text in ``lang``."""
        return self.benefits_ru if lang == "ru" else self.benefits_en


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """A program's tiers (lowest first) and how they are earned, kept and lost."""

    tiers: tuple[Tier, ...]
    combine: Combine = Combine.ANY
    window: WindowKind = WindowKind.LIFETIME
    window_months: int = 12
    downgrade: Downgrade = Downgrade.AT_REVIEW
    grace_days: int = 0
    soft_landing: bool = False
    # whether the purchase that crosses a threshold already earns at the new tier
    crossing_purchase_earns: bool = False
    # the paid plans on sale (``paid:``): each gives its tier for a fixed term
    plans: tuple[Plan, ...] = ()
    # where qualifying points come from (``qualifying_points: {from: [...]}``)
    points_from: frozenset[PointsSource] = frozenset({PointsSource.PURCHASES})
    # ``None``: the window's own schedule (period end for a calendar window, else rolling)
    review_schedule: ReviewSchedule | None = None
    # whether a return pushing the member below the retention bar downgrades at once
    downgrade_on_return: bool = False
    # each tier's rank by code, worked out once (a review ranks every member's tiers)
    _ranks: dict[str, int] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ranks", {t.code: i for i, t in enumerate(self.tiers)})

    @property
    def schedule(self) -> ReviewSchedule:
        """When members are reviewed: the section's ``review`` or the window's default."""
        if self.review_schedule is not None:
            return self.review_schedule
        return ReviewSchedule.PERIOD_END if self.calendar else ReviewSchedule.ROLLING

    @property
    def anniversary(self) -> bool:
        """Whether each member is reviewed on the anniversary of reaching their tier."""
        return self.schedule is ReviewSchedule.ANNIVERSARY

    def counts(self, source: PointsSource) -> bool:
        """Whether points from ``source`` are qualifying points."""
        return source in self.points_from

    @property
    def tests_points(self) -> bool:
        """Whether any tier's bar tests qualifying points."""
        return any(t.entry.points is not None or t.keep.points is not None for t in self.tiers)

    def plan(self, code: str) -> Plan | None:
        """The paid plan with this code, if the policy sells it."""
        for plan in self.plans:
            if plan.code == code:
                return plan
        return None

    @property
    def calendar(self) -> bool:
        """Whether the window is a calendar year or quarter (a review judges a past one)."""
        return self.window in (WindowKind.YEAR, WindowKind.QUARTER)

    def rank(self, code: str | None) -> int:
        """The tier's position (0 lowest); -1 for no tier or a code the policy lacks."""
        return -1 if code is None else self._ranks.get(code, -1)

    def tier(self, code: str | None) -> Tier | None:
        """The tier with this code, if the policy has it."""
        index = self.rank(code)
        return self.tiers[index] if index >= 0 else None

    def qualified(self, metrics: Metrics) -> Tier | None:
        """The highest tier whose entry bar ``metrics`` meet."""
        found = None
        for tier in self.tiers:
            if tier.entry.met(metrics, self.combine):
                found = tier
        return found

    def kept(self, metrics: Metrics, ceiling: int) -> Tier | None:
        """The highest tier at or below rank ``ceiling`` whose retention bar is met."""
        found = None
        for tier in self.tiers[: ceiling + 1]:
            if tier.keep.met(metrics, self.combine):
                found = tier
        return found

    def higher(self, a: str | None, b: str | None) -> str | None:
        """Of two codes, the higher tier (``a`` on a tie)."""
        return b if self.rank(b) > self.rank(a) else a


# ---- windows -------------------------------------------------------------------------


def _local_midnight(year: int, month: int, day: int, zone: ZoneInfo) -> datetime:
    return datetime(year, month, day, tzinfo=zone).astimezone(UTC)


def _minus_months(at: datetime, months: int) -> datetime:
    month0 = at.month - 1 - months
    year = at.year + month0 // 12
    month = month0 % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def period_bounds(
    policy: TierPolicy, at: datetime, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """The window counting at ``at``: ``(start, end)`` in UTC, ``end`` exclusive.

    A calendar window is the year or quarter containing ``at`` in the program's time zone
    (its end is the next review); a rolling window is the ``window_months`` before ``at``
    (no end: it moves); lifetime has neither.
    """
    if policy.window is WindowKind.LIFETIME:
        return None, None
    if policy.window is WindowKind.ROLLING:
        return _minus_months(at, policy.window_months), None
    local = at.astimezone(ZoneInfo(timezone))
    if policy.window is WindowKind.YEAR:
        return _calendar(local.year, 1, 12, timezone)
    return _calendar(local.year, (local.month - 1) // 3 * 3 + 1, 3, timezone)


@lru_cache(maxsize=512)
def _calendar(year: int, month: int, months: int, timezone: str) -> tuple[datetime, datetime]:
    """The ``months`` from the first of ``month`` of ``year`` at local midnight, in UTC:
    a calendar year or quarter (remembered: every purchase of a period asks for it)."""
    zone = ZoneInfo(timezone)
    start = _local_midnight(year, month, 1, zone)
    follows = month + months
    return start, _local_midnight(year + (follows - 1) // 12, (follows - 1) % 12 + 1, 1, zone)


def review_window(
    policy: TierPolicy, as_of: datetime, timezone: str
) -> tuple[datetime | None, datetime]:
    """The window a review at ``as_of`` judges: for a calendar window, the last period that
    ended at or before ``as_of`` (a review on 1 January judges the year just ended); else
    the window ending at ``as_of``."""
    if policy.calendar:
        start, _ = period_bounds(policy, as_of, timezone)
        assert start is not None
        previous, _ = period_bounds(policy, start - timedelta(microseconds=1), timezone)
        return previous, start
    start, _ = period_bounds(policy, as_of, timezone)
    return start, as_of


ANNIVERSARY_MONTHS = 12


def next_anniversary(reached: datetime, after: datetime, timezone: str) -> datetime:
    """The first anniversary of ``reached`` (the local date, a year on, at local midnight;
    29 February falls on 28 February) later than ``after``: the member's next review."""
    zone = ZoneInfo(timezone)
    local = reached.astimezone(zone)
    years = 1
    while True:
        year = local.year + years
        day = min(local.day, calendar.monthrange(year, local.month)[1])
        due = _local_midnight(year, local.month, day, zone)
        if due > after:
            return due
        years += 1


# ---- decisions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """What a review does to one member: the earned tier after it, whether it changed, and
    the grace period's start after it (``None``: not in grace)."""

    earned: str | None
    changed: bool
    grace_since: datetime | None


def review(
    policy: TierPolicy,
    earned: str | None,
    metrics: Metrics,
    as_of: datetime,
    grace_since: datetime | None,
    current: Metrics | None = None,
) -> ReviewDecision:
    """Judge a member at a review: up to the tier the metrics qualify for, kept while its
    retention bar is met, else down by the program's downgrade mode (never; at once; after
    ``grace_days`` counted from the first review that found the bar missed), landing on
    the highest tier whose retention is met, at most one level lower with a soft landing.

    ``current`` are the metrics of the calendar period under way (since the judged one
    ended): a tier they already qualify for is never taken away by judging the past."""
    rank = policy.rank(earned)
    floor = policy.qualified(current) if current is not None else None
    if floor is not None and policy.rank(floor.code) >= rank:
        return ReviewDecision(floor.code, floor.code != earned, None)
    qualified = policy.qualified(metrics)
    if qualified is not None and policy.rank(qualified.code) > rank:
        return ReviewDecision(qualified.code, True, None)
    if rank < 0:
        return ReviewDecision(earned, False, None)
    if policy.tiers[rank].keep.met(metrics, policy.combine):
        return ReviewDecision(earned, False, None)
    if policy.downgrade is Downgrade.NEVER:
        return ReviewDecision(earned, False, None)
    if policy.downgrade is Downgrade.AFTER_GRACE:
        if grace_since is None:
            return ReviewDecision(earned, False, as_of)
        if as_of < grace_since + timedelta(days=policy.grace_days):
            return ReviewDecision(earned, False, grace_since)
    landing = policy.kept(metrics, rank - 1)
    landing_rank = policy.rank(landing.code) if landing else -1
    if policy.soft_landing:
        landing_rank = max(landing_rank, rank - 1)
    if floor is not None:
        landing_rank = max(landing_rank, policy.rank(floor.code))
    code = policy.tiers[landing_rank].code if landing_rank >= 0 else None
    return ReviewDecision(code, code != earned, None)


def downgrade_on_return(
    policy: TierPolicy,
    earned: str | None,
    as_of: datetime,
    before: tuple[Metrics, Metrics | None],
    after: tuple[Metrics, Metrics | None],
) -> str | None:
    """The earned tier a return takes the member down to at once (``None``: no change),
    when the program downgrades on returns (``downgrade: {on_return: true}``).

    ``before`` and ``after`` are the metrics a review at ``as_of`` would judge (the judged
    window, and for a calendar window the period under way) without and with the return.
    The member goes down only when the return is what pushed them below the retention bar:
    a review then would have kept their tier before it and takes it after it (landing as a
    review lands, one level with a soft landing). Never up, never into a grace period."""
    if not policy.downgrade_on_return or policy.rank(earned) < 0:
        return None
    judge = replace(policy, downgrade=Downgrade.AT_REVIEW)
    was = review(judge, earned, before[0], as_of, None, before[1])
    if was.changed:
        return None  # already due a change at the next review: not the return's doing
    now = review(judge, earned, after[0], as_of, None, after[1])
    if not now.changed or policy.rank(now.earned) >= policy.rank(earned):
        return None
    return now.earned


def upgrade_on_purchase(policy: TierPolicy, earned: str | None, metrics: Metrics) -> str | None:
    """The tier a purchase lifts the member to (``None``: no upgrade): purchases only ever
    raise a tier; losing one waits for a review."""
    qualified = policy.qualified(metrics)
    if qualified is not None and policy.rank(qualified.code) > policy.rank(earned):
        return qualified.code
    return None


def effective(
    policy: TierPolicy,
    earned: str | None,
    manual: str | None,
    manual_until: datetime | None,
    at: datetime,
    paid: str | None = None,
    paid_until: datetime | None = None,
) -> str | None:
    """The tier rules read: the earned one, or a floor while it lasts if higher: the manual
    tier support set, or the tier of a paid membership whose term runs (``paid_until``)."""
    code = earned
    if manual is not None and (manual_until is None or at < manual_until):
        if policy.rank(manual) < 0 and earned is None:
            code = manual  # a manual code outside the policy (a migrated free-text tier)
        else:
            code = policy.higher(earned, manual)
    running = paid is not None and paid_until is not None and at < paid_until
    if running and policy.rank(paid) > policy.rank(code):
        code = paid
    return code


def effective_until(
    policy: TierPolicy,
    earned: str | None,
    manual: str | None,
    manual_until: datetime | None,
    at: datetime,
    paid: str | None = None,
    paid_until: datetime | None = None,
) -> datetime | None:
    """When the effective tier at ``at`` changes by time alone (a floor lifting it ends):
    the purchase path recomputes the stored tier after it, without waiting for a review.
    ``None``: not before something else happens."""
    now = effective(policy, earned, manual, manual_until, at, paid, paid_until)
    ends = sorted(t for t in (manual_until, paid_until) if t is not None and t > at)
    for end in ends:
        if effective(policy, earned, manual, manual_until, end, paid, paid_until) != now:
            return end
    return None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a member stands: what the next tier still needs and by when (``None``: a
    rolling or lifetime window has no deadline), and what keeping the current one needs."""

    next_tier: Tier | None
    to_next: dict[str, int]
    keep_missing: dict[str, int]
    deadline: datetime | None


def progress(
    policy: TierPolicy, earned: str | None, metrics: Metrics, at: datetime, timezone: str
) -> Progress:
    """What the member still lacks, as of ``at``, for the next tier and to keep their own."""
    rank = policy.rank(earned)
    nxt = policy.tiers[rank + 1] if rank + 1 < len(policy.tiers) else None
    to_next = nxt.entry.missing(metrics) if nxt else {}
    keep = policy.tiers[rank].keep.missing(metrics) if rank >= 0 else {}
    _, end = period_bounds(policy, at, timezone)
    return Progress(nxt, to_next, keep, end)
