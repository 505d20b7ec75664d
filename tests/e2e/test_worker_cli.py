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
from pathlib import Path

import pytest

KOPILKA = [sys.executable, "-c", "from kopilka.cli import main; main()"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh SQLite database with a program and two members with cards."""
    e = {**os.environ, "KOPILKA_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    run(e, "db", "upgrade")
    run(e, "program", "create", "--code", "shop", "--timezone", "Europe/Moscow")
    run(e, "member", "add", "-p", "shop", "--card", "CARD-0001")
    run(e, "member", "add", "-p", "shop", "--card", "CARD-0002")
    return e


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
    run(
        env,
        "accruals",
        "schedule",
        "-p",
        "shop",
        "--points",
        "500",
        "--reason",
        "gift",
        "--at",
        "2026-01-01T00:00:00Z",
        code=2,
    )  # no members named
    now = subprocess.run(  # the accrual is due now
        [
            sys.executable,
            "-c",
            "import datetime;print(datetime.datetime.now(datetime.UTC).isoformat())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    run(
        env,
        "accruals",
        "schedule",
        "-p",
        "shop",
        "--points",
        "500",
        "--reason",
        "gift",
        "--at",
        now,
        "--cards",
        str(cards),
    )
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
    accruals = json.loads(run(env, "accruals", "list", "-p", "shop", "--json").stdout)
    assert accruals[0]["status"] == "done"
    assert accruals[0]["counts"] == {"credited": 2, "refused": 0}
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


def test_jobs_schedule_and_list_from_the_command_line(env):
    """A bad cron is refused (exit 2, the field named) and nothing changes; a good one is
    the program's schedule; ``jobs list`` shows the runs in a table."""
    bad = run(env, "jobs", "schedule", "shop", "sweep", "*/5 * *", code=2)
    assert "error[validation_error]" in bad.stderr
    assert "cron" in bad.stderr
    schedules = json.loads(run(env, "jobs", "schedules", "shop", "--json").stdout)
    assert {s["job"]: s["cron"] for s in schedules}["sweep"] == "*/5 * * * *"
    run(env, "jobs", "schedule", "shop", "sweep", "0 3 * * *")
    schedules = json.loads(run(env, "jobs", "schedules", "shop", "--json").stdout)
    assert {s["job"]: s["cron"] for s in schedules}["sweep"] == "0 3 * * *"
    run(env, "worker", "--once")
    table = run(env, "jobs", "list", "--program", "shop", "--limit", "5").stdout
    assert "accruals" in table
    assert "ok" in table
