"""The ledger against a reference model, under random sequences of every operation.

Each example opens its own program (random policies, random reward refund settings),
enrolls members and runs a random sequence of earn / activate / redeem / hold / capture /
void / hold timeout / reverse / expire / adjust / block / reward redemption / reward
cancellation (refunded or not) / reward expiry (refunded or not) / the birthday bonus job /
a purchase at the till with discount coupons and points (quoted, then committed) / its
return (the coupon given back or not by the program's setting), replays and conflicting
reuses of idempotency keys, and clock jumps forwards and backwards. After every step
``kopilka verify`` must be clean, every member's balances must equal the model's and every
issued reward's status (issued, used, cancelled, expired) the model's; every business error
must be one the model predicted (with its reason, where the model gives one).
"""

from __future__ import annotations

import copy
import itertools
import os
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select, update

from kopilka.api.schemas.purchases import PurchaseCreate
from kopilka.domain.clock import FrozenClock
from kopilka.domain.errors import (
    CouponInvalid,
    IdempotencyConflict,
    InsufficientPoints,
    IssuedRewardNotActive,
    KopilkaError,
    MemberBlocked,
    RedemptionNotAllowed,
    ReversalExceeded,
    RewardUnavailable,
)
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.program import Program
from kopilka.domain.reminders import is_birthday, local_day
from kopilka.domain.rewards import CouponKind, CouponTerms, Reward, RewardKind, Text, Validity
from kopilka.ledger.sweeps import BATCH
from kopilka.services import (
    audit,
    birthday_bonus,
    events,
    jobs,
    outbox,
    points,
    purchases,
    rewards,
    till_coupons,
)
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services import rules as rules_svc
from kopilka.services.balance_view import balance_view
from kopilka.services.context import ServiceContext
from kopilka.services.events import RecordEvent
from kopilka.services.member_lookup import MemberRef
from kopilka.services.points import (
    Adjust,
    Capture,
    Earn,
    PlaceHold,
    Redeem,
    Reverse,
    VoidHold,
)
from kopilka.services.purchases import ProcessReturn, ReturnLine
from kopilka.services.rewards import CancelIssued, RedeemReward
from kopilka.store.tables import issued_rewards, journal_entries, members
from tests import commands
from tests.conftest import START, engine_for
from tests.integration.ledger.reference import MEntry, ReferenceLedger
from tests.program_spec import program_command

# the outbox event each operation that succeeded writes (docs/events.md)
EVENT_OF = {
    "adjust": "points.adjusted",
    "capture": "hold.captured",
    "void": "hold.voided",
    "earn": "points.earned",
    "record_event": "points.earned",  # the machine's event rules give one award each
    "redeem": "points.redeemed",
    "hold": "hold.placed",
    "redeem_reward": "reward.issued",
    "cancel_reward": "reward.cancelled",
    "till_purchase": "purchase.committed",
    "process_return": "purchase.returned",
}

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

EXPIRY = st.sampled_from(
    [
        ("never", 0),
        ("days", 1),
        ("days", 30),
        ("months_end", 1),
        ("months_end", 12),
        ("year_end", 1),
    ]
)
PROGRAM_SPECS = st.builds(
    lambda expiry, **rest: {"expiry_kind": expiry[0], "expiry_n": expiry[1], **rest},
    expiry=EXPIRY,
    activation_delay_days=st.sampled_from([0, 0, 1, 14]),
    negative_balance=st.sampled_from(["forgive", "debt"]),
    restore_policy=st.sampled_from(["expire", "reissue"]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/Santiago"]),
    hold_ttl_seconds=st.sampled_from([60, 900]),
    expiry_from=st.sampled_from(["earning", "activation"]),
)
# events whose rules carry their own expiry (rules21b): type -> (points, the rule's expiry)
OWN_EXPIRY = {
    "promo_days": (25, ExpiryPolicy(ExpiryKind.DAYS, 7)),
    "promo_month": (40, ExpiryPolicy(ExpiryKind.MONTHS_END, 0)),
    "promo_quarter": (15, ExpiryPolicy(ExpiryKind.MONTHS_END, 3)),
}
OWN_EXPIRY_RULES = """\
rules:
  - {id: promo-days, kind: event, event: promo_days, points: 25, expires: {days: 7}}
  - {id: promo-month, kind: event, event: promo_month, points: 40, expires: {end_of: month}}
  - {id: promo-quarter, kind: event, event: promo_quarter, points: 15, expires: {months: 3}}
  - {id: birthday-gift, kind: event, event: birthday, points: 20, expires: {days: 7}}
"""
# and purchases at the till earn 1 point per full 100.00 of what is left to pay (after the
# coupons and the points), so the model computes a purchase's points exactly
MACHINE_RULES = OWN_EXPIRY_RULES + '  - {id: till, kind: rate, rate: {points: 1, per: "100"}}\n'
TILL_RATE_MINOR = 10_000
POINT_MINOR = 100  # the program's point value (program_command's default)
# the birthday bonus's rule above: its points and expiry
BIRTHDAY_GIFT = (20, ExpiryPolicy(ExpiryKind.DAYS, 7))
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)  # in force before any clock jump backwards
FORWARD = st.one_of(
    st.sampled_from([MINUTE, 15 * MINUTE, HOUR, DAY, 14 * DAY, 31 * DAY, 92 * DAY, 366 * DAY]),
    st.integers(60, 200 * 86400).map(lambda s: timedelta(seconds=s)),
)
BACKWARD = st.sampled_from([MINUTE, HOUR, DAY, 10 * DAY, 40 * DAY])
HOLD_TTLS = st.sampled_from([30, 900, 86400])
BATCHES = st.sampled_from([1, 2, BATCH])  # tiny batches split a sweep into many transactions
WELCOME = st.integers(1, 1000)
EDGES = st.sampled_from([timedelta(seconds=-1), timedelta(0), timedelta(seconds=1)])
# the catalog's discount coupon (one kind per example): its kind, terms and validity
COUPONS = st.sampled_from(
    [
        (
            RewardKind.COUPON,
            CouponTerms(CouponKind.PERCENT, 10, 50_000, ("dairy",)),
            Validity(valid_days=3),
        ),
        (RewardKind.COUPON, CouponTerms(CouponKind.PERCENT, 25), Validity(HOUR, valid_days=7)),
        (RewardKind.COUPON, CouponTerms(CouponKind.FIXED, 15_000, 100_000), Validity(valid_days=3)),
        (RewardKind.VOUCHER, CouponTerms(CouponKind.FIXED, 20_000), Validity(HOUR, valid_days=7)),
    ]
)
# a till's basket: 1-3 lines of (amount in kopecks, category), about the coupons' minimums
BASKETS = st.lists(
    st.tuples(
        st.sampled_from([4_999, 33_333, 50_000, 120_001, 250_000]),
        st.sampled_from(["dairy", "bread"]),
    ),
    min_size=1,
    max_size=3,
).map(tuple)

Outcome = dict[str, Any] | KopilkaError


@dataclass
class Request:
    """A request sent under an idempotency key, and what it answered."""

    service: Callable[..., dict[str, Any]]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outcome: Outcome
    # a different request under the same key: changed keyword arguments, or another call
    variant: dict[str, Any] | Callable[[str], Any] = field(default_factory=dict)

    def repeat(self, ctx: ServiceContext, program: Program) -> Outcome:
        try:
            return self.service(ctx, program, COMMANDS[self.service](*self.args, **self.kwargs))
        except KopilkaError as err:
            return err

    def conflicting(self, ctx: ServiceContext, program: Program) -> Any:
        if callable(self.variant):
            return self.variant(self.kwargs["key"])
        command = COMMANDS[self.service](*self.args, **{**self.kwargs, **self.variant})
        return self.service(ctx, program, command)


def minor(money: str) -> int:
    """An amount as a purchase answers it (``"1100.00"``) in kopecks."""
    return int(Decimal(money) * 100)


def _event(member_id: int, *, key: str, type: str) -> RecordEvent:
    """The event command a request's arguments make (its key is the event id)."""
    return RecordEvent(key, type, MemberRef(member_id=member_id))


def redeem_reward(ctx: ServiceContext, program: Program, cmd: RedeemReward) -> dict[str, Any]:
    """A redemption's answer in the shape ``send`` reads (member, entry, balances)."""
    out = rewards.redeem_reward(ctx, program, cmd)
    issued = out["issued"]
    return {
        "member_id": issued["member_id"],
        "entry_id": issued["entry_id"],
        "issued_id": issued["id"],
        "code": issued["code"],
        "balance": dict(out["balance"]),
    }


def cancel_reward(ctx: ServiceContext, program: Program, cmd: CancelIssued) -> dict[str, Any]:
    """A cancellation's answer in the shape ``send`` reads (the refund entry, if any)."""
    out = rewards.cancel_issued(ctx, program, cmd)
    return {
        "member_id": out["issued"]["member_id"],
        "entry_id": out["refund_entry_id"],
        "balance": dict(out["balance"]),
    }


@dataclass
class MIssued:
    """An issued reward as the machine expects it (a coupon: its code, terms, and when it
    becomes usable)."""

    entry_id: int
    member: int
    reward: int
    expires_at: datetime
    status: str = "issued"
    code: str = ""
    terms: CouponTerms | None = None
    valid_from: datetime = LONG_AGO


@dataclass(frozen=True)
class TillPurchase:
    """A purchase the till books (``key``: its receipt id): lines of (kopecks, category),
    coupon codes, points to pay, stamped ``at`` (so a replay sends the same basket)."""

    member_id: int
    key: str
    lines: tuple[tuple[int, str], ...]
    coupons: tuple[str, ...]
    redeem_points: int
    at: datetime

    def body(self) -> dict[str, Any]:
        """The request as the API takes it (POST /v1/purchases)."""
        return {
            "receipt_id": self.key,
            "member_id": self.member_id,
            "lines": [
                {
                    "line_id": str(n),
                    "sku": f"S{n}",
                    "amount": f"{a // 100}.{a % 100:02d}",
                    "category": cat,
                }
                for n, (a, cat) in enumerate(self.lines, 1)
            ],
            "coupons": list(self.coupons),
            "redeem_points": self.redeem_points,
        }


def till_purchase(ctx: ServiceContext, program: Program, cmd: TillPurchase) -> dict[str, Any]:
    """The purchase booked through the API's command (its answer carries member and
    balance, as ``send`` reads them)."""
    command = commands.parsed(PurchaseCreate, cmd.body()).to_command(
        program, cmd.at, store=None, channel="till"
    )
    return dict(purchases.commit(ctx, program, command))


def _return(receipt_id: str, *, key: str, lines: tuple[str, ...] | None) -> ProcessReturn:
    """The return of ``lines`` (None: all that is left) of a receipt, as return ``key``."""
    return ProcessReturn(
        receipt_id, key, None if lines is None else tuple(ReturnLine(i) for i in lines)
    )


@dataclass
class MPurchase:
    """A booked purchase as the machine expects it: each line's points earned and paid (as
    the purchase stored them; their sums are the model's), its two entries, each coupon's
    issued id and the lines its discount sits on, and the lines returned so far."""

    earned: dict[str, int]
    redeemed: dict[str, int]
    earn_entry: int | None
    redeem_entry: int | None
    coupons: list[tuple[int, frozenset[str]]]
    returned: set[str] = field(default_factory=set)


# each service and the command it takes (built from a request's arguments)
COMMANDS: dict[Callable[..., Any], Callable[..., Any]] = {
    redeem_reward: RedeemReward,
    cancel_reward: CancelIssued,
    till_purchase: TillPurchase,
    purchases.process_return: _return,
    events.record_event: _event,
    points.earn: Earn,
    points.redeem: Redeem,
    points.hold: PlaceHold,
    points.capture: Capture,
    points.void: VoidHold,
    points.reverse: Reverse,
    points.adjust: Adjust,
}


class LedgerMachine(RuleBasedStateMachine):
    """Drives the services and the reference model side by side."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.clock = FrozenClock(START)
        self.ctx = ServiceContext(engine, self.clock)
        self.model: ReferenceLedger
        self.requests: list[Request] = []
        self._keys = itertools.count()
        # the outbox events the operations that committed must have left, by type
        self.events: Counter[str] = Counter()
        # the catalog (reward id -> price, stock left or None, validity) and what was issued
        self.rewards: dict[int, tuple[int, int | None, timedelta]] = {}
        self.issued: dict[int, MIssued] = {}
        self.refund_on: tuple[bool, bool] = (True, False)
        # the catalog's coupon (its reward id, terms, activation delay), whether a return
        # gives a coupon back, and the purchases booked at the till by receipt id
        self.coupon: tuple[int, CouponTerms, timedelta] = (
            0,
            CouponTerms(CouponKind.FIXED, 1),
            MINUTE,
        )
        self.coupon_back = False
        self.purchases: dict[str, MPurchase] = {}
        # the birthday bonus: members given a birth date, and the (member, year) credited
        self.birthdays: dict[int, date] = {}
        self.birthday_years: set[tuple[int, int]] = set()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.clock.now()

    def send(
        self,
        model_op: Callable[[ReferenceLedger], Any],
        service: Callable[..., dict[str, Any]],
        *args: Any,
        variant: dict[str, Any] | Callable[[str], Any],
        **kwargs: Any,
    ) -> tuple[dict[str, Any], Any] | None:
        """Run an operation on a copy of the model and on the ledger; they must agree on
        success or on the error. Returns (ledger result, model record) on success."""
        trial = copy.deepcopy(self.model)
        expected: type[KopilkaError] | None = None
        reason = None
        try:
            record = model_op(trial)
        except KopilkaError as e:
            expected, reason = type(e), e.details.get("reason")
        req = Request(service, args, {"key": f"k{next(self._keys)}", **kwargs}, {}, variant)
        req.outcome = result = req.repeat(self.ctx, self.model.program)
        self.requests.append(req)
        name = type(result).__name__ if isinstance(result, KopilkaError) else "ok"
        if isinstance(result, KopilkaError) and "reason" in result.details:
            name += f" ({result.details['reason']})"
        event(f"{service.__name__} -> {name}")
        if isinstance(result, KopilkaError):
            assert type(result) is expected, f"ledger refused: {result!r}; model: {expected}"
            if reason is not None:  # the model names why: the ledger must say the same
                assert result.details.get("reason") == reason, (result.details, reason)
            return None
        assert expected is None, f"model expected {expected.__name__}; ledger gave {result}"
        self.model = trial
        if service.__name__ in EVENT_OF:
            self.events[EVENT_OF[service.__name__]] += 1
        member = self.model.members[result["member_id"]]
        assert tuple(result["balance"].values()) == member.balances()
        return result, record

    def register(self, sent: tuple[dict[str, Any], Any] | None) -> None:
        if sent is not None and isinstance(sent[1], MEntry):
            self.model.entries[sent[0]["entry_id"]] = sent[1]

    def member(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(sorted(self.model.members)), label="member")

    def enroll_member(self, welcome: int) -> None:
        """A new member with a welcome credit, so that spending has something to draw."""
        card = f"C{uuid.uuid4().hex[:12].upper()}"
        member_id = member_svc.enroll(
            self.ctx, self.model.program, member_svc.Enroll((member_svc.identifier("card", card),))
        ).id
        self.model.enroll(member_id)
        self.events["member.enrolled"] += 1
        self.adjust_points(member_id, welcome)

    # -- setup ------------------------------------------------------------------------------
    @initialize(
        spec=PROGRAM_SPECS,
        welcome=WELCOME,
        refund=st.tuples(st.booleans(), st.booleans()),
        coupon=COUPONS,
        coupon_back=st.booleans(),
    )
    def open_program(
        self,
        spec: dict[str, Any],
        welcome: int,
        refund: tuple[bool, bool],
        coupon: tuple[RewardKind, CouponTerms, Validity],
        coupon_back: bool,
    ) -> None:
        program = program_svc.create_program(
            self.ctx, program_command(f"sm-{uuid.uuid4().hex[:12]}", **spec)
        )
        rules_svc.publish(self.ctx, program, MACHINE_RULES, effective_at=LONG_AGO, backdate=True)
        self.model = ReferenceLedger(program)
        self.open_catalog(program, refund, coupon, coupon_back)
        self.enroll_member(welcome)

    def open_catalog(
        self,
        program: Program,
        refund: tuple[bool, bool],
        coupon: tuple[RewardKind, CouponTerms, Validity],
        coupon_back: bool,
    ) -> None:
        """Three rewards: a cheap gift valid a day, unlimited; a dearer gift of stock 2,
        valid 30 days after an hour's delay; a discount coupon (or voucher) of 20 points,
        unlimited; the program's refund settings and its coupon-return setting."""
        self.refund_on = refund
        rewards.set_refund_settings(
            self.ctx,
            program,
            rewards.SetRefundSettings(on_cancel=refund[0], on_expiry=refund[1], actor="sm"),
        )
        self.coupon_back = coupon_back
        till_coupons.set_coupon_return(
            self.ctx, program, till_coupons.SetCouponReturn(coupon_back, actor="sm")
        )
        kind, terms, coupon_validity = coupon
        for code, reward_kind, price, stock, validity, coupon_terms in (
            ("day", RewardKind.GIFT, 30, None, Validity(valid_days=1), None),
            ("month", RewardKind.GIFT, 120, 2, Validity(HOUR, valid_days=30), None),
            ("coupon", kind, 20, None, coupon_validity, terms),
        ):
            saved = rewards.save_reward(
                self.ctx,
                program,
                rewards.SaveReward(
                    Reward(
                        0,
                        0,
                        code,
                        reward_kind,
                        Text(code, code),
                        Text("", ""),
                        price,
                        coupon=coupon_terms,
                        stock=stock,
                        validity=validity,
                    ),
                    actor="sm",
                ),
            )
            self.rewards[saved["id"]] = (
                price,
                stock,
                validity.activation_delay + timedelta(days=validity.valid_days or 0),
            )
            if coupon_terms is not None:
                self.coupon = (saved["id"], coupon_terms, validity.activation_delay)

    @precondition(lambda self: len(self.model.members) < 4)
    @rule(welcome=WELCOME)
    def enroll(self, welcome: int) -> None:
        self.enroll_member(welcome)

    # -- member operations ------------------------------------------------------------------
    def spend_amount(self, data: st.DataObject, member_id: int) -> int:
        """Mostly affordable amounts, sometimes a little more than the member has."""
        have = max(self.model.members[member_id].available, 0)
        affordable = st.integers(1, max(have, 1))
        return data.draw(affordable | affordable | st.just(have + 1), label="points")

    @rule(data=st.data(), amount=st.integers(1, 500))
    def earn(self, data: st.DataObject, amount: int) -> None:
        self.earn_points(self.member(data), amount)

    def earn_points(self, m: int, amount: int) -> None:
        now = self.now
        self.register(
            self.send(
                lambda md: md.earn(m, amount, now),
                points.earn,
                m,
                points=amount,
                variant={"points": amount + 1},
            )
        )

    @rule(data=st.data(), name=st.sampled_from(sorted(OWN_EXPIRY)))
    def earn_under_rule_expiry(self, data: st.DataObject, name: str) -> None:
        """An event whose rule gives its points their own expiry: a lot of that expiry."""
        m = self.member(data)
        amount, expiry = OWN_EXPIRY[name]
        now = self.now
        other = next(n for n in sorted(OWN_EXPIRY) if n != name)
        sent = self.send(
            lambda md: md.earn(m, amount, now, expiry),
            events.record_event,
            m,
            type=name,
            variant={"type": other},
        )
        if sent is not None:
            result, record = sent
            (award,) = result["awards"]
            self.model.entries[award["entry_id"]] = record

    @rule(data=st.data())
    def redeem(self, data: st.DataObject) -> None:
        m = self.member(data)
        self.redeem_points(m, self.spend_amount(data, m))

    def redeem_points(self, m: int, amount: int) -> None:
        now = self.now
        self.register(
            self.send(
                lambda md: md.redeem(m, amount, now),
                points.redeem,
                m,
                points=amount,
                variant={"points": amount + 1},
            )
        )

    @rule(data=st.data(), ttl=HOLD_TTLS)
    def hold(self, data: st.DataObject, ttl: int) -> None:
        m = self.member(data)
        self.hold_points(m, self.spend_amount(data, m), ttl)

    def hold_points(self, m: int, amount: int, ttl: int) -> None:
        now = self.now
        sent = self.send(
            lambda md: md.hold(m, amount, timedelta(seconds=ttl), now),
            points.hold,
            m,
            points=amount,
            ttl_seconds=ttl,
            variant={"ttl_seconds": ttl + 1},
        )
        if sent is not None:
            result, hold = sent
            self.model.holds[result["hold_id"]] = hold
            self.model.entries[result["entry_id"]] = MEntry("hold", hold.member, amount)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def capture(self, data: st.DataObject) -> None:
        hold_id = self.some_hold(data)
        self.capture_hold(hold_id, self.capture_amount(data, hold_id))

    def some_hold(self, data: st.DataObject) -> int:
        """Mostly an active hold; sometimes any hold, so ended ones are tried too."""
        every = st.sampled_from(sorted(self.model.holds))
        active = sorted(k for k, h in self.model.holds.items() if h.status == "active")
        return data.draw(st.sampled_from(active) | every if active else every, label="hold")

    def capture_amount(self, data: st.DataObject, hold_id: int) -> int | None:
        """Full (None), partial, or more than the hold."""
        most = self.model.holds[hold_id].amount
        return data.draw(st.none() | st.integers(1, most) | st.just(most + 1), label="points")

    def capture_hold(self, hold_id: int, amount: int | None) -> None:
        now = self.now
        self.register(
            self.send(
                lambda md: md.capture(hold_id, amount, now),
                points.capture,
                hold_id,
                points=amount,
                variant={"points": (amount or 0) + 1},
            )
        )

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        self.void_hold(self.some_hold(data))

    def void_hold(self, hold_id: int) -> None:
        now = self.now
        sent = self.send(
            lambda md: md.void(hold_id, now),
            points.void,
            hold_id,
            variant=lambda key: points.capture(
                self.ctx, self.model.program, Capture(hold_id, key=key)
            ),
        )
        if sent is not None:
            self.model.entries[sent[0]["entry_id"]] = MEntry(
                "void", self.model.holds[hold_id].member, 0
            )

    @precondition(lambda self: any(h.status == "active" for h in self.model.holds.values()))
    @rule(
        data=st.data(),
        late=st.sampled_from([0, 1, 3600]),
        then=st.sampled_from(["sweep", "member", "capture"]),
    )
    def hold_times_out(self, data: st.DataObject, late: int, then: str) -> None:
        """The clock passes a hold's expiry; a sweep, a member operation or a capture follows."""
        active = sorted(k for k, h in self.model.holds.items() if h.status == "active")
        hold_id = data.draw(st.sampled_from(active), label="hold")
        hold = self.model.holds[hold_id]
        self.clock.set(hold.expires_at + timedelta(seconds=late))
        if then == "sweep":
            self.sweep_holds()
        elif then == "member":
            self.adjust_points(hold.member.id, 1)
        else:
            self.capture_hold(hold_id, None)

    @precondition(lambda self: self.model.entries)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        entry_id = data.draw(st.sampled_from(sorted(self.model.entries)), label="entry")
        left = max(self.model.entries[entry_id].left, 1)
        amount = data.draw(st.none() | st.integers(1, left) | st.just(left + 1), "points")
        now = self.now
        kind = self.model.entries[entry_id].kind
        settled = copy.deepcopy(self.model)  # the balance as of now, before the return
        member = settled.entries[entry_id].member
        settled.settle(member, now)
        before = member.available + member.pending
        sent = self.send(
            lambda md: md.reverse(entry_id, amount, now),
            points.reverse,
            entry_id,
            points=amount,
            reason="return",
            variant={"reason": "other"},
        )
        if sent is not None:
            self.answer_is_what_the_balance_did(kind, sent[0], before)
        self.register(sent)

    # -- rewards ----------------------------------------------------------------------------
    @rule(data=st.data())
    def redeem_reward(self, data: st.DataObject) -> None:
        """Redeem one of the three rewards: refused for a blocked member, then for no
        stock, then for too few points, as the service checks them."""
        m = self.member(data)
        self.redeem_one(m, data.draw(st.sampled_from(sorted(self.rewards)), label="reward"))

    def redeem_one(self, m: int, reward_id: int) -> None:
        price, stock, lasts = self.rewards[reward_id]
        now = self.now

        def op(md: ReferenceLedger) -> Any:
            if md.members[m].blocked:
                raise MemberBlocked("blocked")
            if stock is not None and stock <= 0:
                raise RewardUnavailable("out of stock", reason="out_of_stock")
            return md.spend_on_reward(m, price, now)

        other = next(r for r in self.rewards if r != reward_id)
        sent = self.send(op, redeem_reward, m, reward_id=reward_id, variant={"reward_id": other})
        if sent is not None:
            self.register(sent)
            issued = MIssued(sent[0]["entry_id"], m, reward_id, now + lasts, code=sent[0]["code"])
            coupon_id, terms, delay = self.coupon
            if reward_id == coupon_id:
                issued.terms, issued.valid_from = terms, now + delay
            self.issued[sent[0]["issued_id"]] = issued
            if stock is not None:
                self.rewards[reward_id] = (price, stock - 1, lasts)

    @precondition(lambda self: self.issued)
    @rule(data=st.data())
    def cancel_reward(self, data: st.DataObject) -> None:
        """Cancel an issued reward (sometimes one ended already): its points back by the
        program's setting, its unit back to the stock."""
        issued_id = data.draw(st.sampled_from(sorted(self.issued)), label="issued")
        issued = self.issued[issued_id]
        now = self.now

        def op(md: ReferenceLedger) -> Any:
            if issued.status != "issued":
                raise IssuedRewardNotActive(issued.status, reason=issued.status)
            return md.refund_reward(issued.entry_id, now) if self.refund_on[0] else None

        sent = self.send(
            op,
            cancel_reward,
            issued_id,
            actor="agent",
            reason="asked",
            variant={"reason": "another"},
        )
        if sent is not None:
            self.register(sent)
            issued.status = "cancelled"
            price, stock, lasts = self.rewards[issued.reward]
            if stock is not None:
                self.rewards[issued.reward] = (price, stock + 1, lasts)

    @rule(data=st.data())
    def birthday_bonus(self, data: st.DataObject) -> None:
        """The ``birthday_bonus`` job (services/birthday_bonus.py): a member is given the
        local day as birth date (set in the table, as an import would), then the job credits
        every member whose birthday it is and who was not credited this local year, 20
        points in a lot of the rule's own 7-day expiry; run again, it credits nobody."""
        program = self.model.program
        now = self.now
        today = local_day(now, program.timezone)
        m = self.member(data)
        born = date(2000, today.month, today.day)  # 2000 was a leap year: 29 February too
        with self.ctx.uow() as uow:
            uow.conn.execute(update(members).where(members.c.id == m).values(birthday=born))
            uow.commit()
        self.birthdays[m] = born
        due = sorted(
            k
            for k, b in self.birthdays.items()
            if is_birthday(b, today)
            and (k, today.year) not in self.birthday_years
            and not self.model.members[k].blocked
        )
        report = birthday_bonus.credit_birthdays(self.ctx, program, now)
        assert (report["credited"], report["points"]) == (len(due), BIRTHDAY_GIFT[0] * len(due))
        j = journal_entries.c
        for k in due:
            record = self.model.earn(k, BIRTHDAY_GIFT[0], now, BIRTHDAY_GIFT[1])
            with self.ctx.uow(read_only=True) as uow:
                entry_id = uow.conn.execute(
                    select(j.id).where(
                        j.member_id == k, j.kind == "earn", j.reference == f"birthday:{today.year}"
                    )
                ).scalar_one()
            self.model.entries[entry_id] = record
            self.birthday_years.add((k, today.year))
            event("birthday_bonus -> credited")
        assert birthday_bonus.credit_birthdays(self.ctx, program, now)["credited"] == 0

    @rule(batch=BATCHES)
    def expire_rewards(self, batch: int) -> None:
        """The ``rewards`` job: issued rewards past their expiry end, refunded by setting,
        in the job's order (expiry, then id)."""
        now = self.now
        expired, _ = rewards.expire_due(self.ctx, self.model.program, batch=batch)
        due = sorted(
            (i.expires_at, k)
            for k, i in self.issued.items()
            if i.status == "issued" and i.expires_at <= now
        )
        assert expired == len(due)
        self.events["reward.expired"] += expired
        for _, k in due:
            if self.refund_on[1]:
                self.model.refund_reward(self.issued[k].entry_id, now)
            self.issued[k].status = "expired"

    # -- the till: coupons and points on a purchase, and its return -------------------------
    @rule(
        data=st.data(),
        lines=BASKETS,
        fresh=st.sampled_from([None, "now", "later"]),
        coupons=st.sampled_from([0, 1, 1, 1, 2]),
        then_return=st.booleans(),
    )
    def buy_at_till(
        self,
        data: st.DataObject,
        lines: tuple[tuple[int, str], ...],
        fresh: str | None,
        coupons: int,
        then_return: bool,
    ) -> None:
        """A member buys with ``coupons`` coupon codes (mostly their own issued coupons;
        sometimes any issued reward: another member's, a gift, one used, cancelled,
        expired, not yet valid, the same one twice) and some points (sometimes more than
        they have or than the basket takes); ``fresh``: they redeem a coupon first (topped
        up by support when short) and give its code first, at once or when its activation
        delay has passed; ``then_return``: some or all of a booked purchase comes back at
        once."""
        m = self.member(data)
        first: list[int] = []
        if fresh:
            price = self.rewards[self.coupon[0]][0]
            if self.model.members[m].available < price:  # support tops them up first
                self.adjust_points(m, price)
            had = set(self.issued)
            self.redeem_one(m, self.coupon[0])
            first = sorted(set(self.issued) - had)  # the new coupon comes first
            if fresh == "later":
                self.clock.advance(self.coupon[2])
        mine = sorted(
            k
            for k, i in self.issued.items()
            if i.member == m and i.terms is not None and i.status == "issued"
        )
        pool = st.sampled_from(sorted(self.issued)) if self.issued else st.nothing()
        if mine:
            pool = st.sampled_from(mine) | st.sampled_from(mine) | pool
        picked = first + [
            data.draw(pool, label="coupon")
            for _ in range(coupons - len(first) if self.issued else 0)
        ]
        have = max(self.model.members[m].available, 0)
        most = max(min(have, sum(a for a, _ in lines) // POINT_MINOR), 1)
        some = st.integers(1, most)
        pay = data.draw(st.just(0) | some | some | st.just(have + 1), label="points")
        receipt = self.till(m, lines, picked, pay, quote=True)
        if receipt is not None and then_return:
            self.return_lines(data, receipt)

    def coupon_discounts(
        self, m: int, picked: list[int], lines: tuple[tuple[int, str], ...], now: datetime
    ) -> list[int]:
        """Each coupon's discount on the basket, or the refusal the till gives
        (docs/coupons.md): first each code in order (another member's, not a coupon, no
        longer issued, expired, not yet valid, given twice), then each coupon on the basket
        (under its minimum, measured before any coupon; no line left for it). The machine's
        coupons share one set of terms, so each takes its part of the same lines."""
        seen: set[int] = set()
        for k in picked:
            i = self.issued[k]
            why = (
                "other_member"
                if i.member != m
                else "not_a_coupon"
                if i.terms is None
                else i.status
                if i.status != "issued"
                else "expired"
                if i.expires_at <= now
                else "not_yet_valid"
                if now < i.valid_from
                else "duplicate"
                if k in seen
                else None
            )
            if why is not None:
                raise CouponInvalid(why, reason=why)
            seen.add(k)
        before = sum(a for a, _ in lines)
        out: list[int] = []
        eligible: int | None = None
        for k in picked:
            terms = self.issued[k].terms
            assert terms is not None
            if eligible is None:
                eligible = sum(a for a, c in lines if not terms.categories or c in terms.categories)
            if before < terms.min_basket_minor:
                raise CouponInvalid("min_basket", reason="min_basket")
            if not eligible:
                raise CouponInvalid("no_lines", reason="no_lines")
            off = (
                eligible * terms.amount // 100
                if terms.kind == CouponKind.PERCENT
                else min(terms.amount, eligible)
            )
            eligible -= off
            out.append(off)
        return out

    def till(
        self,
        m: int,
        lines: tuple[tuple[int, str], ...],
        picked: list[int],
        pay: int,
        *,
        quote: bool,
    ) -> str | None:
        """Quote (``quote``), then book, a purchase: the model says whether it is refused
        (the member blocked, a coupon, too few points, more points than the basket takes)
        and otherwise its coupons' discounts, the points paid and earned (1 per full 100.00
        left to pay). The quote must agree with the booking; a booked coupon is used."""
        now = self.now
        total = sum(a for a, _ in lines)
        codes = tuple(self.issued[k].code for k in picked)
        cmd_args = {"lines": lines, "coupons": codes, "redeem_points": pay, "at": now}
        quoted: Outcome | None = None
        if quote:
            body = TillPurchase(m, "quote", **cmd_args).body()
            try:
                quoted = dict(
                    purchases.quote(
                        self.ctx,
                        self.model.program,
                        commands.quote(self.ctx, self.model.program, body),
                    )
                )
            except KopilkaError as err:
                quoted = err

        def op(md: ReferenceLedger) -> Any:
            member = md.members[m]
            if member.blocked:
                raise MemberBlocked("blocked")
            md.settle(member, now)
            off = self.coupon_discounts(m, picked, lines, now)
            net = total - sum(off)
            if pay > max(member.available, 0):
                raise InsufficientPoints("not enough")
            if pay > net // POINT_MINOR:
                raise RedemptionNotAllowed("more than the basket takes")
            redeemed = md.redeem(m, pay, now) if pay else None
            earned = (net - pay * POINT_MINOR) // TILL_RATE_MINOR
            return off, redeemed, earned, md.earn(m, earned, now) if earned else None

        sent = self.send(op, till_purchase, m, **cmd_args, variant={"redeem_points": pay + 1})
        if sent is None:
            refused = self.requests[-1].outcome
            assert isinstance(refused, KopilkaError)
            if quoted is not None and not isinstance(refused, MemberBlocked):
                assert isinstance(quoted, KopilkaError), quoted
                assert (type(quoted), quoted.details.get("reason")) == (
                    type(refused),
                    refused.details.get("reason"),
                )
            return None
        booked, (off, redeemed, earned, earning) = sent
        if quoted is not None:
            assert not isinstance(quoted, KopilkaError), quoted
            assert quoted["coupons"] == booked.get("coupons", [])
            assert (quoted["redeem_points"], quoted["points_earned"]) == (pay, earned)
        # what the purchase stored: the model's coupons, points, totals, spread exactly
        applied = booked.get("coupons", [])
        assert [minor(c["discount"]) for c in applied] == off
        for c in applied:
            assert sum(minor(v) for v in c["lines"].values()) == minor(c["discount"])
        assert minor(booked["total"]) == total - sum(off)
        assert (booked["points_redeemed"], booked["points_earned"]) == (pay, earned)
        assert minor(booked["discount"]) == pay * POINT_MINOR
        assert sum(minor(ln["discount"]) for ln in booked["lines"]) == pay * POINT_MINOR
        assert sum(ln["points_redeemed"] for ln in booked["lines"]) == pay
        assert sum(ln["points_earned"] for ln in booked["lines"]) == earned
        if redeemed is not None:
            self.model.entries[booked["redeem_entry_id"]] = redeemed
        if earning is not None:
            self.model.entries[booked["earn_entry_id"]] = earning
        for k in picked:
            self.issued[k].status = "used"
        self.purchases[booked["receipt_id"]] = MPurchase(
            {ln["line_id"]: ln["points_earned"] for ln in booked["lines"]},
            {ln["line_id"]: ln["points_redeemed"] for ln in booked["lines"]},
            booked["earn_entry_id"],
            booked["redeem_entry_id"],
            [(k, frozenset(c["lines"])) for k, c in zip(picked, applied, strict=True)],
        )
        event(f"till -> {len(picked)} coupon(s), {'points' if pay else 'no points'}")
        return str(booked["receipt_id"])

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def return_at_till(self, data: st.DataObject) -> None:
        """Return all that is left of a purchase, or some of its lines (sometimes one
        returned already): the points it earned on them are clawed back and those it paid
        restored, from its two entries (refused when the ledger's reversals took them
        already); a coupon all of whose lines are now back is given back when the program
        says so, and stays used otherwise."""
        self.return_lines(data, data.draw(st.sampled_from(sorted(self.purchases)), "receipt"))

    def return_lines(self, data: st.DataObject, receipt: str) -> None:
        p = self.purchases[receipt]
        ids = sorted(p.earned)
        some = st.lists(st.sampled_from(ids), min_size=1, unique=True).map(
            lambda x: tuple(sorted(x))
        )
        lines = data.draw(st.none() | some, label="lines")
        now = self.now

        def op(md: ReferenceLedger) -> Any:
            if lines is None:
                wanted = [i for i in ids if i not in p.returned]
                if not wanted:
                    raise ReversalExceeded("returned in full already")
            elif p.returned.intersection(lines):
                raise ReversalExceeded("more than was bought")
            else:
                wanted = list(lines)
            claw = sum(p.earned[i] for i in wanted)
            restore = sum(p.redeemed[i] for i in wanted)
            if claw and p.earn_entry is not None:
                md.reverse(p.earn_entry, claw, now)
            if restore and p.redeem_entry is not None:
                md.reverse(p.redeem_entry, restore, now)
            return wanted, claw, restore

        sent = self.send(
            op,
            purchases.process_return,
            receipt,
            lines=lines,
            variant={"lines": (ids[0],) if lines is None else None},
        )
        if sent is None:
            return
        answer, (wanted, claw, restore) = sent
        assert answer["points_restored"] == restore
        assert answer["points_clawed_back"] + answer["forgiven"] == claw
        before, after = set(p.returned), p.returned.union(wanted)
        p.returned = after
        back: list[str] = []
        for k, on in p.coupons:
            if self.coupon_back and on <= after and not on <= before:
                assert self.issued[k].status == "used"
                self.issued[k].status = "issued"
                back.append(self.issued[k].code)
        assert sorted(answer.get("coupons_given_back", [])) == sorted(back)
        event(f"return -> {len(back)} coupon(s) back")

    @staticmethod
    def answer_is_what_the_balance_did(kind: str, result: dict[str, Any], before: int) -> None:
        """Issue 18, item 20: a reversal's answer says what its balance did. A clawback
        takes its points less those forgiven (a debt is taken, below zero); a restore gives
        its points less those that expired at once (restore policy ``expire``)."""
        details, bal = result["details"], result["balance"]
        moved = bal["available"] + bal["pending"] - before
        if kind in ("earn", "adjust"):
            assert moved == -(result["points"] - details.get("forgiven", 0)), result
        else:
            assert moved == result["points"] - details.get("expired_on_return", 0), result

    @rule(data=st.data(), credit=st.booleans())
    def adjust(self, data: st.DataObject, credit: bool) -> None:
        m = self.member(data)
        self.adjust_points(
            m, data.draw(st.integers(1, 300)) if credit else -self.spend_amount(data, m)
        )

    def adjust_points(self, m: int, delta: int) -> None:
        now = self.now
        self.register(
            self.send(
                lambda md: md.adjust(m, delta, now),
                points.adjust,
                m,
                delta=delta,
                reason="support",
                actor="agent",
                variant={"actor": "someone else"},
            )
        )

    @rule(
        data=st.data(),
        op=st.sampled_from(["earn", "redeem", "hold", "capture", "void", "adjust", "buy"]),
    )
    def while_blocked(self, data: st.DataObject, op: str) -> None:
        """A blocked member can neither earn nor spend nor buy at the till; support and
        voids still work."""
        m = self.member(data)
        member_svc.set_blocked(self.ctx, self.model.program, m, True, reason="fraud check")
        self.model.set_blocked(m, True)
        self.events["member.blocked"] += 1
        holds = sorted(k for k, h in self.model.holds.items() if h.member.id == m)
        if op == "earn":
            self.earn_points(m, 10)
        elif op == "redeem":
            self.redeem_points(m, 1)
        elif op == "hold":
            self.hold_points(m, 1, 900)
        elif op == "adjust":
            self.adjust_points(m, 5)
        elif op == "buy":
            self.till(m, ((50_000, "dairy"),), [], 0, quote=False)
        elif holds and op == "capture":
            self.capture_hold(holds[-1], None)
        elif holds:
            self.void_hold(holds[-1])
        member_svc.set_blocked(self.ctx, self.model.program, m, False)
        self.model.set_blocked(m, False)
        self.events["member.unblocked"] += 1

    # -- sweeps -----------------------------------------------------------------------------
    @rule(batch=BATCHES)
    def sweep_activation(self, batch: int) -> None:
        jobs.activate_due(self.ctx, self.model.program, batch=batch)
        self.model.sweep_activation(self.now)

    @rule(batch=BATCHES)
    def sweep_expiry(self, batch: int) -> None:
        since = self.last_entry()
        jobs.expire_due(self.ctx, self.model.program, batch=batch)
        self.model.sweep_expiry(self.now)
        self.events["points.expired"] += self.entries_since(since, "expire")

    @rule(batch=BATCHES)
    def sweep_holds(self, batch: int = BATCH) -> None:
        self.events["hold.timed_out"] += jobs.expire_holds(
            self.ctx, self.model.program, batch=batch
        )
        self.model.sweep_holds(self.now)

    def last_entry(self) -> int:
        with self.ctx.uow(read_only=True) as uow:
            return int(uow.conn.execute(select(func.max(journal_entries.c.id))).scalar() or 0)

    def entries_since(self, since: int, kind: str) -> int:
        """The journal entries of ``kind`` written after ``since`` (this test is alone)."""
        j = journal_entries.c
        q = select(func.count()).where(
            j.id > since, j.kind == kind, j.program_id == self.model.program.id
        )
        with self.ctx.uow(read_only=True) as uow:
            return int(uow.conn.execute(q).scalar_one())

    # -- idempotency ------------------------------------------------------------------------
    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """A repeated key with the same request answers as the first time and writes nothing."""
        req = data.draw(st.sampled_from(self.requests), label="request")
        before = self.totals()
        again = req.repeat(self.ctx, self.model.program)
        if isinstance(req.outcome, KopilkaError):
            assert isinstance(again, KopilkaError), f"a failed request now succeeds: {again}"
            assert (type(again), again.message) == (type(req.outcome), req.outcome.message)
        else:
            assert again == req.outcome
        assert self.totals() == before

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def reuse_key(self, data: st.DataObject) -> None:
        """A repeated key with a different request is a conflict and writes nothing."""
        req = data.draw(st.sampled_from(self.requests), label="request")
        before = self.totals()
        with pytest.raises(IdempotencyConflict):
            req.conflicting(self.ctx, self.model.program)
        assert self.totals() == before

    def totals(self) -> dict[str, Any]:
        return audit.verify_ledger(self.ctx, self.model.program.id).totals

    # -- time -------------------------------------------------------------------------------
    @rule(delta=FORWARD)
    def clock_forward(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    @rule(delta=BACKWARD)
    def clock_backward(self, delta: timedelta) -> None:
        self.clock.advance(-delta)

    @precondition(lambda self: any(m.lots for m in self.model.members.values()))
    @rule(data=st.data(), edge=EDGES)
    def clock_to_lot_edge(self, data: st.DataObject, edge: timedelta) -> None:
        """Land just before, on or after a lot's activation or expiry instant."""
        instants = sorted(
            {
                t
                for m in self.model.members.values()
                for lot in m.lots
                for t in (lot.available_at, lot.expires_at)
                if t is not None
            }
        )
        self.clock.set(data.draw(st.sampled_from(instants), label="instant") + edge)

    # -- after every step -------------------------------------------------------------------
    @invariant()
    def ledger_verifies_and_matches_model(self) -> None:
        """``verify`` is clean and the stored balances equal the model's. First, what the
        till and the member read (``balance_view``) is the model settled as of now; that
        reading books nothing shows in the stored balances read after it, which still
        equal the unsettled model."""
        settled = copy.deepcopy(self.model)
        for member_id, member in settled.members.items():
            settled.settle(member, self.now)
            view = balance_view(self.ctx, self.model.program, member_id)
            assert (view.available, view.pending, view.held) == member.balances(), member_id
        report = audit.verify_ledger(self.ctx, self.model.program.id)
        assert report.ok, [c for c in report.to_dict()["checks"] if not c["ok"]]
        with self.ctx.uow(read_only=True) as uow:  # one snapshot of every member
            actual = {m: uow.members.balance(m) for m in self.model.members}
        for member_id, expected in self.model.members.items():
            bal = actual[member_id]
            assert (bal.available, bal.pending, bal.held) == expected.balances(), member_id

    @invariant()
    def issued_rewards_are_the_models(self) -> None:
        """Every issued reward's stored status is the model's: a coupon a purchase used is
        ``used``, one a return gave back ``issued`` again, a refused purchase left its
        coupons as they were."""
        ir = issued_rewards.c
        with self.ctx.uow(read_only=True) as uow:
            rows = uow.conn.execute(
                select(ir.id, ir.status).where(ir.program_id == self.model.program.id)
            ).all()
        assert dict(rows) == {k: i.status for k, i in self.issued.items()}

    @invariant()
    def every_committed_operation_left_one_event(self) -> None:
        """Every operation of an evented kind that committed (enrolment, block, unblock,
        adjustment, earning, redemption, hold, capture, void, purchase, return, a sweep's
        expiry entry or hold timeout) left exactly one outbox event, replays none; each
        member's events are numbered 1, 2, ... without a gap."""
        program = self.model.program
        assert outbox.counts(self.ctx, program) == {k: n for k, n in self.events.items() if n}
        for member_id in self.model.members:
            seqs = [e["sequence"] for e in outbox.member_events(self.ctx, program, member_id)]
            assert seqs == list(range(1, len(seqs) + 1)), member_id


def run_machine(url: str, examples: int, steps: int) -> None:
    engine = engine_for(url)
    run_state_machine_as_test(
        lambda: LedgerMachine(engine),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )


@pytest.mark.heavy(50)
def test_ledger_agrees_with_reference_model(backend):
    """Random operation sequences keep verify clean and balances equal to the model."""
    run_machine(backend, examples=30, steps=30)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("KOPILKA_SLOW") != "1", reason="long run: set KOPILKA_SLOW=1 to include it"
)
def test_ledger_agrees_with_reference_model_long(backend):
    """The same, with many more and longer sequences (run before a release)."""
    run_machine(backend, examples=300, steps=60)
