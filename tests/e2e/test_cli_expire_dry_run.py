"""``kopilka expire --dry-run``: reports what would expire, and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import Cli, cli_on

TABLES = ("journal_entries", "postings", "lots", "lot_draws", "holds", "member_balances")


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """Program 'grocery' (12-month expiry) with one member holding 100 points."""
    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok(
            "program", "create", "--code", "grocery", "--expiry-kind", "months_end",
            "--expiry-n", "12",
        )  # fmt: skip
        cli.ok("member", "add", "-p", "grocery", "--card", "1000-0001")
        cli.ok("points", "earn", "100", "-p", "grocery", "--id", "1", "--key", "seed-earn")
        yield cli


def _rows(cli: Cli) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(tuple(r) for r in cli.sql(f"SELECT * FROM {t}")) for t in TABLES}


def test_dry_run_reports_what_would_expire_and_writes_nothing(shop: Cli) -> None:
    """--dry-run counts the due lot and its points, and every ledger row stays as it was;
    the real run then expires exactly what the dry run reported."""
    before = _rows(shop)
    text = shop.ok("expire", "-p", "grocery", "--as-of", "2030-01-01", "--dry-run").stdout
    assert "dry run: nothing written" in text
    assert "lots that would expire: 1 (100 points, 1 member)" in text
    preview = shop.json("expire", "-p", "grocery", "--as-of", "2030-01-01", "--dry-run")
    assert preview["dry_run"] is True
    assert (preview["expire_due"], preview["points"]["expire_due"]) == (1, 100)
    assert _rows(shop) == before
    assert shop.json("member", "show", "-p", "grocery", "--id", "1")["balance"]["available"] == 100

    done = shop.json("expire", "-p", "grocery", "--as-of", "2030-01-01")
    assert {k: done[k] for k in ("expire_holds", "activate_due", "expire_due")} == {
        k: preview[k] for k in ("expire_holds", "activate_due", "expire_due")
    }
    assert _rows(shop) != before
    assert shop.json("verify")["totals"]["breakage"] == 100
