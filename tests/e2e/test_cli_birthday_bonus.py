"""``kopilka jobs birthday-bonus``: credits a given local day's birthdays now (a day the
worker missed), once however often it is run; a malformed or future day is refused with
nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli_on

RULES = """
schema_version: 1
rules:
  - {id: birthday-gift, kind: event, event: birthday, points: 300}
"""


def test_credit_a_missed_day_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The member born on 20 March is credited for 20 March of last year (a day the worker
    missed) by the command, 300 points; a second run credits nobody and counts them skipped; a date
    that is not one, and tomorrow, are refused (exit 2) with nothing more written."""
    from kopilka.services import members as member_svc
    from kopilka.services import programs as program_svc
    from kopilka.services.context import ServiceContext
    from kopilka.store.db import make_engine

    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok("program", "create", "--code", "shop", "--timezone", "Asia/Kamchatka")
        document = tmp_path / "rules.yaml"
        document.write_text(RULES)
        cli.ok("rules", "publish", str(document), "-p", "shop", "--actor", "deploy")
        engine = make_engine(cli.url)
        try:
            ctx = ServiceContext(engine)
            program = program_svc.get_program(ctx, "shop")
            enroll = member_svc.Enroll(
                (member_svc.identifier("card", "CARD-1"),),
                profile=member_svc.Profile(birthday=date(1990, 3, 20)),
            )
            member_svc.enroll(ctx, program, enroll)
        finally:
            engine.dispose()
        today = datetime.now(UTC).date()
        day = f"{today.year - 1}-03-20"  # always a past day (the CLI's clock is real)
        first = cli.json("jobs", "birthday-bonus", "-p", "shop", "--date", day)
        assert (first["credited"], first["skipped"], first["points"]) == (1, 0, 300)
        assert first["day"] == day
        again = cli.ok("jobs", "birthday-bonus", "-p", "shop", "--date", day).stdout
        assert "credited 0 (0 points), skipped 1" in again
        bad = cli("jobs", "birthday-bonus", "-p", "shop", "--date", "20-03-2026")
        assert bad.exit_code == 2
        assert "YYYY-MM-DD" in bad.stderr
        tomorrow = (today + timedelta(days=2)).isoformat()
        ahead = cli("jobs", "birthday-bonus", "-p", "shop", "--date", tomorrow)
        assert ahead.exit_code == 2
        assert "has not begun yet" in ahead.stderr
        rows = cli.sql("SELECT points, reference FROM journal_entries WHERE kind = 'earn'")
        assert [tuple(r) for r in rows] == [(300, f"birthday:{day[:4]}")]
