"""Personal offers and favourite categories in the engine: table-driven cases.

An offer's rule applies only to the members it is in force for (addressed, activated when
required, inside its window); a favourite categories rule boosts only the categories the
member chose. The engine reads both from :class:`MemberContext`, which the services fill
from the database with :func:`offers_in_force` and :func:`choice_in_force`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kopilka.domain.errors import FavouritesAlreadyChosen, OfferNotAvailable, ValidationError
from kopilka.domain.rules import evaluate_purchase
from kopilka.domain.rules.offers import (
    ACTIVE,
    ENDED,
    OPEN,
    UPCOMING,
    check_activation,
    check_choice,
    check_new_choice,
    choice_in_force,
    choice_period,
    offers_in_force,
)

from .factories import basket, line, member, program, rules

DOC = """
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "10"}
  - id: coffee-x3
    kind: multiplier
    factor: 3
    scope: {categories: [coffee]}
    offer:
      audience: {listed: true, tiers: [gold], segments: [students]}
      requires_activation: true
      window: {from: 2026-06-08, to: 2026-06-14}
  - id: welcome-bonus
    kind: bonus
    points: 50
    offer:
      audience: {everyone: true}
      window: {from: 2026-06-01, to: 2026-06-30}
  - id: fav
    kind: favourite_categories
    choose: 2
    from: [dairy, bread, fruit]
    factor: 2
    period: month
"""
NOON = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # Wednesday, 12:00 in Moscow
BASKET = basket(
    line("1", 100, category="coffee"),
    line("2", 100, category="dairy"),
    line("3", 100, category="fruit"),
    at=NOON,
)


@pytest.mark.parametrize(
    ("offers", "favourites", "by_rule"),
    [
        # no offer in force, no choice: only the base rate
        (frozenset(), {}, {"base": 30}),
        # the activated coffee offer: x3 on the coffee line only
        (frozenset({"coffee-x3"}), {}, {"base": 30, "coffee-x3": 20}),
        # the everyone offer: a bonus over the basket
        (frozenset({"welcome-bonus"}), {}, {"base": 30, "welcome-bonus": 50}),
        # an id the rules do not have changes nothing
        (frozenset({"gone"}), {}, {"base": 30}),
        # favourites: dairy and fruit chosen, both doubled
        ((), {"fav": frozenset({"dairy", "fruit"})}, {"base": 30, "fav": 20}),
        # favourites: bread chosen (not in the basket) and dairy
        ((), {"fav": frozenset({"bread", "dairy"})}, {"base": 30, "fav": 10}),
        # a choice of nothing gives nothing
        ((), {"fav": frozenset()}, {"base": 30}),
        # both at once
        (
            frozenset({"coffee-x3", "welcome-bonus"}),
            {"fav": frozenset({"dairy", "fruit"})},
            {"base": 30, "coffee-x3": 20, "welcome-bonus": 50, "fav": 20},
        ),
    ],
)
def test_engine_applies_offers_and_favourites_only_as_the_member_context_says(
    offers: frozenset[str], favourites: dict[str, frozenset[str]], by_rule: dict[str, int]
) -> None:
    """Each offer and favourite rule awards exactly when the member context grants it."""
    rs = rules(DOC)
    who = member(offers=frozenset(offers), favourites=favourites)
    result = evaluate_purchase(rs, program(), BASKET, who)
    assert result.points_by_rule() == by_rule


def test_favourite_boost_lands_on_the_chosen_lines() -> None:
    """The favourite multiplier's points are attributed to the chosen categories' lines."""
    rs = rules(DOC)
    who = member(favourites={"fav": frozenset({"fruit", "bread"})})
    result = evaluate_purchase(rs, program(), BASKET, who)
    fav = [(a.line_id, a.points) for a in result.awards if a.rule_id == "fav"]
    assert fav == [("3", 10)]


@pytest.mark.parametrize(
    ("tier", "segments", "listed", "activated", "day", "in_force"),
    [
        ("gold", (), (), ("coffee-x3",), date(2026, 6, 10), {"coffee-x3", "welcome-bonus"}),
        # addressed by tier but not activated
        ("gold", (), (), (), date(2026, 6, 10), {"welcome-bonus"}),
        # activated but not addressed (a silver member not on the list)
        ("silver", (), (), ("coffee-x3",), date(2026, 6, 10), {"welcome-bonus"}),
        # on the uploaded list
        (
            None,
            (),
            ("coffee-x3",),
            ("coffee-x3",),
            date(2026, 6, 10),
            {"coffee-x3", "welcome-bonus"},
        ),
        # by segment
        (
            None,
            ("students",),
            (),
            ("coffee-x3",),
            date(2026, 6, 14),
            {"coffee-x3", "welcome-bonus"},
        ),
        # the day after the window
        ("gold", (), (), ("coffee-x3",), date(2026, 6, 15), {"welcome-bonus"}),
        # before the window (activated early)
        ("gold", (), (), ("coffee-x3",), date(2026, 6, 7), {"welcome-bonus"}),
        # outside every window
        ("gold", (), (), ("coffee-x3",), date(2026, 7, 1), set()),
    ],
)
def test_offers_in_force(
    tier: str | None,
    segments: tuple[str, ...],
    listed: tuple[str, ...],
    activated: tuple[str, ...],
    day: date,
    in_force: set[str],
) -> None:
    """Audience (list, tier, segment, everyone), activation and window decide an offer."""
    rs = rules(DOC)
    who = member(tier=tier, segments=frozenset(segments))
    assert offers_in_force(rs.offers, who, day, listed, activated) == in_force


@pytest.mark.parametrize(
    ("day", "activated", "state"),
    [
        (date(2026, 6, 1), False, OPEN),
        (date(2026, 6, 1), True, UPCOMING),
        (date(2026, 6, 10), True, ACTIVE),
        (date(2026, 6, 10), False, OPEN),
        (date(2026, 6, 15), True, ENDED),
        (date(2026, 6, 15), False, ENDED),
    ],
)
def test_offer_state(day: date, activated: bool, state: str) -> None:
    """What the member sees of an offer: to activate, not yet, active, over."""
    spec = rules(DOC).offers["coffee-x3"]
    assert spec.state(day, activated) == state


def test_activation_refused_when_not_addressed_or_over() -> None:
    """Activating an offer not for the member, or after its window, is refused."""
    spec = rules(DOC).offers["coffee-x3"]
    with pytest.raises(OfferNotAvailable):
        check_activation(spec, member(tier="silver"), False, date(2026, 6, 10))
    with pytest.raises(OfferNotAvailable):
        check_activation(spec, member(tier="gold"), False, date(2026, 6, 15))
    check_activation(spec, member(), True, date(2026, 6, 2))  # listed, before the window


@pytest.mark.parametrize(
    ("picked", "error"),
    [
        (["dairy", "fruit"], None),
        (["dairy"], "choose exactly 2 categories"),
        (["dairy", "fruit", "bread"], "choose exactly 2 categories"),
        (["dairy", "dairy"], "a category is chosen twice"),
        (["dairy", "meat"], "meat is not one of the categories to choose from"),
    ],
)
def test_check_choice(picked: list[str], error: str | None) -> None:
    """A choice is exactly N distinct categories of the rule's list."""
    spec = rules(DOC).favourites["fav"]
    if error is None:
        assert check_choice(spec, picked) == tuple(sorted(picked))
        return
    with pytest.raises(ValidationError) as caught:
        check_choice(spec, picked)
    assert str(caught.value) == error


def test_one_choice_per_period_and_it_carries_over() -> None:
    """A choice holds from its period on; a second choice in the same period is refused."""
    spec = rules(DOC).favourites["fav"]
    june = check_new_choice(spec, date(2026, 6, 10), None)
    assert june == date(2026, 6, 1)
    with pytest.raises(FavouritesAlreadyChosen) as caught:
        check_new_choice(spec, date(2026, 6, 30), june)
    assert caught.value.details["next_change"] == "2026-07-01"
    assert check_new_choice(spec, date(2026, 7, 1), june) == date(2026, 7, 1)
    choices = [(june, ("dairy", "fruit")), (date(2026, 8, 1), ("bread", "dairy"))]
    assert choice_in_force(spec, date(2026, 5, 31), choices) == frozenset()
    assert choice_in_force(spec, date(2026, 7, 20), choices) == {"dairy", "fruit"}
    assert choice_in_force(spec, date(2026, 8, 2), choices) == {"bread", "dairy"}
    assert choice_period(date(2026, 6, 10), "week") == date(2026, 6, 8)


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "- {id: o, kind: event, event: review, points: 5, "
            "offer: {window: {from: 2026-01-01, to: 2026-01-02}}}",
            "only a purchase rule can have it",
        ),
        (
            "- {id: o, kind: bonus, points: 5, offer: {audience: {}, "
            "window: {from: 2026-01-01, to: 2026-01-02}}}",
            "address the offer to everyone",
        ),
        (
            "- {id: o, kind: bonus, points: 5, "
            "offer: {window: {from: 2026-01-05, to: 2026-01-02}}}",
            "'to' must not be before 'from'",
        ),
        (
            "- {id: f, kind: favourite_categories, choose: 2, from: [a], factor: 2}",
            "choose must not exceed",
        ),
        (
            "- {id: f, kind: favourite_categories, choose: 1, from: [a, a], factor: 2}",
            "listed twice",
        ),
        (
            "- {id: f, kind: favourite_categories, choose: 1, from: [a]}",
            "give either factor or rate",
        ),
        (
            "- {id: f, kind: favourite_categories, choose: 1, from: [a], "
            "factor: 2, rate: {percent: 5}}",
            "give either factor or rate",
        ),
    ],
)
def test_document_errors(snippet: str, message: str) -> None:
    """Bad offer and favourite sections are located errors of the document."""
    with pytest.raises(ValidationError) as caught:
        rules("rules:\n  " + snippet + "\n")
    assert message in str(caught.value)


def test_favourite_rate_form() -> None:
    """A favourite categories rule may give a rate of its own instead of a factor."""
    rs = rules(
        """
        rules:
          - id: fav
            kind: favourite_categories
            choose: 1
            from: [dairy, coffee]
            rate: {percent: 10}
            period: week
        """
    )
    who = member(favourites={"fav": frozenset({"coffee"})})
    assert evaluate_purchase(rs, program(), BASKET, who).points_by_rule() == {"fav": 10}
