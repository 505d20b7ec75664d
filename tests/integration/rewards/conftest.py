"""Factories for rewards tests: a program with tiers (basic, silver, gold), rewards of the
catalog, and funded members."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.domain.rewards import CouponKind, CouponTerms, Reward, RewardKind, Text
from kopilka.services import points, rewards, rules, tiers
from kopilka.services.points import Earn
from kopilka.services.rewards.views import RewardView

_codes = itertools.count(1)

TIERED = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
tiers:
  window: {kind: lifetime}
  downgrade: {mode: never}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: silver, name: {ru: Серебряный, en: Silver}, entry: {spend: "10000"}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "50000"}}
"""


@pytest.fixture
def program(ctx, make_program) -> Program:
    """A program with three tiers."""
    made = make_program()
    rules.publish(ctx, made, TIERED, actor="test")
    return made


def a_reward(**fields: Any) -> Reward:
    """A catalog row to save: a 100-point gift unless told otherwise."""
    base = Reward(
        id=0,
        program_id=0,
        code=f"R{next(_codes)}",
        kind=RewardKind.GIFT,
        name=Text("Mug", "Кружка"),
        description=Text("A mug", "Кружка с логотипом"),
        points=100,
    )
    return replace(base, **fields)


def a_coupon(**fields: Any) -> Reward:
    """A 10 % coupon from 500 RUB on dairy."""
    terms = CouponTerms(CouponKind.PERCENT, 10, 50_000, ("dairy",))
    return a_reward(kind=RewardKind.COUPON, coupon=terms, **fields)


@pytest.fixture
def add_reward(ctx, program) -> Callable[..., RewardView]:
    """Save a reward into the catalog of ``program``."""

    def add(reward: Reward | None = None, **fields: Any) -> RewardView:
        return rewards.save_reward(
            ctx, program, rewards.SaveReward(reward or a_reward(**fields), actor="test")
        )

    return add


@pytest.fixture
def member(ctx, program, make_member) -> Callable[..., int]:
    """A member with ``balance`` points (and a manual ``tier``, if given)."""

    def make(balance: int = 1000, tier: str | None = None) -> int:
        m = make_member(program)
        if balance:
            points.earn(ctx, program, Earn(m, balance, key=f"fund-{m}"))
        if tier:
            tiers.set_manual_tier(
                ctx,
                program,
                tiers.SetManualTier(m, tier, Reason(ReasonCode.GOODWILL, "test")),
                actor="test",
            )
        return m

    return make
