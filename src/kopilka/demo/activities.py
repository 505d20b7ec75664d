"""What demo members do over time: enroll, shop, pay with points, return, get corrections.

Each activity schedules one member's events; the timeline step runs all members' events
in time order with the clock at each event's time. Amounts follow a Russian grocery
chain: baskets around 1,500 RUB, 5% back in points, up to 30% of a basket paid in points.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kopilka.demo.builder import Action, Demo
from kopilka.demo.people import Person
from kopilka.domain.errors import KopilkaError, NotFoundError
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc

EARN_RATE = Decimal("0.05")
PAY_SHARES = (Decimal("0.1"), Decimal("0.2"), Decimal("0.3"))
SUPPORT_AGENTS = ("support:o.smirnova", "support:d.volkov", "support:a.petrova")
Events = Iterator[tuple[datetime, Action]]


def apply(
    demo: Demo, person: Person, kind: str, call: Callable[[], dict[str, Any]]
) -> dict[str, Any] | None:
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
            member = member_svc.enroll(
                d.ctx,
                d.prog,
                person.identifiers,
                profile=person.profile,
                consents=person.consents,
                channel="till",
            )
            person.member_id = member.id
            d.stats["members enrolled"] += 1

    yield person.enrolled_at, enroll


def shopping(demo: Demo, person: Person, rng: random.Random) -> Events:
    """Visits: earn on each receipt, sometimes pay part with points, now and then return."""
    mean_gap_days = rng.choice((21, 30, 45, 60, 90, 120))
    at = person.enrolled_at + timedelta(hours=rng.uniform(0.1, 48))
    visit = 0
    while at < demo.end:
        visit += 1
        receipt = f"R{person.number:05d}-{visit:04d}"
        basket = Decimal(str(round(rng.lognormvariate(7.2, 0.6), 2)))
        if rng.random() < 0.22:
            share = rng.choice(PAY_SHARES)
            yield at, _pay(person, receipt, int(basket * share), rng.random() < 0.6, rng.random())
        yield at + timedelta(minutes=2), _earn(person, receipt, basket)
        if rng.random() < 0.04:
            back = at + timedelta(days=rng.uniform(1, 12))
            if back < demo.end:
                yield back, _return(person, receipt, rng.random())
        at += timedelta(days=rng.expovariate(1 / mean_gap_days) + 0.2)


def _earn(person: Person, receipt: str, basket: Decimal) -> Action:
    def earn(d: Demo) -> None:
        points = int(basket * EARN_RATE)
        result = apply(
            d,
            person,
            "earnings",
            lambda: points_svc.earn(
                d.ctx,
                d.prog,
                person.member_id,
                points,
                key=d.key(receipt, "earn"),
                reference=receipt,
                reason=f"purchase {basket} RUB, 5% back",
            ),
        )
        if result:
            person.earnings[receipt] = (int(result["entry_id"]), points)

    return earn


def _pay(person: Person, receipt: str, want: int, at_till: bool, luck: float) -> Action:
    """Pay part of a basket with points: hold and capture at the till, or redeem online."""

    def pay(d: Demo) -> None:
        points = min(want, person.available)
        if points < 50:
            return
        if not at_till:
            result = apply(
                d,
                person,
                "redemptions",
                lambda: points_svc.redeem(
                    d.ctx,
                    d.prog,
                    person.member_id,
                    points,
                    key=d.key(receipt, "redeem"),
                    reference=receipt,
                ),
            )
            if result:
                person.spendings[receipt] = (int(result["entry_id"]), points)
            return
        held = apply(
            d,
            person,
            "holds",
            lambda: points_svc.hold(
                d.ctx,
                d.prog,
                person.member_id,
                points,
                key=d.key(receipt, "hold"),
                reference=receipt,
            ),
        )
        if not held or held.get("hold_id") is None:
            return
        hold_id = int(held["hold_id"])
        d.clock.advance(timedelta(seconds=40))
        if luck < 0.08:  # the customer changed their mind at the till
            apply(
                d,
                person,
                "holds voided",
                lambda: points_svc.void(d.ctx, d.prog, hold_id, key=d.key(receipt, "void")),
            )
            return
        part = points if luck < 0.9 else points // 2  # an item was taken off the basket
        captured = apply(
            d,
            person,
            "holds captured",
            lambda: points_svc.capture(
                d.ctx, d.prog, hold_id, key=d.key(receipt, "capture"), points=part
            ),
        )
        if captured:
            person.spendings[receipt] = (int(captured["entry_id"]), part)

    return pay


def _return(person: Person, receipt: str, share: float) -> Action:
    """Goods come back: the points earned on them are clawed back, points paid restored."""

    def give_back(d: Demo) -> None:
        whole = share < 0.5
        for kind, movement in (
            ("returns: earned clawed back", person.earnings.get(receipt)),
            ("returns: spent restored", person.spendings.get(receipt)),
        ):
            if movement is not None:
                entry_id, points = movement
                back = points if whole else max(1, int(points * share))
                apply(d, person, kind, _reverse(d, receipt, entry_id, back, whole))

    return give_back


def _reverse(
    d: Demo, receipt: str, entry_id: int, points: int, whole: bool
) -> Callable[[], dict[str, Any]]:
    return lambda: points_svc.reverse(
        d.ctx,
        d.prog,
        entry_id,
        key=d.key(receipt, "return", entry_id),
        points=points,
        reason="goods returned" if whole else "part of the goods returned",
        actor="till",
    )


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
            lambda: points_svc.adjust(
                d.ctx,
                d.prog,
                person.member_id,
                amount if goodwill else -amount,
                key=d.key(person.number, "adjust"),
                reason="goodwill: damaged goods delivered"
                if goodwill
                else "correction: receipt scanned twice",
                actor=agent,
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
                person.member_id,
                min(person.available, 150),
                key=d.key(person.number, "abandoned-hold"),
                reference="till offline",
            ),
        )

    yield at, hold


ACTIVITIES = [enrollment, shopping, support, abandoned_holds]
"""Every member's activities; append one to add behaviour to the demo timeline."""
