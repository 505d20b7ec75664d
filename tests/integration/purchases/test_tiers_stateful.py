"""Tiers against a small reference model: random purchases, returns, manual tiers, paid
memberships (start, renew, cancel, refund) and clock jumps across calendar-year reviews;
after each step the member's tier equals the model's. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.engine import Engine

from kopilka.domain.clock import FrozenClock
from kopilka.domain.memberships import Plan, add_term
from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.services import members as member_svc
from kopilka.services import memberships, purchases, rules, tiers
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.services.memberships import (
    CancelMembership,
    RefundMembership,
    RenewMembership,
    StartMembership,
)
from kopilka.services.tiers import SetManualTier
from kopilka.store.tables import journal_entries
from tests import commands
from tests.conftest import engine_for
from tests.program_spec import program_command

WELCOME = """
  - {id: welcome-gold, kind: event, event: tier_reached, points: 100, when: {tiers: [gold]}}
  - {id: welcome-plat, kind: event, event: tier_reached, points: 300, when: {tiers: [plat]}}
"""
TIERS_SECTION = """
tiers:
  window: {kind: calendar_year}
  downgrade: {mode: at_review}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "%d"}, keep: {spend: "%d"}}
    - {code: plat, name: {ru: Платина, en: Plat}, entry: {spend: "%d"}, keep: {spend: "%d"}}
  paid:
    - {code: gold_week, tier: gold, price: "99", term: {days: 7}, name: {ru: З, en: G}}
    - {code: plat_month, tier: plat, price: "990", term: {months: 1}, name: {ru: П, en: P}}
"""


def document(bars: list[tuple[str, int, int]], welcome: bool) -> str:
    """The rules with the tiers' bars ``bars`` (as :data:`TIERS`), with or without the
    welcome bonuses (without them a recompute writes its plain rises in bulk)."""
    (_, gold_in, gold_keep), (_, plat_in, plat_keep) = bars[1], bars[2]
    return (
        "\nrules:\n  - {id: base, kind: rate, rate: {percent: 5}}"
        + (WELCOME if welcome else "\n")
        + TIERS_SECTION % (gold_in, gold_keep, plat_in, plat_keep)
    )


# plan code: (tier index, the plan as the domain reads it)
PLANS = {
    "gold_week": (1, Plan("gold_week", "gold", 9900, days=7)),
    "plat_month": (2, Plan("plat_month", "plat", 99000, months=1)),
}
# (code, entry, keep) in whole roubles, lowest first
TIERS = [("basic", 0, 0), ("gold", 15_000, 10_000), ("plat", 50_000, 40_000)]
START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Model:
    """The reference: purchases (time, roubles, returned), the earned tier and a manual
    floor, with the tier rules written out plainly."""

    purchases: list[list[object]] = field(default_factory=list)
    # the bars in force (code, entry, keep), lowest first: a rules change may move them
    bars: list[tuple[str, int, int]] = field(default_factory=lambda: list(TIERS))
    earned: int = -1  # index into TIERS; -1: none yet
    manual: int = -1
    manual_until: datetime | None = None
    # the paid membership: its plan, end, and whether refunded (None: never bought one)
    plan: str | None = None
    paid_until: datetime | None = None
    refunded: bool = False

    def paid_running(self, now: datetime) -> bool:
        return (
            self.plan is not None
            and not self.refunded
            and self.paid_until is not None
            and now < self.paid_until
        )

    def spend(self, year: int | None, since: datetime | None = None) -> int:
        return sum(
            int(amount)  # type: ignore[call-overload]
            for at, amount, returned in self.purchases
            if not returned
            and (year is None or at.year == year)  # type: ignore[attr-defined]
            and (since is None or at >= since)  # type: ignore[operator]
        )

    def qualified(self, spend: int) -> int:
        return max(i for i, (_, entry, _) in enumerate(self.bars) if spend >= entry)

    def recompute(self, at: datetime) -> None:
        """After a rules change: up to what the year so far qualifies for, never down."""
        self.earned = max(self.earned, self.qualified(self.spend(at.year)))

    def buy(self, at: datetime, amount: int) -> None:
        self.purchases.append([at, amount, False])
        self.earned = max(self.earned, self.qualified(self.spend(at.year)))

    def review(self, at: datetime) -> None:
        if self.manual_until is not None and at >= self.manual_until:
            self.manual, self.manual_until = -1, None  # the review drops an ended floor
        year_start = datetime(at.year, 1, 1, tzinfo=UTC)
        judged = self.spend(at.year - 1)
        floor = self.qualified(self.spend(None, since=year_start))
        if floor >= self.earned:
            self.earned = floor
            return
        if self.qualified(judged) > self.earned:
            self.earned = self.qualified(judged)
            return
        if judged >= self.bars[self.earned][2]:
            return
        kept = max(i for i, (_, _, keep) in enumerate(self.bars[: self.earned]) if judged >= keep)
        self.earned = max(kept, floor)

    def effective(self, now: datetime) -> str | None:
        rank = self.earned
        if self.manual >= 0 and (self.manual_until is None or now < self.manual_until):
            rank = max(rank, self.manual)
        if self.plan is not None and self.paid_running(now):
            rank = max(rank, PLANS[self.plan][0])
        return TIERS[rank][0] if rank >= 0 else None


class TiersMachine(RuleBasedStateMachine):
    """Drives the services and the model side by side for one member."""

    def __init__(self, engine: Engine, welcome: bool = True) -> None:
        super().__init__()
        self.welcome = welcome
        self.clock = FrozenClock(START)
        self.ctx = ServiceContext(engine, self.clock)
        self.program = program_svc.create_program(
            self.ctx, program_command(f"tsm-{uuid.uuid4().hex[:10]}")
        )
        rules.publish(self.ctx, self.program, document(TIERS, welcome), actor="test")
        enroll = member_svc.Enroll(
            (member_svc.identifier("card", f"T{uuid.uuid4().hex[:12].upper()}"),)
        )
        self.member = member_svc.enroll(self.ctx, self.program, enroll).id
        self.model = Model()
        self.receipts: list[str] = []
        self.returned: set[str] = set()
        self._n = itertools.count()
        self.membership: int | None = None
        self.reached: set[str] = set()  # the tiers the model has had the member at

    @rule(amount=st.sampled_from([500, 4_000, 9_000, 16_000, 30_000]))
    def buy(self, amount: int) -> None:
        receipt = f"R{next(self._n)}"
        body = {
            "receipt_id": receipt,
            "member_id": self.member,
            "lines": [{"line_id": "1", "sku": "S", "amount": str(amount)}],
        }
        purchases.commit(self.ctx, self.program, commands.purchase(self.ctx, self.program, body))
        self.receipts.append(receipt)
        self.model.buy(self.clock.now(), amount)

    @precondition(lambda self: len(self.returned) < len(self.receipts))
    @rule(pick=st.integers(min_value=0, max_value=50))
    def give_back(self, pick: int) -> None:
        open_ = [r for r in self.receipts if r not in self.returned]
        receipt = open_[pick % len(open_)]
        cmd = commands.return_(receipt, {"return_id": f"ret-{receipt}"})
        purchases.process_return(self.ctx, self.program, cmd)
        self.returned.add(receipt)
        self.model.purchases[self.receipts.index(receipt)][2] = True

    @rule(
        tier=st.sampled_from([None, 1, 2]),
        days=st.one_of(st.none(), st.integers(min_value=1, max_value=400)),
    )
    def manual(self, tier: int | None, days: int | None) -> None:
        until = self.clock.now() + timedelta(days=days) if days and tier is not None else None
        code = TIERS[tier][0] if tier is not None else None
        reason = Reason(ReasonCode.GOODWILL)
        tiers.set_manual_tier(
            self.ctx, self.program, SetManualTier(self.member, code, reason, until), actor="t"
        )
        self.model.manual = tier if tier is not None else -1
        self.model.manual_until = until

    @precondition(lambda self: not self.model.paid_running(self.clock.now()))
    @rule(plan=st.sampled_from(sorted(PLANS)))
    def paid_start(self, plan: str) -> None:
        """A sale of a plan: the member is at least at its tier for its term."""
        sale = StartMembership(self.member, plan, f"P{next(self._n)}")
        view = memberships.start_membership(self.ctx, self.program, sale, actor="t")
        self.membership = view["id"]
        now = self.clock.now()
        self.model.plan, self.model.refunded = plan, False
        self.model.paid_until = add_term(now, PLANS[plan][1])

    @precondition(lambda self: self.membership is not None and not self.model.refunded)
    @rule()
    def paid_renew(self) -> None:
        """One more term, from the current end (from now once ended)."""
        assert self.membership is not None
        assert self.model.plan
        assert self.model.paid_until
        cmd = RenewMembership(self.member, self.membership, f"P{next(self._n)}")
        memberships.renew_membership(self.ctx, self.program, cmd, actor="t")
        start = max(self.model.paid_until, self.clock.now())
        self.model.paid_until = add_term(start, PLANS[self.model.plan][1])

    @precondition(lambda self: self.membership is not None and not self.model.refunded)
    @rule()
    def paid_cancel(self) -> None:
        """A cancel stops renewing; the tier stays to the term's end."""
        assert self.membership is not None
        cmd = CancelMembership(self.member, self.membership)
        memberships.cancel_membership(self.ctx, self.program, cmd, actor="t")

    @precondition(lambda self: self.membership is not None and not self.model.refunded)
    @rule()
    def paid_refund(self) -> None:
        """A refund ends the membership at once."""
        assert self.membership is not None
        assert self.model.paid_until
        cmd = RefundMembership(self.member, self.membership, f"P{next(self._n)}")
        memberships.refund_membership(self.ctx, self.program, cmd, actor="t")
        self.model.refunded = True
        self.model.paid_until = min(self.model.paid_until, self.clock.now())

    @rule(scale=st.sampled_from([1, 2, 4]))
    def rules_change_and_recompute(self, scale: int) -> None:
        """New rules with every bar divided by ``scale`` (1: the first bars again), then the
        recompute a rules change calls for: the member rises to what the year so far
        qualifies for under them; losing a tier waits for the review, under the bars then
        in force."""
        bars = [(code, entry // scale, keep // scale) for code, entry, keep in TIERS]
        rules.publish(self.ctx, self.program, document(bars, self.welcome), actor="test")
        self.model.bars = bars
        tiers.recompute_tiers(self.ctx, self.program)
        self.model.recompute(self.clock.now())

    @rule(days=st.integers(min_value=1, max_value=200))
    def jump_and_review(self, days: int) -> None:
        """The clock moves on; on crossing a new year the year-end review runs then."""
        before = self.clock.now()
        self.clock.advance(timedelta(days=days))
        for year in range(before.year + 1, self.clock.now().year + 1):
            at = datetime(year, 1, 1, tzinfo=UTC)
            tiers.review_tiers(self.ctx, self.program, at)
            self.model.review(at)

    @invariant()
    def welcomed_once_at_reached_tiers(self) -> None:
        """The welcome bonus (tier_reached) is credited at most once per tier, only for a
        tier the member has been at, and by its tier's rule."""
        now = self.clock.now()
        code = self.model.effective(now)
        if code is not None:
            self.reached.add(code)
        j = journal_entries.c
        with self.ctx.uow(read_only=True) as uow:
            rows = uow.conn.execute(
                select(j.rule_id, j.points, j.reference).where(
                    j.member_id == self.member, j.rule_id.like("welcome-%")
                )
            ).all()
        rules_ = [r.rule_id for r in rows]
        assert self.welcome or not rules_, rows
        assert len(rules_) == len(set(rules_)), rows
        for rule_id, points, reference in rows:
            assert rule_id.removeprefix("welcome-") in self.reached, (rows, self.reached)
            assert points == {"welcome-gold": 100, "welcome-plat": 300}[rule_id]
            assert reference.startswith("tier_change:")

    @invariant()
    def same_tier(self) -> None:
        # a manual floor that has ended is dropped at the next review: compare then
        if self.model.manual_until is not None and self.clock.now() >= self.model.manual_until:
            return
        got = tiers.member_tier(self.ctx, self.program, self.member)["tier_code"]
        assert got == self.model.effective(self.clock.now()), self.model


@pytest.mark.parametrize("welcome", [True, False])
def test_tiers_agree_with_reference_model(backend, welcome, monkeypatch):
    """Random purchases, returns, manual tiers, paid memberships, rules changes with their
    recompute and year-end reviews keep the member's tier equal to the reference model's;
    without welcome bonuses the recompute writes its plain rises in bulk (on PostgreSQL
    too: from one member up)."""
    engine = engine_for(backend)
    monkeypatch.setattr(tiers, "BULK_FROM", 1)
    run_state_machine_as_test(
        lambda: TiersMachine(engine, welcome),
        settings=settings(
            # more without the welcome bonuses: a rise through the bulk path needs a
            # purchase between the new and the old bar before the rules change
            max_examples=25 if welcome else 60,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
