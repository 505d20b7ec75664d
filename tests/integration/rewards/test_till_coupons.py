"""Coupons at the till through the services, on both databases: the quote shows each
coupon's discount spread over its lines to the kopeck, the commit marks it used in the
purchase's transaction (a replay changes nothing), a return gives it back or not by the
program's setting, and every refusal is 422 coupon_invalid with nothing written."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from kopilka.domain.errors import CouponInvalid, KopilkaError
from kopilka.domain.rewards import CouponKind, CouponTerms, RewardKind, Validity
from kopilka.services import purchases, rewards
from kopilka.services.context import ServiceContext
from kopilka.services.rewards import RedeemReward
from kopilka.store.db import make_engine
from kopilka.store.repos.coupon_policy import CouponPolicyRepo
from kopilka.store.tables import issued_rewards
from kopilka.store.tables import purchases as purchases_table
from tests import commands

from .conftest import a_coupon, a_reward


def _issue(ctx, program, member_id, reward_id) -> str:
    key = f"r-{uuid.uuid4().hex}"
    done = rewards.redeem_reward(ctx, program, RedeemReward(member_id, reward_id, key=key))
    return done["issued"]["code"]


def _body(member_id, *lines, **more):
    return {
        "receipt_id": more.pop("receipt_id", f"C-{uuid.uuid4().hex[:10]}"),
        "member_id": member_id,
        "lines": [
            {"line_id": lid, "sku": f"S{lid}", "amount": amount, "category": cat}
            for lid, amount, cat in lines
        ],
        **more,
    }


DAIRY = (("1", "333.33", "dairy"), ("2", "333.33", "dairy"), ("3", "333.34", "dairy"))


def _status(ctx, code) -> str:
    with ctx.uow(read_only=True) as uow:
        return uow.conn.execute(
            select(issued_rewards.c.status).where(issued_rewards.c.code == code)
        ).scalar_one()


def test_quote_and_commit_spread_the_coupon_exactly_and_mark_it_used(
    ctx, program, add_reward, member
):
    """A 10 % dairy coupon on 1000.00 of dairy and 200.00 of bread: 100.00 spread over the
    dairy lines to the kopeck, the quote and the commit agree, the points earn on what is
    left, the coupon is used once; a replay of the receipt changes nothing."""
    coupon = add_reward(a_coupon(points=10))
    m = member()
    code = _issue(ctx, program, m, coupon["id"])
    body = _body(m, *DAIRY, ("4", "200.00", "bread"), coupons=[code])
    quoted = purchases.quote(ctx, program, commands.quote(ctx, program, body))
    [applied] = quoted["coupons"]
    assert applied["discount"] == "100.00"
    assert applied["lines"] == {"1": "33.33", "2": "33.33", "3": "33.34"}
    booked = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert booked["coupons"] == quoted["coupons"]
    assert booked["total"] == "1100.00"
    assert booked["points_earned"] == quoted["points_earned"] == 11  # 1 per 100 of 1100.00
    assert _status(ctx, code) == "used"
    again = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert again == booked
    with pytest.raises(CouponInvalid) as used:
        purchases.commit(
            ctx, program, commands.purchase(ctx, program, {**body, "receipt_id": "C-other"})
        )
    assert used.value.details["reason"] == "used"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown", "unknown"),
        ("bad_check", "check"),
        ("other_member", "other_member"),
        ("expired", "expired"),
        ("min_basket", "min_basket"),
        ("no_lines", "no_lines"),
        ("twice", "duplicate"),
    ],
)
def test_refusals_are_422_with_a_reason_and_write_nothing(
    ctx, clock, program, add_reward, member, case, reason
):
    """Each way a coupon cannot be used is coupon_invalid with its reason; the purchase
    is not written and the coupon stays issued."""
    coupon = add_reward(a_coupon(points=10, validity=Validity(valid_days=3)))
    m, other = member(), member()
    code = _issue(ctx, program, m, coupon["id"])
    lines = DAIRY
    codes = [code]
    if case == "unknown":
        codes = ["NOSUCH-1"]  # no check character: looked up as a partner code
    elif case == "bad_check":
        codes = [code[:-1] + ("A" if code[-1] != "A" else "B")]
    elif case == "other_member":
        m = other
    elif case == "expired":
        clock.advance(timedelta(days=4))
    elif case == "min_basket":
        lines = (("1", "499.99", "dairy"),)
    elif case == "no_lines":
        lines = (("1", "600.00", "bread"),)
    elif case == "twice":
        codes = [code, code.lower()]
    body = _body(m, *lines, coupons=codes)
    with ctx.uow(read_only=True) as uow:
        before = uow.conn.execute(select(func.count()).select_from(purchases_table)).scalar()
    for call in (
        lambda: purchases.quote(ctx, program, commands.quote(ctx, program, body)),
        lambda: purchases.commit(ctx, program, commands.purchase(ctx, program, body)),
    ):
        with pytest.raises(CouponInvalid) as refused:
            call()
        assert refused.value.code == "coupon_invalid"
        assert refused.value.details["reason"] == reason
    with ctx.uow(read_only=True) as uow:
        after = uow.conn.execute(select(func.count()).select_from(purchases_table)).scalar()
    assert after == before
    assert _status(ctx, code) == "issued"


@pytest.mark.parametrize("give_back", [True, False])
def test_return_of_the_coupon_lines_gives_it_back_by_setting(
    ctx, program, add_reward, member, give_back
):
    """Returning some of the coupon's lines keeps it used; returning the last of them gives
    it back when the program says so; the refund is net of the coupon's parts."""
    coupon = add_reward(a_coupon(points=10))
    m = member()
    code = _issue(ctx, program, m, coupon["id"])
    with ctx.uow() as uow:
        CouponPolicyRepo(uow.conn).set_back_on_return(program.id, give_back, ctx.now())
        uow.commit()
    body = _body(m, *DAIRY, ("4", "200.00", "bread"), coupons=[code])
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    first = purchases.process_return(
        ctx,
        program,
        commands.return_(body["receipt_id"], {"return_id": "a", "lines": [{"line_id": "1"}]}),
    )
    assert first["refund"] == "300.00"  # 333.33 less its 33.33
    assert "coupons_given_back" not in first
    assert _status(ctx, code) == "used"
    rest = purchases.process_return(
        ctx,
        program,
        commands.return_(
            body["receipt_id"],
            {"return_id": "b", "lines": [{"line_id": "2"}, {"line_id": "3"}]},
        ),
    )
    assert rest["refund"] == "600.00"
    assert rest.get("coupons_given_back", []) == ([code] if give_back else [])
    assert _status(ctx, code) == ("issued" if give_back else "used")


PERCENT_DAIRY = (RewardKind.COUPON, CouponTerms(CouponKind.PERCENT, 10, 50_000, ("dairy",)))
VOUCHER_150 = (RewardKind.VOUCHER, CouponTerms(CouponKind.FIXED, 15_000))
KOPECK_ON_DAIRY = (RewardKind.COUPON, CouponTerms(CouponKind.FIXED, 1, 0, ("dairy",)))
VOUCHER_100 = (RewardKind.VOUCHER, CouponTerms(CouponKind.FIXED, 10_000))

# (case, coupons in the order given, lines (id, sku, amount, category), points paid,
#  expected: each coupon's parts by line, then by line: the points discount, the points
#  paid, the points earned (1 per full 100.00 left to pay), then the total and to pay).
# Every figure is worked out by hand: a coupon's parts in proportion to its lines'
# amounts, the points discount in proportion to what the coupons left, the points paid in
# proportion to the points discount, the points earned over what is left to pay; each
# remainder unit to the largest remainder, a tie to the line first by SKU (never by id).
SPREAD_CASES = [
    (
        "10 % on dairy, then 333 points over every line",
        [PERCENT_DAIRY],
        [
            ("1", "S1", "333.33", "dairy"),
            ("2", "S2", "333.33", "dairy"),
            ("3", "S3", "333.34", "dairy"),
            ("4", "S4", "200.00", "bread"),
        ],
        333,
        [{"1": "33.33", "2": "33.33", "3": "33.34"}],
        {
            "1": ("90.82", 91, 2),
            "2": ("90.82", 91, 2),
            "3": ("90.82", 91, 2),
            "4": ("60.54", 60, 1),
        },
        ("1100.00", "767.00"),
    ),
    (
        "a 150.00 voucher over every line, then 200 points",
        [VOUCHER_150],
        [
            ("1", "S1", "100.01", "dairy"),
            ("2", "S2", "250.00", "bread"),
            ("3", "S3", "49.99", "fruit"),
        ],
        200,
        [{"1": "37.50", "2": "93.75", "3": "18.75"}],
        {"1": ("50.01", 50, 0), "2": ("125.00", 125, 0), "3": ("24.99", 25, 0)},
        ("250.00", "50.00"),
    ),
    (
        "a kopeck on dairy (a tie: to SKU A, line 9), a 100.00 voucher, then 100 points",
        [KOPECK_ON_DAIRY, VOUCHER_100],
        [
            ("9", "A", "100.00", "dairy"),
            ("1", "B", "100.00", "dairy"),
            ("5", "C", "100.01", "bread"),
        ],
        100,
        [{"9": "0.01"}, {"9": "33.33", "1": "33.33", "5": "33.34"}],
        {"9": ("33.33", 33, 0), "1": ("33.34", 34, 0), "5": ("33.33", 33, 1)},
        ("200.00", "100.00"),
    ),
]


@pytest.mark.parametrize(
    ("coupons", "lines", "points", "parts", "by_line", "totals"),
    [c[1:] for c in SPREAD_CASES],
    ids=[c[0] for c in SPREAD_CASES],
)
def test_coupons_and_points_on_one_basket_spread_exactly(
    ctx, program, add_reward, member, coupons, lines, points, parts, by_line, totals
):
    """Coupons (one after another) and the points discount on one basket: each coupon's
    parts, each line's points discount, points paid and points earned are the kopeck and
    the point worked out by hand; the quote says the same as the purchase."""
    m = member(balance=1000)
    codes = [
        _issue(ctx, program, m, add_reward(a_reward(kind=kind, points=10, coupon=terms))["id"])
        for kind, terms in coupons
    ]
    body = {
        "receipt_id": f"S-{uuid.uuid4().hex[:10]}",
        "member_id": m,
        "lines": [
            {"line_id": lid, "sku": sku, "amount": amount, "category": cat}
            for lid, sku, amount, cat in lines
        ],
        "coupons": codes,
        "redeem_points": points,
    }
    quoted = purchases.quote(ctx, program, commands.quote(ctx, program, body))
    booked = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert [c["lines"] for c in booked["coupons"]] == [dict(sorted(p.items())) for p in parts]
    for c in booked["coupons"]:
        assert sum(Decimal(v) for v in c["lines"].values()) == Decimal(c["discount"])
    got = {
        ln["line_id"]: (ln["discount"], ln["points_redeemed"], ln["points_earned"])
        for ln in booked["lines"]
    }
    assert got == by_line
    assert (booked["total"], booked["to_pay"]) == totals
    assert booked["points_redeemed"] == points
    assert booked["discount"] == f"{points}.00"  # a point is 1.00
    assert booked["points_earned"] == sum(e for _, _, e in by_line.values())
    assert quoted["coupons"] == booked["coupons"]
    assert [(q["line_id"], q["discount"], q["points_earned"]) for q in quoted["lines"]] == [
        (b["line_id"], b["discount"], b["points_earned"]) for b in booked["lines"]
    ]


RACERS = 8


def test_one_coupon_in_simultaneous_purchases_is_used_once(
    backend, ctx, clock, program, add_reward, member
):
    """Eight purchases carrying the same coupon, released together by a barrier: exactly
    one is booked with its discount, seven are refused coupon_invalid (used) and wrote
    nothing (on PostgreSQL the coupon's row lock, and the member's, decide; on SQLite the
    one writer)."""
    coupon = add_reward(a_coupon(points=10))
    m = member()
    code = _issue(ctx, program, m, coupon["id"])
    engine = make_engine(backend, pool_size=RACERS)  # a connection for every thread
    racing = ServiceContext(engine, clock)
    barrier = threading.Barrier(RACERS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(n: int) -> None:
        body = _body(m, *DAIRY, receipt_id=f"race-{n}", coupons=[code])
        command = commands.purchase(racing, program, body)
        barrier.wait()
        try:
            purchases.commit(racing, program, command)
            result = "booked"
        except KopilkaError as err:
            result = f"{err.code}:{err.details.get('reason')}"
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes == {"booked": 1, "coupon_invalid:used": RACERS - 1}
    with ctx.uow(read_only=True) as uow:
        booked = uow.conn.execute(
            select(func.count())
            .select_from(purchases_table)
            .where(purchases_table.c.program_id == program.id)
        ).scalar()
    engine.dispose()
    assert booked == 1
    assert _status(ctx, code) == "used"
