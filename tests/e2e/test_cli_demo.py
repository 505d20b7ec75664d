"""``kopilka demo`` and ``kopilka serve``: demo data that is built once and verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from tests.e2e.test_cli import Cli, cli_on

TABLES = (
    "programs",
    "members",
    "member_identifiers",
    "journal_entries",
    "lots",
    "holds",
    "purchases",
    "line_awards",
    "rule_sets",
    "audit_log",
    # the newer capabilities the demo shows (kopilka.demo.showcase)
    "rewards",
    "reward_pool_codes",
    "issued_rewards",
    "offer_activations",
    "favourite_choices",
    "reminder_settings",
    "messages",
)


@pytest.fixture
def demo_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A CLI on an empty SQLite file: the demo migrates it itself."""
    with cli_on(tmp_path, monkeypatch) as cli:
        yield cli


def test_demo_builds_verified_data_and_is_idempotent(demo_cli: Cli) -> None:
    """A second demo run adds nothing; the data verifies and covers every kind of movement.

    The demo's history ends at the hour it runs in, so the test runs at a fixed time: both
    runs in the same hour (a run in the next hour adds that hour's events), and on the
    history of an hour whose rerun once reserved points the first run had not (a purchase
    quoted against today's balance left a hold to time out)."""
    with time_machine.travel(datetime(2026, 11, 23, 12, 5, tzinfo=UTC), tick=True):
        _demo_twice(demo_cli)


def _demo_twice(demo_cli: Cli) -> None:
    first = demo_cli.ok("demo", "--members", "20")
    assert "ledger verified" in first.stdout
    counts = {t: demo_cli.count(t) for t in TABLES}
    assert counts["programs"] == 1
    assert counts["members"] == 20
    assert counts["rule_sets"] == 2
    assert counts["purchases"] > 0
    assert counts["line_awards"] > 0
    # a catalog with redemptions, an activated offer, reminders on and messages recorded
    assert counts["rewards"] == 6  # a reward offer to activate among them
    assert counts["issued_rewards"] > 0
    assert counts["offer_activations"] > 0
    assert counts["favourite_choices"] > 0
    assert counts["reminder_settings"] == 1
    assert counts["messages"] > 0
    # every back-office write of the demo is audited, as through the API (none were)
    actions = {a for (a,) in demo_cli.sql("SELECT DISTINCT action FROM audit_log")}
    assert {"rules.publish", "member.block", "job.expire", "job.activate"} <= actions
    assert "reminders.settings" in actions
    second = demo_cli.ok("demo", "--members", "20")
    assert "program grocery already there" in second.stdout
    assert {t: demo_cli.count(t) for t in TABLES} == counts
    kinds = {k for (k,) in demo_cli.sql("SELECT DISTINCT kind FROM journal_entries")}
    assert {"earn", "activate", "redeem", "hold", "capture"} <= kinds
    names = [n for (n,) in demo_cli.sql("SELECT first_name FROM members")]
    assert all(n and n[0] in "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ" for n in names)
    assert demo_cli.json("verify")["ok"]


def test_demo_reset_recreates_the_database(demo_cli: Cli) -> None:
    """--reset starts from an empty SQLite file, so a smaller demo replaces a larger one."""
    demo_cli.ok("demo", "--members", "12")
    demo_cli.ok("member", "add", "-p", "grocery", "--card", "9999-0001")
    demo_cli.ok("demo", "--members", "5", "--reset")
    assert demo_cli.count("members") == 5


def test_demo_prints_where_to_look(demo_cli: Cli) -> None:
    """The demo ends with commands to try and the API's documentation URLs."""
    out = demo_cli.ok("demo", "--members", "5").stdout
    assert "kopilka member show -p grocery --card" in out
    assert "http://127.0.0.1:8000/docs" in out
    assert "/openapi.json" in out


def test_serve_factory_builds_the_api_on_the_configured_database(demo_cli: Cli) -> None:
    """The uvicorn factory migrates the configured database and returns the ASGI app."""
    pytest.importorskip("kopilka.api.app")
    from kopilka.cli.serve import app_factory

    api = app_factory()
    assert any(getattr(r, "path", "") == "/openapi.json" for r in api.routes)
    assert demo_cli.count("programs") == 0
