"""Personal offers and favourite categories: rules that apply to some members only.

An **offer** is a purchase rule with an ``offer:`` section: it is addressed to an audience
(everyone, the members listed for it in the back office, some tiers, some segments: any of
them), runs for a window of local dates, and may require the member to activate it first
("activate x3 points on coffee this week"). The engine applies it only to the members it
is *in force* for (:func:`offers_in_force`): addressed, activated when required, on a date
of the window. Which members are listed and who activated what live in the database; the
caller passes them in, so this stays pure.

A **favourite categories** rule (``kind: favourite_categories``) boosts the categories each
member picked (``choose`` of its ``from`` list) for a period (a week or a month). A choice
made in a period holds from that period on, until the member chooses again in a later one;
one choice per period (:func:`choice_in_force`, :func:`check_choice`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from kopilka.domain.errors import FavouritesAlreadyChosen, OfferNotAvailable, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.rules.context import MemberContext

UPCOMING, OPEN, ACTIVE, ENDED = "upcoming", "open", "active", "ended"
PERIODS = ("week", "month")


@dataclass(frozen=True, slots=True)
class OfferSpec:
    """The ``offer:`` section of a rule: its audience, whether it must be activated, and
    its window (inclusive local dates of the program's time zone)."""

    rule_id: str
    description: str
    first_day: date
    last_day: date
    everyone: bool = False
    listed: bool = False  # the members uploaded for this offer in the back office
    tiers: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    requires_activation: bool = False

    def addresses(self, member: MemberContext, listed: bool) -> bool:
        """Whether the offer is addressed to ``member`` (``listed``: the member is on the
        offer's uploaded list)."""
        return (
            self.everyone
            or (self.listed and listed)
            or (member.tier is not None and member.tier in self.tiers)
            or not self.segments.isdisjoint(member.segments)
        )

    def state(self, day: date, activated: bool) -> str:
        """Where the offer stands for an addressed member on ``day``: ``upcoming`` (before
        its window), ``open`` (to activate), ``active`` (applies to purchases), ``ended``."""
        if day > self.last_day:
            return ENDED
        if self.requires_activation and not activated:
            return OPEN
        if day < self.first_day:
            return UPCOMING
        return ACTIVE


def offers_in_force(
    offers: Mapping[str, OfferSpec],
    member: MemberContext,
    day: date,
    listed: Iterable[str],
    activated: Iterable[str],
) -> frozenset[str]:
    """The ids of the offers that apply to ``member``'s purchases on ``day``: addressed to
    them (``listed``: the offers whose uploaded list has them), activated when the offer
    requires it (``activated``), and ``day`` in the window."""
    on_list, done = frozenset(listed), frozenset(activated)
    return frozenset(
        rule_id
        for rule_id, spec in offers.items()
        if spec.first_day <= day <= spec.last_day
        and spec.addresses(member, rule_id in on_list)
        and (not spec.requires_activation or rule_id in done)
    )


def check_activation(spec: OfferSpec, member: MemberContext, listed: bool, day: date) -> None:
    """Refuse to activate an offer not addressed to the member or already over
    (:class:`OfferNotAvailable`); an offer may be activated before its window opens."""
    if not spec.addresses(member, listed):
        raise OfferNotAvailable(
            msg("this offer is not addressed to the member"), offer_id=spec.rule_id
        )
    if day > spec.last_day:
        raise OfferNotAvailable(msg("this offer is over"), offer_id=spec.rule_id)


@dataclass(frozen=True, slots=True)
class FavouriteSpec:
    """A ``favourite_categories`` rule: the member picks ``choose`` of ``allowed`` for a
    ``period`` (``week`` or ``month``)."""

    rule_id: str
    description: str
    choose: int
    allowed: tuple[str, ...]
    period: str


def choice_period(day: date, period: str) -> date:
    """The first day of the period (a week from Monday, a month) holding ``day``."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def check_choice(spec: FavouriteSpec, categories: Iterable[str]) -> tuple[str, ...]:
    """The member's pick, checked: exactly ``choose`` distinct categories, each of the
    rule's list (ValidationError, field ``categories``); returned sorted."""
    picked = [str(c).strip() for c in categories]
    if len(set(picked)) != len(picked):
        raise ValidationError(msg("a category is chosen twice"), field="categories")
    if len(picked) != spec.choose:
        raise ValidationError(
            msg("choose exactly %(count)s categories", count=spec.choose),
            field="categories",
            choose=spec.choose,
        )
    unknown = sorted(set(picked) - set(spec.allowed))
    if unknown:
        raise ValidationError(
            msg("%(category)s is not one of the categories to choose from", category=unknown[0]),
            field="categories",
            allowed=list(spec.allowed),
        )
    return tuple(sorted(picked))


def check_new_choice(spec: FavouriteSpec, day: date, latest: date | None) -> date:
    """The period a choice made on ``day`` is for; a second choice in one period is
    refused (:class:`FavouritesAlreadyChosen`; ``latest``: the period of the member's
    latest choice)."""
    period = choice_period(day, spec.period)
    if latest is not None and latest >= period:
        raise FavouritesAlreadyChosen(
            msg("favourite categories can be changed once a %(period)s", period=spec.period),
            rule_id=spec.rule_id,
            next_change=_next_period(period, spec.period).isoformat(),
        )
    return period


def _next_period(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def choice_in_force(
    spec: FavouriteSpec, day: date, choices: Iterable[tuple[date, tuple[str, ...]]]
) -> frozenset[str]:
    """The categories that are the member's favourites on ``day``: the latest of their
    ``choices`` (period start, categories) made in ``day``'s period or before, less any no
    longer on the rule's list."""
    period = choice_period(day, spec.period)
    best: tuple[date, tuple[str, ...]] | None = None
    for start, categories in choices:
        if start <= period and (best is None or start > best[0]):
            best = (start, categories)
    if best is None:
        return frozenset()
    return frozenset(best[1]) & frozenset(spec.allowed)
