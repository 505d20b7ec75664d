"""``kopilka worker`` as a real process on SQLite: SIGTERM lets it finish and exit 0; a
second worker refuses to start and names the first; ``kopilka jobs`` and ``kopilka
accruals`` from the command line, a bad cron refused with nothing written."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli_on

KOPILKA = [sys.executable, "-c", "from kopilka.cli import main; main()"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh SQLite database with a program and two members with cards (made in this
    process: the workers under test are the only processes started)."""
    from kopilka.services import members as member_svc
    from kopilka.services import programs as program_svc
    from kopilka.services.context import ServiceContext
    from kopilka.store.db import make_engine
    from kopilka.store.migrate import upgrade
    from tests.program_spec import program_command

    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        ctx = ServiceContext(engine)
        program = program_svc.create_program(ctx, program_command("shop"))
        for card in ("CARD-0001", "CARD-0002"):
            enroll = member_svc.Enroll((member_svc.identifier("card", card),))
            member_svc.enroll(ctx, program, enroll)
    finally:
        engine.dispose()
    return {**os.environ, "KOPILKA_DATABASE_URL": url}


def run(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*KOPILKA, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def wait_for(check, what: str, limit: float = 60.0) -> None:
    """Poll ``check`` until it holds (a deadline against a hang, not a timing assertion)."""
    end = time.monotonic() + limit
    while not check():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.1)


def runs(env: dict[str, str]) -> list[dict]:
    """The recorded runs, read from the database file directly (no process per poll)."""
    path = env["KOPILKA_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:
        rows = db.execute("SELECT job, outcome FROM job_runs").fetchall()
    return [{"job": job, "outcome": outcome} for job, outcome in rows]


def test_sigterm_stops_the_worker_cleanly_and_a_second_one_is_refused(env, tmp_path):
    """A worker runs the due jobs; while it runs a second worker refuses to start (exit 2,
    naming the first's process); SIGTERM stops the first with exit 0 and its runs
    recorded, after which a worker starts again."""
    cards = tmp_path / "cards.csv"
    cards.write_text("card\nCARD-0001\nCARD-0002\n")
    now = datetime.now(UTC).isoformat()  # the accrual is due at once
    run(env, "accruals", "schedule", "-p", "shop", "--points", "500", "--reason", "gift",
        "--at", now, "--cards", str(cards))  # fmt: skip
    first = subprocess.Popen(
        [*KOPILKA, "worker", "--poll", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: {r["job"] for r in runs(env) if r["outcome"] == "ok"} >= {"sweep", "accruals"},
            "the first runs",
        )
        second = run(env, "worker", "--once", code=2)
        assert "worker_running" in second.stderr
        assert f"process {first.pid}" in second.stderr
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "stopped" in out
    assert "job_run_ended" in err
    assert "CARD-0001" not in err  # no personal data in the log
    path = env["KOPILKA_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        status, counts = db.execute("SELECT status, counts FROM scheduled_accruals").fetchone()
    assert status == "done"
    assert json.loads(counts) == {"credited": 2, "refused": 0}
    run(env, "worker", "--once")  # the lock was given back


def test_a_dead_workers_lock_is_taken_over(env):
    """A worker killed with SIGKILL leaves its lock row behind; the next worker sees its
    process is gone and starts."""
    first = subprocess.Popen(
        [*KOPILKA, "worker", "--poll", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(r["outcome"] == "ok" for r in runs(env)), "a run")
    finally:
        first.kill()
        first.wait(timeout=30)
    done = run(env, "worker", "--once")
    assert "stopped" in done.stdout


def test_jobs_schedule_and_list_from_the_command_line(tmp_path, monkeypatch):
    """A bad cron is refused (exit 2, the field named) and nothing changes; a good one is
    the program's schedule; ``jobs list`` shows the runs in a table (in process)."""
    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok("program", "create", "--code", "shop", "--timezone", "Europe/Moscow")
        bad = cli("jobs", "schedule", "shop", "sweep", "*/5 * *")
        assert bad.exit_code == 2
        assert "error[validation_error]" in bad.stderr
        assert "cron" in bad.stderr
        assert cli.count("job_schedules") == 0
        assert {s["job"]: s["cron"] for s in cli.json("jobs", "schedules", "shop")}["sweep"] == (
            "*/5 * * * *"
        )
        cli.ok("jobs", "schedule", "shop", "sweep", "0 3 * * *")
        assert {s["job"]: s["cron"] for s in cli.json("jobs", "schedules", "shop")}["sweep"] == (
            "0 3 * * *"
        )
        nobody = cli("accruals", "schedule", "-p", "shop", "--points", "5", "--reason", "x",
                     "--at", "2026-01-01T00:00:00Z")  # fmt: skip
        assert nobody.exit_code == 2
        assert "--member or --cards" in nobody.stderr
        assert cli.count("scheduled_accruals") == 0
        # every registered job but the sweep, a fresh program's jobs being due at once (the
        # sweep, rescheduled, waits for 3 am; no tiers: the review skips; reminders find
        # nobody to remind)
        from kopilka.services.worker.registry import REGISTRY

        assert f"stopped: {len(REGISTRY) - 1} ok" in cli.ok("worker", "--once").stdout
        table = cli.ok("jobs", "list", "--program", "shop", "--limit", str(len(REGISTRY))).stdout
        assert "accruals" in table
        assert "ok" in table


def test_a_killed_workers_job_is_taken_over_on_postgresql(postgres_url, monkeypatch):
    """A worker that claimed the sweep and was killed (its lease taken ten minutes ago, for
    two minutes: expired) leaves the job running in the record; a ``kopilka worker`` process
    takes it over, records the dead run as abandoned and runs the job itself."""
    from kopilka.domain.clock import FrozenClock, SystemClock
    from kopilka.services import programs as program_svc
    from kopilka.services import worker as worker_svc
    from kopilka.services.context import ServiceContext
    from tests.conftest import engine_for
    from tests.program_spec import program_command

    engine = engine_for(postgres_url)
    code = f"killed-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    program = program_svc.create_program(ServiceContext(engine), program_command(code))
    past = ServiceContext(engine, FrozenClock(SystemClock().now() - timedelta(minutes=10)))
    worker_svc.ensure_schedules(past, [program.id])
    dead = worker_svc.claim(past, "dead", timedelta(minutes=2), [program.id], ["sweep"])
    assert dead is not None
    env = {**os.environ, "KOPILKA_DATABASE_URL": postgres_url}
    done = run(env, "worker", "--once", "--program", code, "--job", "sweep")
    assert "took_over=True" in done.stderr
    runs = worker_svc.list_runs(ServiceContext(engine), program, 10)
    assert [r["outcome"] for r in runs] == ["ok", "abandoned"]
    assert runs[1]["id"] == dead["run_id"]
