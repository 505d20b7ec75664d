"""``kopilka analytics`` on an SQLite file: rebuild (whole and by range), refresh, the KPIs,
the budget cap, guest receipts from a CSV (a bad row writes nothing) and exports for BI as
CSV and Parquet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services import programs as program_svc
from kopilka.services import purchases, rules
from kopilka.services.context import ServiceContext
from kopilka.services.exports import DATASETS
from kopilka.store.db import make_engine
from tests import commands
from tests.e2e.test_cli import Cli, cli_on

RULES = "rules: [{id: base, kind: rate, rate: {points: 1, per: '100'}}]\n"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """Program 'shop' whose member 1 bought for 1,000 and 500 on 1 and 2 June 2025."""
    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok("program", "create", "--code", "shop")
        cli.ok("member", "add", "-p", "shop", "--card", "1000-0001")
        engine = make_engine(cli.url)
        try:
            ctx = ServiceContext(engine, FrozenClock(datetime(2025, 6, 1, 10, tzinfo=UTC)))
            program = program_svc.get_program(ctx, "shop")
            rules.publish(ctx, program, RULES, actor="test")
            for receipt, amount, day in (("R-1", "1000", 1), ("R-2", "500", 2)):
                body = {
                    "receipt_id": receipt,
                    "member_id": 1,
                    "occurred_at": f"2025-06-0{day}T10:00:00Z",
                    "lines": [{"line_id": "1", "sku": "S", "amount": amount}],
                }
                ctx.clock.set(datetime(2025, 6, day, 11, tzinfo=UTC))  # type: ignore[attr-defined]
                purchases.commit(ctx, program, commands.purchase(ctx, program, body))
        finally:
            engine.dispose()
        yield cli


def test_rebuild_then_kpis_then_refresh(shop: Cli) -> None:
    """A rebuild makes the KPIs read both purchases and their 15 points; a range rebuild
    of one day keeps them; a refresh with nothing new adds nothing."""
    report = shop.json("analytics", "rebuild", "-p", "shop")
    assert report["purchases"] == 2
    kpis = shop.json(
        "analytics",
        "kpis",
        "-p",
        "shop",
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-30",
        "--grain",
        "day",
    )
    assert kpis["totals"]["purchases"] == 2
    assert kpis["totals"]["issued"] == 15
    assert [p["bucket"] for p in kpis["series"]] == ["2025-06-01", "2025-06-02"]
    shop.ok("analytics", "rebuild", "-p", "shop", "--from", "2025-06-02", "--to", "2025-06-02")
    again = shop.json(
        "analytics", "kpis", "-p", "shop", "--from", "2025-06-01", "--to", "2025-06-30"
    )
    assert again["totals"] == kpis["totals"]
    assert shop.json("analytics", "refresh", "-p", "shop")["entries"] == 0
    bad = shop("analytics", "kpis", "-p", "shop", "--from", "2025-06-31")
    assert bad.exit_code != 0
    assert "from must be a date written YYYY-MM-DD" in bad.stderr


def test_budget_cap_and_guest_receipts(shop: Cli, tmp_path: Path) -> None:
    """The cap is set as a percentage and shown; a CSV of guest receipts is recorded
    (once: a second load records none), and one bad total refuses the whole file."""
    assert shop.json("analytics", "budget", "-p", "shop", "--cap", "3.5")["budget_cap_bp"] == 350
    assert shop("analytics", "budget", "-p", "shop", "--cap", "abc").exit_code != 0
    good = tmp_path / "guests.csv"
    good.write_text(
        "receipt_id,occurred_at,total,store\nG1,2025-06-01T09:00:00Z,250.00,S1\n"
        "G2,2025-06-01T09:30:00Z,150,S1\n"
    )
    assert shop.json("analytics", "guest-receipts", "-p", "shop", str(good))["recorded"] == 2
    assert shop.json("analytics", "guest-receipts", "-p", "shop", str(good))["recorded"] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("receipt_id,occurred_at,total\nG3,2025-06-01T09:00:00Z,1\nG4,soon,1\n")
    result = shop("analytics", "guest-receipts", "-p", "shop", str(bad))
    assert result.exit_code != 0
    assert "line 3" in result.stderr
    assert shop.count("guest_receipts") == 2
    shop.ok("analytics", "rebuild", "-p", "shop")
    kpis = shop.json(
        "analytics", "kpis", "-p", "shop", "--from", "2025-06-01", "--to", "2025-06-01"
    )
    assert kpis["totals"]["average_check_guest_minor"] == 20000


def test_exports_as_csv_and_parquet(shop: Cli, tmp_path: Path) -> None:
    """Purchases as CSV to stdout and as Parquet to a file, in the documented layout."""
    out = shop.ok(
        "analytics",
        "export",
        "-p",
        "shop",
        "purchases",
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-30",
    ).stdout
    lines = out.splitlines()
    assert lines[0].split(",") == [c.name for c in DATASETS["purchases"]]
    assert [line.split(",")[1] for line in lines[1:]] == ["R-1", "R-2"]
    target = tmp_path / "awards.parquet"
    shop.ok(
        "analytics",
        "export",
        "-p",
        "shop",
        "awards",
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-30",
        "--format",
        "parquet",
        "-o",
        str(target),
    )
    table = pq.read_table(target)
    assert table.column_names == [c.name for c in DATASETS["awards"]]
    assert table.column("points").to_pylist() == [10, 5]


def test_pilots_table_and_json(shop: Cli, tmp_path: Path) -> None:
    """With a rule piloted on half the members published, ``analytics pilots`` lists it
    (a table, or the API's JSON shape with ``--json``), the one member in one of its two
    groups; without a pilot it says there is none."""
    day = datetime.now(UTC).date().isoformat()
    none = shop.ok("analytics", "pilots", "-p", "shop", "--from", day, "--to", day)
    assert "no pilot" in none.stdout
    doc = tmp_path / "pilot.yaml"
    doc.write_text(
        RULES.rstrip("]\n")
        + ", {id: trial, kind: rate, rate: {percent: 5}, pilot: {share_percent: 50}}]\n"
    )
    shop.ok("rules", "publish", "-p", "shop", str(doc))
    table = shop.ok("analytics", "pilots", "-p", "shop", "--from", day, "--to", day)
    assert "trial" in table.stdout
    report = shop.json("analytics", "pilots", "-p", "shop", "--from", day, "--to", day)
    (pilot,) = report["pilots"]
    assert pilot["pilot"]["members"] + pilot["control"]["members"] == 1
    assert pilot["roi"] is None  # nothing bought today, no points: no ROI


def test_campaigns_table_and_json(shop: Cli, tmp_path: Path) -> None:
    """After a rebuild, the June purchases' base rule, given the campaign ``launch`` from
    the start, is read back as that campaign with its 15 points (a table, or JSON)."""
    doc = tmp_path / "campaign.yaml"
    doc.write_text(RULES.replace("'100'}}", "'100'}, campaign: launch}"))
    shop.ok(
        "rules",
        "publish",
        "-p",
        "shop",
        str(doc),
        "--effective-at",
        "2025-05-01T00:00:00Z",
        "--backdate",
    )
    shop.ok("analytics", "rebuild", "-p", "shop")
    args = ("analytics", "campaigns", "-p", "shop", "--from", "2025-06-01", "--to", "2025-06-30")
    assert "launch" in shop.ok(*args).stdout
    (launch,) = shop.json(*args)["campaigns"]
    assert (launch["campaign"], launch["rules"], launch["points"]) == ("launch", ["base"], 15)
