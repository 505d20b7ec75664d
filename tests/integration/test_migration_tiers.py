"""Migration 0012 (tiers): an existing free-text tier becomes a manual tier for good, with
its history line, so nobody loses status on upgrade; down and up again on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from kopilka.domain.clock import FrozenClock
from kopilka.services import programs as program_svc
from kopilka.services import rules, tiers
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import downgrade, upgrade
from kopilka.store.tables import member_balances, members
from tests.conftest import scratch_postgres
from tests.program_spec import program_command

TIERS = """
rules: [{id: base, kind: rate, rate: {percent: 5}}]
tiers:
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: vip, name: {ru: VIP, en: VIP}, entry: {spend: "100000"}}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, which the test may migrate up and down."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails) like the other tests
    with scratch_postgres("kopilka_t22") as url:
        yield url


def _old_member(engine, program_id: int, tier_code: str | None) -> int:
    """A member row (and its balance row) with only the columns revision 0018 has."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        member_id = conn.execute(
            insert(members).values(
                program_id=program_id,
                status="active",
                attributes={},
                tier_code=tier_code,
                lifetime_spend_minor=0,
                purchase_count=0,
                enrolled_at=at,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(member_balances).values(
                member_id=member_id, program_id=program_id, available=0, pending=0, held=0
            )
        )
    return int(member_id)


def test_existing_tier_codes_become_manual_tiers(scratch_url):
    """A member whose tier_code was set before tiers keeps it as a manual floor for good,
    and the history says it was carried over."""
    upgrade(scratch_url, "0018")  # the revision before 0019 (tiers)
    engine = make_engine(scratch_url)
    try:
        ctx = ServiceContext(engine, FrozenClock(datetime(2026, 3, 14, tzinfo=UTC)))
        program = program_svc.create_program(ctx, program_command(f"t{uuid.uuid4().hex[:6]}"))
        # written as the code of 0018 wrote them: today's services read columns later
        # migrations add (members.tier_until, 0020)
        m = _old_member(engine, program.id, "vip")
        plain = _old_member(engine, program.id, None)
        upgrade(scratch_url)
        rules.publish(ctx, program, TIERS, actor="test")
        view = tiers.member_tier(ctx, program, m)
        assert view["tier_code"] == "vip"
        assert view["manual"] == {
            "tier_code": "vip",
            "until": None,
            "reason": "migration: tier_code before tiers",
        }
        assert [h["reason"] for h in view["history"]] == ["migration"]
        assert tiers.member_tier(ctx, program, plain)["history"] == []
        # a review keeps the floor
        tiers.review_tiers(ctx, program, datetime(2027, 1, 1, tzinfo=UTC))
        assert tiers.member_tier(ctx, program, m)["tier_code"] == "vip"
    finally:
        engine.dispose()
    downgrade(scratch_url, "0018")
    upgrade(scratch_url)
