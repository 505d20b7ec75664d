"""Tiers against a small reference model: random purchases, returns, manual tiers and
clock jumps across calendar-year reviews; after each step the member's tier equals the
model's. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Engine

from kopilka.domain.clock import FrozenClock
from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services import purchases, rules, tiers
from kopilka.services.context import ServiceContext
from kopilka.services.tiers import SetManualTier
from tests import commands
from tests.conftest import engine_for
from tests.program_spec import program_command

DOCUMENT = """
rules: [{id: base, kind: rate, rate: {percent: 5}}]
tiers:
  window: {kind: calendar_year}
  downgrade: {mode: at_review}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}, keep: {spend: "10000"}}
    - {code: plat, name: {ru: Платина, en: Plat}, entry: {spend: "50000"}, keep: {spend: "40000"}}
"""
# (code, entry, keep) in whole roubles, lowest first
TIERS = [("basic", 0, 0), ("gold", 15_000, 10_000), ("plat", 50_000, 40_000)]
START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Model:
    """The reference: purchases (time, roubles, returned), the earned tier and a manual
    floor, with the tier rules written out plainly."""

    purchases: list[list[object]] = field(default_factory=list)
    earned: int = -1  # index into TIERS; -1: none yet
    manual: int = -1
    manual_until: datetime | None = None

    def spend(self, year: int | None, since: datetime | None = None) -> int:
        return sum(
            int(amount)  # type: ignore[call-overload]
            for at, amount, returned in self.purchases
            if not returned
            and (year is None or at.year == year)  # type: ignore[attr-defined]
            and (since is None or at >= since)  # type: ignore[operator]
        )

    @staticmethod
    def qualified(spend: int) -> int:
        return max(i for i, (_, entry, _) in enumerate(TIERS) if spend >= entry)

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
        if judged >= TIERS[self.earned][2]:
            return
        kept = max(i for i, (_, _, keep) in enumerate(TIERS[: self.earned]) if judged >= keep)
        self.earned = max(kept, floor)

    def effective(self, now: datetime) -> str | None:
        rank = self.earned
        if self.manual >= 0 and (self.manual_until is None or now < self.manual_until):
            rank = max(rank, self.manual)
        return TIERS[rank][0] if rank >= 0 else None


class TiersMachine(RuleBasedStateMachine):
    """Drives the services and the model side by side for one member."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.clock = FrozenClock(START)
        self.ctx = ServiceContext(engine, self.clock)
        self.program = program_svc.create_program(
            self.ctx, program_command(f"tsm-{uuid.uuid4().hex[:10]}")
        )
        rules.publish(self.ctx, self.program, DOCUMENT, actor="test")
        enroll = member_svc.Enroll(
            (member_svc.identifier("card", f"T{uuid.uuid4().hex[:12].upper()}"),)
        )
        self.member = member_svc.enroll(self.ctx, self.program, enroll).id
        self.model = Model()
        self.receipts: list[str] = []
        self.returned: set[str] = set()
        self._n = itertools.count()

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
    def same_tier(self) -> None:
        # a manual floor that has ended is dropped at the next review: compare then
        if self.model.manual_until is not None and self.clock.now() >= self.model.manual_until:
            return
        got = tiers.member_tier(self.ctx, self.program, self.member)["tier_code"]
        assert got == self.model.effective(self.clock.now()), self.model


def test_tiers_agree_with_reference_model(backend):
    """Random purchases, returns, manual tiers and year-end reviews keep the member's tier
    equal to the reference model's."""
    engine = engine_for(backend)
    run_state_machine_as_test(
        lambda: TiersMachine(engine),
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
