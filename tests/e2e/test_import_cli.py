"""``kopilka import`` from the command line: members then purchases, JSON summary, errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from kopilka.cli import app
from kopilka.domain.clock import FrozenClock
from kopilka.services import programs, rules
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade

RULES = 'rules:\n  - {id: base, kind: rate, rate: {points: 1, per: "100"}}\n'


def _setup(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    engine = make_engine(url)
    ctx = ServiceContext(engine, FrozenClock(datetime(2025, 1, 1, tzinfo=UTC)))
    program = programs.create_program(ctx, programs.CreateProgram("shop"))
    rules.publish(ctx, program, RULES)
    engine.dispose()
    monkeypatch.setenv("KOPILKA_DATABASE_URL", url)
    return url


def test_import_members_and_purchases_prints_a_summary_and_rejects(tmp_path, monkeypatch):
    """The commands import both files, report counts as JSON and list a bad line."""
    _setup(tmp_path, monkeypatch)
    members = tmp_path / "members.csv"
    members.write_text("card,first_name\nCARD0001,Anna\nCARD0002,Boris\n")
    purchases = tmp_path / "purchases.csv"
    purchases.write_text(
        "receipt_id,member_card,occurred_at,line_id,sku,amount\n"
        "R1,CARD0001,2025-06-01T10:00:00+03:00,1,MILK,250.00\n"
        "R1,CARD0001,2025-06-01T10:00:00+03:00,2,BREAD,150.00\n"
        "R2,CARD0002,2025-06-02T10:00:00Z,1,MILK,oops\n"
    )
    runner = CliRunner()
    out = runner.invoke(app, ["import", "members", str(members), "-p", "shop", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["imported"] == 2
    out = runner.invoke(app, ["import", "purchases", str(purchases), "-p", "shop", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert (summary["imported"], summary["rejected"], summary["points_earned"]) == (1, 1, 4)
    assert summary["first_errors"][0]["line"] == 4
    again = runner.invoke(app, ["import", "purchases", str(purchases), "-p", "shop"])
    assert "imported before" in again.stdout


def test_reject_mode_exits_with_the_error_and_the_line(tmp_path, monkeypatch):
    """--on-error reject exits 2 with error[validation_error] naming the bad line."""
    _setup(tmp_path, monkeypatch)
    members = tmp_path / "members.csv"
    members.write_text("card,birthday\nCARD0001,1990-01-01\nCARD0002,not-a-date\n")
    out = CliRunner().invoke(
        app, ["import", "members", str(members), "-p", "shop", "--on-error", "reject"]
    )
    assert out.exit_code == 2
    assert "error[validation_error]" in out.output
    assert "line 3" in out.output


def _purchases(tmp_path):
    members = tmp_path / "members.csv"
    members.write_text("card\n" + "".join(f"CARD{i:04d}\n" for i in range(6)))
    purchases = tmp_path / "purchases.csv"
    purchases.write_text(
        "receipt_id,member_card,occurred_at,line_id,sku,amount\n"
        + "".join(
            f"R{i},CARD{i % 6:04d},2025-06-01T10:{i:02d}:00Z,1,MILK,{100 + i}.00\n"
            for i in range(30)
        )
    )
    return members, purchases


@pytest.mark.xdist_group("import-jobs")  # spawns processes, as test_import_parallel does
def test_jobs_book_with_several_processes_on_postgresql(postgres_url, tmp_path, monkeypatch):
    """--jobs 2 imports the file with two booking processes and says so."""
    code = f"shop{uuid.uuid4().hex[:8]}"
    engine = make_engine(postgres_url)
    ctx = ServiceContext(engine, FrozenClock(datetime(2025, 1, 1, tzinfo=UTC)))
    rules.publish(ctx, programs.create_program(ctx, programs.CreateProgram(code)), RULES)
    engine.dispose()
    monkeypatch.setenv("KOPILKA_DATABASE_URL", postgres_url)
    members, purchases = _purchases(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["import", "members", str(members), "-p", code]).exit_code == 0
    out = runner.invoke(app, ["import", "purchases", str(purchases), "-p", code, "--jobs", "2"])
    assert out.exit_code == 0, out.output
    assert "booked by 2 processes" in out.stdout
    assert "30 imported" in out.stdout


def test_jobs_on_sqlite_exit_with_a_clear_error(tmp_path, monkeypatch):
    _setup(tmp_path, monkeypatch)
    members, purchases = _purchases(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["import", "members", str(members), "-p", "shop"]).exit_code == 0
    out = runner.invoke(app, ["import", "purchases", str(purchases), "-p", "shop", "--jobs", "2"])
    assert out.exit_code == 2
    assert "error[validation_error]" in out.output
    assert "needs PostgreSQL" in out.output
