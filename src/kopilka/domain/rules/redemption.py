"""Paying with points: how many points a basket accepts and how the discount spreads.

A line can be paid with points unless the redemption ``exclude`` lists it (category, SKU,
brand, tag) or it is discounted and ``exclude.discounted`` is set. Its capacity is its amount,
or ``max_item_percent`` of it (rounded down). The most points a basket accepts is the smallest
of: the capacities' sum, ``max_percent`` of the whole basket, ``max_points`` and the member's
available points, in whole point values, rounded down to a multiple of ``step``; it is 0 when
the basket is below ``min_purchase``, the result is below ``min_points``, or the member's
available points are below ``min_balance``.

The document may give a tier limits of its own (``redemption.by_tier``: ``max_percent``,
``max_item_percent``, ``max_points``); each function takes the member's ``tier`` and
applies that tier's policy (:meth:`RedemptionPolicy.for_tier`).

A till may ask to pay an amount of money instead of a number of points
(:func:`points_for_amount`): the points are the amount in point values rounded up to a
multiple of ``step``, then capped by the most the basket accepts.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import RedemptionNotAllowed
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rules.allocation import allocate
from kopilka.domain.rules.earning import check_currency, content_key, point_value_minor
from kopilka.domain.rules.model import RedemptionPolicy, RuleSet

HUNDRED = Decimal(100)


def _percent_of(amount: int, percent: Decimal) -> int:
    return int((Decimal(amount) * percent / HUNDRED).to_integral_value(rounding=ROUND_FLOOR))


def line_capacity(line: BasketLine, policy: RedemptionPolicy) -> int:
    """Most of the line's amount (minor units) that points may pay."""
    if (policy.exclude_discounted and line.discounted) or policy.exclude.hits(line):
        return 0
    if policy.max_item_percent is not None:
        return _percent_of(line.amount_minor, policy.max_item_percent)
    return line.amount_minor


def _ceiling(
    basket: Basket, ruleset: RuleSet, program: Program, policy: RedemptionPolicy
) -> tuple[int, str]:
    """The rules' ceiling on points for the basket, ignoring the balance, and why."""
    if not policy.enabled:
        return 0, msg("the program does not accept points as payment")
    total = basket.total_minor
    if total < policy.min_purchase_minor:
        return 0, msg("the purchase is below the minimum for paying with points")
    value = point_value_minor(ruleset, program)
    money = sum(line_capacity(line, policy) for line in basket.lines)
    reason = msg("the items in the basket cannot be paid with points beyond this")
    if policy.max_percent is not None and _percent_of(total, policy.max_percent) < money:
        money = _percent_of(total, policy.max_percent)
        reason = msg(
            "at most %(percent)s%% of the purchase can be paid with points",
            percent=policy.max_percent,
        )
    points = money // value
    if policy.max_points is not None and policy.max_points < points:
        points = policy.max_points
        reason = msg("at most %(points)s points per purchase", points=policy.max_points)
    return points - points % policy.step, reason


def check_balance(ruleset: RuleSet, available_points: int, tier: str | None = None) -> None:
    """Refuse paying with points while the member holds fewer than ``min_balance`` of them
    (:class:`RedemptionNotAllowed`)."""
    need = ruleset.redemption.for_tier(tier).min_balance
    if available_points < need:
        raise RedemptionNotAllowed(
            msg(
                "a member needs at least %(points)s points to pay with them (has %(available)s)",
                points=need,
                available=max(available_points, 0),
            ),
            min_balance=need,
            available=max(available_points, 0),
        )


def max_redeemable(
    basket: Basket,
    ruleset: RuleSet,
    program: Program,
    available_points: int,
    tier: str | None = None,
) -> int:
    """The most points a member of ``tier`` may spend on this basket (0 when none are
    allowed)."""
    check_currency(ruleset, program)
    policy = ruleset.redemption.for_tier(tier)
    if available_points < policy.min_balance:
        return 0
    ceiling, _ = _ceiling(basket, ruleset, program, policy)
    points = min(ceiling, max(available_points, 0))
    points -= points % policy.step
    return points if points >= max(policy.min_points, 1) else 0


def spread_discount(
    points: int, basket: Basket, ruleset: RuleSet, program: Program, tier: str | None = None
) -> dict[str, int]:
    """Spread the money value of ``points`` over the lines, in minor units, per line id.

    The parts sum exactly to ``points x point value``, never exceed a line's capacity (its
    amount, or its ``max_item_percent`` share), and are proportional to the capacities with
    largest-remainder rounding, ties to the line first in the canonical order of
    :func:`~kopilka.domain.rules.earning.content_key` (never to a line for its id). Raises
    :class:`RedemptionNotAllowed` when the redemption rules refuse ``points``.
    """
    check_currency(ruleset, program)
    policy = ruleset.redemption.for_tier(tier)
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise RedemptionNotAllowed(
            msg("points to spend must be a positive whole number"), points=points
        )
    ceiling, reason = _ceiling(basket, ruleset, program, policy)
    if points % policy.step:
        raise RedemptionNotAllowed(
            msg("points are spent in steps of %(count)s", count=policy.step),
            points=points,
            step=policy.step,
        )
    if points < policy.min_points:
        raise RedemptionNotAllowed(
            msg(
                "at least %(min_points)s points must be spent at once", min_points=policy.min_points
            ),
            points=points,
            min_points=policy.min_points,
        )
    if points > ceiling:
        raise RedemptionNotAllowed(
            msg(
                "cannot spend %(points)s points on this purchase: %(reason)s (at most %(count)s)",
                points=points,
                reason=reason,
                count=ceiling,
            )
            if ceiling
            else msg(
                "cannot spend %(points)s points on this purchase: %(reason)s",
                points=points,
                reason=reason,
            ),
            points=points,
            max_points=ceiling,
        )
    lines = sorted(basket.lines, key=content_key)
    capacities = [line_capacity(line, policy) for line in lines]
    parts = allocate(points * point_value_minor(ruleset, program), capacities)
    by_id = {line.line_id: part for line, part in zip(lines, parts, strict=True)}
    return {line.line_id: by_id[line.line_id] for line in basket.lines}


def points_for_amount(
    amount_minor: int,
    basket: Basket,
    ruleset: RuleSet,
    program: Program,
    available_points: int,
    tier: str | None = None,
) -> int:
    """The points that pay ``amount_minor`` of money on this basket: the amount in point
    values rounded up to a multiple of ``step``, capped by the most the member may spend
    (:func:`max_redeemable`). Raises :class:`RedemptionNotAllowed` when nothing can be paid
    (saying why) or the amount is below ``min_points`` worth of points."""
    check_currency(ruleset, program)
    policy = ruleset.redemption.for_tier(tier)
    if amount_minor <= 0:
        raise RedemptionNotAllowed(
            msg("the amount to pay with points must be positive"),
            redeem_amount_minor=amount_minor,
        )
    check_balance(ruleset, available_points, tier)
    value = point_value_minor(ruleset, program)
    points = -(-amount_minor // value)  # whole points, rounded up
    points += -points % policy.step  # up to the step
    ceiling = max_redeemable(basket, ruleset, program, available_points, tier)
    if ceiling == 0:
        rules_ceiling, reason = _ceiling(basket, ruleset, program, policy)
        if rules_ceiling >= max(policy.min_points, 1):
            reason = msg("the member has too few points available")
        raise RedemptionNotAllowed(
            msg("points cannot pay for this purchase: %(reason)s", reason=reason),
            max_redeemable=0,
        )
    points = min(points, ceiling)
    if points < policy.min_points:
        raise RedemptionNotAllowed(
            msg(
                "at least %(min_points)s points must be spent at once", min_points=policy.min_points
            ),
            points=points,
            min_points=policy.min_points,
        )
    return points
