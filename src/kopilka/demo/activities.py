"""What demo members do over time: enroll, shop, pay with points, return, get corrections.

Each activity schedules one member's events; the timeline step runs all members' events
in time order with the clock at each event's time. Baskets are 3-10 products of a
Russian grocery chain, booked through the published rules document; some are paid
partly with points.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from kopilka.demo.catalogue import STORES, basket_lines
from kopilka.demo.model import Action, Demo
from kopilka.demo.people import Person
from kopilka.domain.basket import Basket, BasketLine, Channel
from kopilka.domain.errors import KopilkaError, NotFoundError
from kopilka.domain.money import parse_money
from kopilka.services import back_office, events, purchases
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc
from kopilka.services.member_lookup import MemberRef
from kopilka.services.points import Adjust, PlaceHold

PAY_SHARES = (Decimal("0.1"), Decimal("0.2"), Decimal("0.3"))
SUPPORT_AGENTS = ("support:o.smirnova", "support:d.volkov", "support:a.petrova")
Events = Iterator[tuple[datetime, Action]]
R = TypeVar("R", bound=Mapping[str, Any])


def apply(demo: Demo, person: Person, kind: str, call: Callable[[], R]) -> R | None:
    """Run a point movement and count it; a refusal (not enough points...) is counted too."""
    try:
        result = call()
    except KopilkaError as e:
        demo.stats[f"declined ({e.code})"] += 1
        return None
    person.available = int(result["balance"]["available"])
    demo.stats[kind] += 1
    return result


def enrollment(demo: Demo, person: Person, _rng: random.Random) -> Events:
    """The member joins at the till (or, on a rerun, is found by card)."""

    def enroll(d: Demo) -> None:
        try:
            person.member_id = member_svc.lookup(d.ctx, d.prog, "card", person.card).id
            d.stats["members found"] += 1
        except NotFoundError:
            member = member_svc.enroll(d.ctx, d.prog, person.enrollment("till"))
            person.member_id = member.id
            d.stats["members enrolled"] += 1

    yield person.enrolled_at, enroll


def shopping(demo: Demo, person: Person, rng: random.Random) -> Events:
    """Visits: a basket booked through the rules engine; sometimes paid partly with points
    (a hold captured at the till, or points at checkout online); now and then a return."""
    mean_gap_days = rng.choice((14, 21, 30, 45, 60, 90))
    at = person.enrolled_at + timedelta(hours=rng.uniform(0.1, 48))
    visit = 0
    while at < demo.end:
        visit += 1
        receipt = f"R{person.number:05d}-{visit:04d}"
        store = rng.choice(STORES)
        body: dict[str, Any] = {
            "receipt_id": receipt,
            "lines": basket_lines(rng),
            "store": store,
            "channel": "web" if store == "ONLINE" else rng.choice(("till", "till", "app")),
            "payment_method": rng.choice(("card", "card", "cash", "sbp")),
        }
        pay_share = rng.choice(PAY_SHARES) if rng.random() < 0.22 else None
        yield at, _purchase(person, body, pay_share)
        if rng.random() < 0.05:
            back = at + timedelta(days=rng.uniform(1, 12))
            if back < demo.end:
                yield back, _return(person, receipt, rng.random())
        at += timedelta(days=rng.expovariate(1 / mean_gap_days) + 0.2)


def _purchase(person: Person, body: dict[str, Any], pay_share: Decimal | None) -> Action:
    def buy(d: Demo) -> None:
        earlier = purchases.booked_answer(d.ctx, d.prog, body["receipt_id"])
        if earlier is not None:
            # a rerun: the purchase as the first run booked it. Its quote would now see
            # the member's balance of today, and could reserve points the first run did
            # not (a hold left to time out: the rerun would not add nothing)
            _booked(d, person, body["receipt_id"], apply(d, person, "purchases", lambda: earlier))
            return
        member = MemberRef(member_id=person.member_id)
        data: dict[str, Any] = {}
        if pay_share is not None and person.available >= 50:
            asked = purchases.QuotePurchase(member, _basket(d, body))
            quote = purchases.quote(d.ctx, d.prog, asked)
            points = min(int(quote["max_redeemable"]), int(person.available * pay_share * 3))
            points -= points % 10
            if points >= 50:
                data["redeem_points"] = points
                if body["channel"] != "web":  # the till reserves the points first
                    held = apply(
                        d,
                        person,
                        "holds",
                        lambda: points_svc.hold(
                            d.ctx,
                            d.prog,
                            PlaceHold(
                                person.member_id,
                                points,
                                key=d.key(body["receipt_id"], "hold"),
                                reference=body["receipt_id"],
                            ),
                        ),
                    )
                    if held is None:
                        del data["redeem_points"]
                    else:
                        data["hold_id"] = held["hold_id"]
                        d.clock.advance(timedelta(seconds=40))
        cmd = purchases.BookPurchase(  # as of now: the till may have waited for the hold
            body["receipt_id"],
            member,
            _basket(d, body),
            redeem_points=data.get("redeem_points", 0),
            hold_id=data.get("hold_id"),
        )
        receipt = apply(d, person, "purchases", lambda: purchases.commit(d.ctx, d.prog, cmd))
        _booked(d, person, body["receipt_id"], receipt)

    return buy


def _basket(d: Demo, body: dict[str, Any]) -> Basket:
    """The basket of a visit, built from the catalogue's lines as of the demo's clock."""
    currency = d.prog.currency
    return Basket(
        lines=tuple(
            BasketLine(
                ln["line_id"],
                ln["sku"],
                Decimal(ln["quantity"]),
                parse_money(ln["amount"], currency),
                ln["category"],
                ln["brand"],
                ln["discounted"],
            )
            for ln in body["lines"]
        ),
        occurred_at=d.ctx.now(),
        store=body["store"],
        channel=Channel(body["channel"]),
        payment_method=body["payment_method"],
    )


def _booked(
    d: Demo, person: Person, receipt_id: str, receipt: purchases.PurchaseBooked | None
) -> None:
    if receipt and receipt["points_redeemed"]:
        d.stats["purchases paid partly with points"] += 1
    if receipt:
        person.receipts[receipt_id] = [ln["line_id"] for ln in receipt["lines"]]


def _return(person: Person, receipt: str, share: float) -> Action:
    """Goods come back: points earned on the returned lines are clawed back and points
    paid for them restored, exactly as stored on the receipt."""

    def give_back(d: Demo) -> None:
        lines = person.receipts.get(receipt)
        if not lines:
            return
        some = None
        if share >= 0.4:  # part of the basket: one line comes back
            some = (purchases.ReturnLine(lines[int(share * 100) % len(lines)]),)
        cmd = purchases.ProcessReturn(receipt, "1", some)
        apply(
            d,
            person,
            "returns" if some is None else "returns of one line",
            lambda: purchases.process_return(d.ctx, d.prog, cmd),
        )

    return give_back


def reviews(demo: Demo, person: Person, rng: random.Random) -> Events:
    """Some members write reviews (with photos now and then) and earn event points."""
    if rng.random() >= 0.25:
        return
    for n in range(rng.randint(1, 4)):
        at = person.enrolled_at + (demo.end - person.enrolled_at) * rng.uniform(0.05, 0.99)
        photos = rng.random() < 0.3

        def review(d: Demo, n: int = n, photos: bool = photos) -> None:
            apply(
                d,
                person,
                "reviews",
                lambda: events.record_event(
                    d.ctx,
                    d.prog,
                    events.RecordEvent(
                        f"review-{person.number}-{n}",
                        "review",
                        MemberRef(member_id=person.member_id),
                        {"with_photos": photos},
                    ),
                ),
            )

        yield at, review


def support(demo: Demo, person: Person, rng: random.Random) -> Events:
    """A few members get a manual correction from support, with a reason."""
    if rng.random() >= 0.08:
        return
    at = person.enrolled_at + (demo.end - person.enrolled_at) * rng.uniform(0.2, 0.95)
    agent = rng.choice(SUPPORT_AGENTS)
    goodwill = rng.random() < 0.75
    amount = rng.choice((50, 100, 200, 300)) if goodwill else rng.choice((20, 50, 100))

    def adjust(d: Demo) -> None:
        if not goodwill and person.available < amount:
            return
        apply(
            d,
            person,
            "adjustments",
            # audited, as every back-office write
            lambda: back_office.adjust(
                d.ctx,
                d.prog,
                Adjust(
                    person.member_id,
                    amount if goodwill else -amount,
                    key=d.key(person.number, "adjust"),
                    reason="goodwill: damaged goods delivered"
                    if goodwill
                    else "correction: receipt scanned twice",
                    actor=agent,
                ),
            ),
        )

    yield at, adjust


def abandoned_holds(demo: Demo, person: Person, rng: random.Random) -> Events:
    """Now and then a till reserves points and never finishes: the hold times out."""
    if rng.random() >= 0.05:
        return
    at = person.enrolled_at + (demo.end - person.enrolled_at) * rng.uniform(0.3, 0.99)

    def hold(d: Demo) -> None:
        if person.available < 50:
            return
        apply(
            d,
            person,
            "holds left to time out",
            lambda: points_svc.hold(
                d.ctx,
                d.prog,
                PlaceHold(
                    person.member_id,
                    min(person.available, 150),
                    key=d.key(person.number, "abandoned-hold"),
                    reference="till offline",
                ),
            ),
        )

    yield at, hold


ACTIVITIES = [enrollment, shopping, reviews, support, abandoned_holds]
"""Every member's activities; append one to add behaviour to the demo timeline."""
