"""``kopilka reminders``: show and change a program's reminder settings; a bad value is
refused with its reason and writes nothing; a change is audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import cli_on


def test_set_then_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off by default; switched on with parameters, the rest kept; bad days refused."""
    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok("program", "create", "--code", "grocery")
        shown = cli.json("reminders", "show", "-p", "grocery")
        assert shown["expiry"] == {"enabled": False, "days_before": [30, 7, 1]}
        out = cli.ok(
            "reminders",
            "set",
            "-p",
            "grocery",
            "--expiry",
            "--expiry-days",
            "1, 14",
            "--win-back",
            "--win-back-days",
            "90",
            "--actor",
            "olga",
        )
        assert "expiry reminders: on (14, 1 days before)" in out.stdout
        assert "win-back: on (after 90 days)" in out.stdout
        assert "birthday greetings: off" in out.stdout
        refused = cli("reminders", "set", "-p", "grocery", "--expiry-days", "7,7")
        assert refused.exit_code == 2
        assert "a day before expiry is given twice" in refused.stderr
        again = cli.json("reminders", "show", "-p", "grocery")
        assert again["expiry"] == {"enabled": True, "days_before": [14, 1]}
        assert again["win_back"] == {"enabled": True, "days": 90}
        audited = cli.sql("SELECT actor, action FROM audit_log WHERE action = 'reminders.settings'")
        assert [tuple(row) for row in audited] == [("cli:olga", "reminders.settings")]
