"""Properties of purchases through the services, on random baskets, on both databases.

Each example enrolls a fresh member in the test's program, so examples never see each
other's balances, purchase counts or usage counters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kopilka.domain.errors import RedemptionNotAllowed
from kopilka.domain.program import Program
from kopilka.services import audit, members, purchases
from kopilka.services.context import ServiceContext
from tests import commands

from .conftest import basket

RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - id: fruit
    kind: rate
    priority: 10
    stacking: exclusive
    rate: {percent: "3.5"}
    scope: {categories: [fruit]}
  - {id: dairy-x1.5, kind: multiplier, factor: "1.5", scope: {categories: [dairy]}}
  - {id: big-basket, kind: bonus, points: 50, min_amount: "3000"}
  - id: from-1000
    kind: rate
    rate: {percent: 2}
    when: {purchase_amount: {min: "1000", max: "20000"}}
  - id: three-dairy
    kind: bonus
    points: 15
    when: {quantity: {min: 3, categories: [dairy]}}
  - id: not-bread
    kind: multiplier
    factor: 2
    scope: {categories: {not: [bread]}}
    when: {stores: {not: [s-2]}}
  - id: bread-per-unit
    kind: rate
    rate: {points: 3, per_unit: true}
    scope: {categories: [bread]}
  - id: spring
    kind: rate
    rate: {percent: 5}
    when: {promo_code: SPRING}
  - id: no-gift-card
    kind: rate
    rate: {percent: 1}
    tenders: {not: [gift_card]}
  - id: sbp-bonus
    kind: rate
    rate: {percent: 5}
    tenders: [sbp]
promo_codes:
  - {code: SPRING}
exclude: {categories: [tobacco]}
redemption:
  max_percent: 50
  step: 10
  exclude: {categories: [tobacco, gift_cards]}
"""
CATEGORIES = ("dairy", "bread", "fruit", "tobacco", "gift_cards")
FUNDS = 100_000

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@dataclass(frozen=True)
class Line:
    """A generated basket line: money in kopecks, a whole quantity."""

    category: str
    kopecks: int
    quantity: int


lines_strategy = st.lists(
    st.builds(
        Line,
        category=st.sampled_from(CATEGORIES),
        kopecks=st.integers(1, 500_000),
        quantity=st.integers(1, 3),
    ),
    min_size=1,
    max_size=10,
)


@dataclass(frozen=True)
class Extras:
    """What else a generated purchase says: its store, whether it carries the promo code,
    the shop's order discount (a share of the total, in percent) and how the money part is
    split over tenders (shares in percent; empty: no payments given)."""

    store: str | None
    promo: bool
    order_discount_percent: int
    tenders: tuple[tuple[str, int], ...]


extras_strategy = st.builds(
    Extras,
    store=st.sampled_from((None, "s-1", "s-2")),
    promo=st.booleans(),
    order_discount_percent=st.sampled_from((0, 0, 10, 33, 100)),
    tenders=st.sampled_from(
        (
            (),
            (("card", 100),),
            (("sbp", 100),),
            (("gift_card", 30), ("card", 70)),
            (("sbp", 50), ("gift_card", 25), ("cash", 25)),
        )
    ),
)


def with_extras(
    purchase: dict[str, Any], lines: list[Line], extras: Extras, points_discount: str = "0"
) -> dict[str, Any]:
    """``purchase`` with the store, promo code, order discount and payments of ``extras``
    (the money tenders share what is due after the points discount)."""
    out = dict(purchase)
    if extras.store is not None:
        out["store"] = extras.store
    if extras.promo:
        out["promo_codes"] = ["spring"]  # codes are matched in upper case
    total = sum(x.kopecks for x in lines)
    off = total * extras.order_discount_percent // 100
    if off:
        out["order_discount"] = f"{off // 100}.{off % 100:02d}"
    if extras.tenders:
        due = total - off - kopecks(points_discount)
        payments, left = [], due
        for n, (tender, share) in enumerate(extras.tenders):
            amount = left if n == len(extras.tenders) - 1 else due * share // 100
            left -= amount
            payments.append({"tender": tender, "amount": f"{amount // 100}.{amount % 100:02d}"})
        out["payments"] = payments
    return out


def body(member_id: int, lines: list[Line], **extra: Any) -> dict[str, Any]:
    """A purchase body for ``lines`` (line ids 1..n), amounts written with kopecks."""
    out = basket(
        member_id,
        *(
            (str(n), f"{x.kopecks // 100}.{x.kopecks % 100:02d}", x.category)
            for n, x in enumerate(lines, 1)
        ),
        **extra,
    )
    for raw, x in zip(out["lines"], lines, strict=True):
        raw["quantity"] = str(x.quantity)
    return out


def kopecks(money: str) -> int:
    return int(Decimal(money) * 100)


def balance(ctx: ServiceContext, program: Program, member_id: int) -> tuple[int, int, int]:
    b = members.get_balance(ctx, program, member_id)
    return (b.available, b.pending, b.held)


def per_line(receipt: dict[str, Any], key: str) -> dict[str, Any]:
    return {ln["line_id"]: ln[key] for ln in receipt["lines"]}


@pytest.fixture
def shop(
    ctx: ServiceContext, rules_program: Callable[..., Program], make_member, funded
) -> Callable[[], tuple[Program, int]]:
    """A program with :data:`RULES`; each call enrolls a fresh member with FUNDS points."""
    program = rules_program(RULES)

    def member() -> tuple[Program, int]:
        m = make_member(program)
        funded(program, m, FUNDS)
        return program, m

    return member


@PROPERTY
@given(lines=lines_strategy, percent=st.integers(0, 100), extras=extras_strategy)
def test_quote_and_commit_agree(ctx, shop, lines: list[Line], percent: int, extras: Extras) -> None:
    """A quote predicts its commit line by line, and nothing above max_redeemable is
    accepted: with conditions on the amount, quantities, negated stores and scopes, points
    per unit, a promo code, tenders and the shop's order discount."""
    program, m = shop()
    plain = with_extras(body(m, lines), lines, replace(extras, tenders=()))
    ceiling = purchases.quote(ctx, program, commands.quote(ctx, program, plain))["max_redeemable"]
    redeem = ceiling * percent // 100 // 10 * 10  # in whole steps of 10
    priced = purchases.quote(
        ctx, program, commands.quote(ctx, program, {**plain, "redeem_points": redeem})
    )
    purchase = with_extras(body(m, lines, redeem_points=redeem), lines, extras, priced["discount"])
    quote = purchases.quote(ctx, program, commands.quote(ctx, program, purchase))
    assert quote["max_redeemable"] == ceiling
    with pytest.raises(RedemptionNotAllowed):
        purchases.quote(
            ctx, program, commands.quote(ctx, program, {**purchase, "redeem_points": ceiling + 10})
        )
    event("paid with points" if redeem else "paid in money only")
    event("with payments" if extras.tenders else "without payments")
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, purchase))
    assert receipt["points_redeemed"] == redeem <= ceiling
    assert receipt["points_earned"] == quote["points_earned"]
    assert receipt["discount"] == quote["discount"]
    for key in ("points_earned", "discount", "points_redeemed"):
        assert per_line(receipt, key) == per_line(quote, key)
    assert balance(ctx, program, m) == (FUNDS - redeem + receipt["points_earned"], 0, 0)


@PROPERTY
@given(lines=lines_strategy, percent=st.integers(0, 100))
def test_discount_spreads_exactly_within_lines(ctx, shop, lines: list[Line], percent: int) -> None:
    """The points discount sums to points x point value and no line is discounted past its
    amount; lines the redemption rules exclude get none."""
    program, m = shop()
    ceiling = purchases.quote(ctx, program, commands.quote(ctx, program, body(m, lines)))[
        "max_redeemable"
    ]
    redeem = ceiling * percent // 100 // 10 * 10  # in whole steps of 10
    receipt = purchases.commit(
        ctx, program, commands.purchase(ctx, program, body(m, lines, redeem_points=redeem))
    )
    discounts = {k: kopecks(v) for k, v in per_line(receipt, "discount").items()}
    assert sum(discounts.values()) == redeem * program.point_value_minor
    assert kopecks(receipt["discount"]) == redeem * program.point_value_minor
    for n, x in enumerate(lines, 1):
        assert 0 <= discounts[str(n)] <= x.kopecks
        if x.category in ("tobacco", "gift_cards"):
            assert discounts[str(n)] == 0
    assert sum(per_line(receipt, "points_redeemed").values()) == redeem


@PROPERTY
@given(lines=lines_strategy, percent=st.integers(0, 100))
def test_full_return_restores_every_balance(ctx, shop, lines: list[Line], percent: int) -> None:
    """A purchase and then its full return leave available, pending and held as they were."""
    program, m = shop()
    before = balance(ctx, program, m)
    ceiling = purchases.quote(ctx, program, commands.quote(ctx, program, body(m, lines)))[
        "max_redeemable"
    ]
    redeem = ceiling * percent // 100 // 10 * 10  # in whole steps of 10
    purchase = body(m, lines, redeem_points=redeem)
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, purchase))
    back = purchases.process_return(
        ctx, program, commands.return_(purchase["receipt_id"], {"return_id": "all"})
    )
    assert back["points_clawed_back"] == receipt["points_earned"]
    assert back["points_restored"] == redeem
    assert balance(ctx, program, m) == before
    assert audit.verify_ledger(ctx, program.id).ok


@st.composite
def partial_returns(draw: st.DrawFn, lines: list[Line]) -> list[list[tuple[str, int]]]:
    """A full set of partial returns: every unit of every line once, in random batches."""
    units = [str(n) for n, x in enumerate(lines, 1) for _ in range(x.quantity)]
    units = draw(st.permutations(units))
    returns: list[list[tuple[str, int]]] = []
    while units:
        size = draw(st.integers(1, len(units)))
        batch, units = units[:size], units[size:]
        counts: dict[str, int] = {}
        for line_id in batch:
            counts[line_id] = counts.get(line_id, 0) + 1
        returns.append(sorted(counts.items()))
    return returns


@PROPERTY
@given(data=st.data(), lines=lines_strategy, percent=st.integers(0, 100))
def test_partial_returns_never_exceed_and_add_up_to_the_full_return(
    ctx, shop, data: st.DataObject, lines: list[Line], percent: int
) -> None:
    """Partial returns by line and quantity never claw back more than a line was awarded, and
    a full set of them claws back, restores and refunds exactly what a full return would."""
    program, m = shop()
    ceiling = purchases.quote(ctx, program, commands.quote(ctx, program, body(m, lines)))[
        "max_redeemable"
    ]
    redeem = ceiling * percent // 100 // 10 * 10  # in whole steps of 10
    purchase = body(m, lines, redeem_points=redeem)
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, purchase))
    earned = per_line(receipt, "points_earned")
    redeemed = per_line(receipt, "points_redeemed")
    discounts = per_line(receipt, "discount")
    paid = {str(n): x.kopecks - kopecks(discounts[str(n)]) for n, x in enumerate(lines, 1)}
    clawed = dict.fromkeys(earned, 0)
    restored = dict.fromkeys(earned, 0)
    refunded = dict.fromkeys(earned, 0)
    batches = data.draw(partial_returns(lines), label="returns")
    event(f"{min(len(batches), 5)}{'+' if len(batches) > 5 else ''} partial returns")
    for k, batch in enumerate(batches):
        back = purchases.process_return(
            ctx,
            program,
            commands.return_(
                purchase["receipt_id"],
                {
                    "return_id": f"r{k}",
                    "lines": [{"line_id": i, "quantity": str(q)} for i, q in batch],
                },
            ),
        )
        for ln in back["lines"]:
            clawed[ln["line_id"]] += ln["points_clawed_back"]
            restored[ln["line_id"]] += ln["points_restored"]
            refunded[ln["line_id"]] += kopecks(ln["refund"])
        assert all(0 <= clawed[i] <= earned[i] for i in earned)
        assert all(0 <= restored[i] <= redeemed[i] for i in redeemed)
    assert clawed == earned
    assert restored == redeemed
    assert refunded == paid
    assert balance(ctx, program, m) == (FUNDS, 0, 0)
    assert audit.verify_ledger(ctx, program.id).ok
