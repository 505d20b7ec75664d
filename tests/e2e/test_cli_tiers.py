"""``kopilka tiers review`` and ``kopilka tiers recompute`` on an SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services import programs as program_svc
from kopilka.services import purchases, rules
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from tests import commands
from tests.e2e.test_cli import Cli, cli_on

TIERED = """
rules: [{id: base, kind: rate, rate: {percent: 5}}]
tiers:
  window: {kind: calendar_year}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}, keep: {spend: "10000"}}
"""


@pytest.fixture
def tiered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """Program 'grocery' with tiers; member 1 spent 16,000 RUB in 2025 (gold), member 2
    nothing; member 3 spent 16,000 RUB before the program had tiers."""
    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok("program", "create", "--code", "grocery")
        for n in (1, 2, 3):
            cli.ok("member", "add", "-p", "grocery", "--card", f"1000-000{n}")
        engine = make_engine(cli.url)
        try:
            ctx = ServiceContext(engine, FrozenClock(datetime(2025, 6, 1, tzinfo=UTC)))
            program = program_svc.get_program(ctx, "grocery")

            def buy(member_id: int, receipt: str) -> None:
                body = {
                    "receipt_id": receipt,
                    "member_id": member_id,
                    "lines": [{"line_id": "1", "sku": "S", "amount": "16000"}],
                }
                purchases.commit(ctx, program, commands.purchase(ctx, program, body))

            buy(3, "R-3")
            rules.publish(ctx, program, TIERED, actor="test")
            buy(1, "R-1")
        finally:
            engine.dispose()
        yield cli


def test_review_dry_run_then_for_real(tiered: Cli) -> None:
    """A dry run reports member 1's downgrade in 2027 and writes nothing; the real run
    writes it; the text output says what happened."""
    dry = tiered.json("tiers", "review", "-p", "grocery", "--as-of", "2027-01-01", "--dry-run")
    assert dry["dry_run"]
    assert dry["downgraded"] == 1
    assert {"member_id": 1, "from_tier": "gold", "to_tier": "basic"} in dry["changes"]
    assert tiered.sql("SELECT tier_code FROM members WHERE id = 1")[0][0] == "gold"
    out = tiered.ok("tiers", "review", "-p", "grocery", "--as-of", "2027-01-01T03:00:00+03:00")
    assert "1 down" in out.stdout
    assert "member 1: gold -> basic" in out.stdout
    assert tiered.sql("SELECT tier_code FROM members WHERE id = 1")[0][0] == "basic"


def test_recompute_puts_everyone_on_a_tier(tiered: Cli) -> None:
    """Recompute walks every member: those with no tier yet get the tier their purchases
    this year qualify for (the base tier here); gold stays (losing waits for a review)."""
    report = tiered.json("tiers", "recompute", "-p", "grocery")
    assert report["members"] == 3
    assert report["upgraded"] == 2
    codes = dict(tiered.sql("SELECT id, tier_code FROM members ORDER BY id"))
    assert codes == {1: "gold", 2: "basic", 3: "basic"}


ANNIVERSARY = TIERED.replace(
    "window: {kind: calendar_year}",
    "window: {kind: rolling, months: 12}\n  review: {schedule: anniversary}",
)


def test_review_as_of_an_anniversary(tiered: Cli) -> None:
    """Under anniversary reviews (rolling 12 months) member 1, gold since 1 June 2025,
    keeps it at a review on 31 May 2026 and loses it at the one on 1 June 2026, the
    anniversary, when the twelve months judged hold nothing."""
    engine = make_engine(tiered.url)
    try:
        ctx = ServiceContext(engine, FrozenClock(datetime(2025, 6, 2, tzinfo=UTC)))
        rules.publish(ctx, program_svc.get_program(ctx, "grocery"), ANNIVERSARY, actor="test")
    finally:
        engine.dispose()
    before = tiered.json("tiers", "review", "-p", "grocery", "--as-of", "2026-05-31T03:30")
    assert before["downgraded"] == 0
    on_the_day = tiered.json("tiers", "review", "-p", "grocery", "--as-of", "2026-06-01T03:30")
    assert {"member_id": 1, "from_tier": "gold", "to_tier": "basic"} in on_the_day["changes"]
