"""The tiers: section's options against a small reference model: qualifying points from
purchases, events and adjustments over a rolling 12 months, reviews on the anniversary of
reaching the tier (run late, as a worker that was down would), and returns that downgrade
at once when they push the member below the keep bar. Random purchases, returns, events,
adjustments and clock jumps; after each step the member's tier equals the model's. On
SQLite and PostgreSQL."""

from __future__ import annotations

import calendar
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Engine

from kopilka.domain.clock import FrozenClock
from kopilka.services import events, points, purchases, rules, tiers
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust
from tests import commands
from tests.conftest import engine_for
from tests.program_spec import program_command

DOCUMENT = """
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - {id: review, kind: event, event: review, points: 300}
tiers:
  window: {kind: rolling, months: 12}
  review: {schedule: anniversary}
  qualifying_points: {from: [purchases, events, adjustments]}
  downgrade: {mode: at_review, on_return: true}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {points: 1000}, keep: {points: 600}}
"""
TIERS = ["basic", "gold"]
ENTRY, KEEP = 1000, 600
START = datetime(2026, 11, 1, 10, tzinfo=UTC)


def minus_months(at: datetime, months: int) -> datetime:
    month0 = at.month - 1 - months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def anniversary(reached: datetime, after: datetime) -> datetime:
    """The first anniversary (UTC midnight) of ``reached``'s date later than ``after``."""
    year = reached.year + 1
    while True:
        day = min(reached.day, calendar.monthrange(year, reached.month)[1])
        due = datetime(year, reached.month, day, tzinfo=UTC)
        if due > after:
            return due
        year += 1


@dataclass
class Model:
    """The reference: every credit of qualifying points (time, points, returned), the
    earned tier (index into TIERS; -1 none) and the next anniversary review."""

    credits: list[list[object]] = field(default_factory=list)
    earned: int = -1
    due: datetime | None = None

    def points(self, start: datetime, end: datetime | None = None) -> int:
        return sum(
            int(n)  # type: ignore[call-overload]
            for at, n, returned in self.credits
            if not returned and start <= at and (end is None or at < end)  # type: ignore[operator]
        )

    def reach(self, tier: int, now: datetime) -> None:
        if tier != self.earned:
            self.earned, self.due = tier, anniversary(now, now)

    def credit(self, now: datetime, n: int) -> None:
        """Points counted at once: an upgrade (never a loss) as on a purchase."""
        self.credits.append([now, n, False])
        window = self.points(minus_months(now, 12))
        self.reach(max(self.earned, 1 if window >= ENTRY else 0), now)

    def give_back(self, index: int, now: datetime) -> None:
        """A return: the purchase's points out; Gold lost at once when this return is
        what took the window below the keep bar."""
        start = minus_months(now, 12)
        before = self.points(start)
        self.credits[index][2] = True
        after = self.points(start)
        if self.earned == 1 and before >= KEEP > after:
            self.reach(0, now)

    def review(self, at: datetime) -> None:
        window = self.points(minus_months(at, 12), at)
        if self.earned < 0 or (window >= ENTRY and self.earned < 1):
            self.reach(1 if window >= ENTRY else 0, at)  # a rise at any review
            return
        assert self.due is not None
        if self.due > at:
            return  # not this member's anniversary yet
        if self.earned == 1 and window < KEEP:
            self.reach(0, at)
        else:
            self.due = anniversary(self.due, at)


class TierOptionsMachine(RuleBasedStateMachine):
    """Drives the services and the model side by side for one member."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.clock = FrozenClock(START)
        self.ctx = ServiceContext(engine, self.clock)
        self.program = program_svc.create_program(
            self.ctx, program_command(f"tom-{uuid.uuid4().hex[:10]}")
        )
        rules.publish(self.ctx, self.program, DOCUMENT, actor="test")
        enroll = member_svc.Enroll(
            (member_svc.identifier("card", f"O{uuid.uuid4().hex[:12].upper()}"),)
        )
        self.member = member_svc.enroll(self.ctx, self.program, enroll).id
        self.model = Model()
        self.receipts: dict[str, int] = {}  # receipt -> index into the model's credits
        self._n = itertools.count()

    @initialize()
    def start_at_gold(self) -> None:
        """Gold (1,100 points) reached 200 days after the first purchase: returns and
        reviews have a tier to take, and the first purchase leaves the window before the
        anniversary (a review then must not judge the member yet)."""
        self.buy(14_000)
        self.clock.advance(timedelta(days=200))
        self.buy(8_000)

    @rule(amount=st.sampled_from([2_000, 8_000, 14_000]))
    def buy(self, amount: int) -> None:
        """A purchase earning 5 %: 100, 400 or 700 points."""
        receipt = f"R{next(self._n)}"
        body = {
            "receipt_id": receipt,
            "member_id": self.member,
            "lines": [{"line_id": "1", "sku": "S", "amount": str(amount)}],
        }
        purchases.commit(self.ctx, self.program, commands.purchase(self.ctx, self.program, body))
        self.receipts[receipt] = len(self.model.credits)
        self.model.credit(self.clock.now(), amount // 20)

    @precondition(lambda self: any(not self.model.credits[i][2] for i in self.receipts.values()))
    @rule(pick=st.integers(min_value=0, max_value=50))
    def give_back(self, pick: int) -> None:
        """A whole purchase returned."""
        open_ = [r for r, i in self.receipts.items() if not self.model.credits[i][2]]
        receipt = open_[pick % len(open_)]
        cmd = commands.return_(receipt, {"return_id": f"ret-{receipt}"})
        purchases.process_return(self.ctx, self.program, cmd)
        self.model.give_back(self.receipts[receipt], self.clock.now())

    @rule()
    def event(self) -> None:
        """An event rule's 300 points (counted: ``from`` names events)."""
        body = {"event_id": f"E{next(self._n)}", "type": "review", "member_id": self.member}
        events.record_event(self.ctx, self.program, commands.event(body))
        self.model.credit(self.clock.now(), 300)

    @rule(delta=st.sampled_from([50, 250]))
    def adjust(self, delta: int) -> None:
        """Support adds points (counted: ``from`` names adjustments)."""
        cmd = Adjust(self.member, delta, key=f"A{next(self._n)}", reason="goodwill", actor="t")
        points.adjust(self.ctx, self.program, cmd)
        self.model.credit(self.clock.now(), delta)

    @rule(days=st.sampled_from([1, 20, 90, 200, 400]))
    def jump_and_review(self, days: int) -> None:
        """The clock moves on and one (possibly late) review runs then."""
        self.clock.advance(timedelta(days=days))
        tiers.review_tiers(self.ctx, self.program, self.clock.now())
        self.model.review(self.clock.now())

    @invariant()
    def same_tier(self) -> None:
        got = tiers.member_tier(self.ctx, self.program, self.member)["tier_code"]
        want = TIERS[self.model.earned] if self.model.earned >= 0 else None
        assert got == want, self.model


def test_tier_options_agree_with_reference_model(backend):
    """Random purchases, returns, events, adjustments and late anniversary reviews keep the
    member's tier equal to the reference model's."""
    engine = engine_for(backend)
    run_state_machine_as_test(
        lambda: TierOptionsMachine(engine),
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
