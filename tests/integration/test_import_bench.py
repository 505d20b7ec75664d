"""The benchmark scripts run (at tiny sizes); nothing here measures time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bench import bench_expiry, bench_import, machine

# the benchmarks' data files (members, purchases) go to bench/.work by name, so these
# modules share one worker; their databases and quick results go to each test's own
# directory (bench_work)
pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


@pytest.mark.parametrize("script", [bench_import, bench_expiry], ids=["import", "expiry"])
def test_benchmark_script_runs_in_quick_mode(script):
    """--quick generates, imports or sweeps, and verifies a tiny ledger on SQLite."""
    results = script.main(["--quick", "--backends", "sqlite"])
    run = next(iter(results["runs"].values()))
    assert run["verify_ok"] is True


def test_import_benchmark_batch_size_changes_cost_not_outcome():
    """--batch-size runs apart (named -batchN) and books the same ledger as the default
    batches; each run reports the CPU its purchases took, PostgreSQL's own included."""
    default = bench_import.main(["--quick", "--backends", "sqlite", "--scratch"])
    small = bench_import.main(
        ["--quick", "--backends", "sqlite,postgres", "--batch-size", "250", "--scratch"]
    )
    base = default["runs"]["sqlite_parquet"]
    assert base["batch_size"] == bench_import.BATCH
    runs = [small["runs"]["sqlite-batch250_parquet"]]
    if isinstance(small["runs"].get("postgres-batch250_parquet"), dict):
        runs.append(small["runs"]["postgres-batch250_parquet"])
        assert runs[-1]["postgres_cpu_ms_per_purchase"] > 0
        assert runs[-1]["postgres_ceiling_purchases_per_s"] > 0
    assert runs[0]["postgres_cpu_ms_per_purchase"] is None
    assert runs[0]["postgres_ceiling_purchases_per_s"] is None
    for run in runs:
        assert run["batch_size"] == 250
        assert run["verify_ok"] is True
        assert run["client_cpu_ms_per_purchase"] > 0
        for key in ("purchases_imported", "purchases_rejected", "points_earned", "totals"):
            assert run[key] == base[key], key


def test_postgres_ceiling_gives_every_core_to_the_database():
    """0.138 ms of PostgreSQL CPU per purchase on 2 cores: at most ~14,500 purchases/s,
    below the 20,000 goal whatever the client costs (arithmetic only: nothing is timed)."""
    assert bench_import.postgres_ceiling(13.8, 100_000, 2) == 14_493
    assert bench_import.postgres_ceiling(13.8, 100_000, 2) < bench_import.GOAL
    assert bench_import.postgres_ceiling(2.0, 100_000, 4) == 200_000
    assert bench_import.postgres_ceiling(0.0, 100_000, 2) is None
    assert bench_import.postgres_ceiling(1.0, 0, 2) is None


def test_import_budget_counts_every_core(monkeypatch):
    """20,000 purchases/s on 2 cores leave 0.1 ms a purchase: 0.284 ms in the importer is
    2.84 times that; with PostgreSQL's 0.144 ms beside 0.241 ms, 3.85 times."""
    monkeypatch.setattr(bench_import.os, "cpu_count", lambda: 2)
    sqlite = bench_import.import_budget(284.0, 0.0, 1_000_000)
    assert sqlite is not None
    assert sqlite["budget_ms"] == 0.1
    assert sqlite["spent_ms_by_part"] == {"importer": 0.284}
    assert sqlite["cut_needed"] == 2.84
    pg = bench_import.import_budget(241.0, 144.0, 1_000_000)
    assert pg is not None
    assert pg["spent_ms_by_part"] == {"importer": 0.241, "database": 0.144}
    assert pg["cut_needed"] == 3.85
    assert pg["cpu_allows_goal"] is False
    assert bench_import.import_budget(1.0, 0.0, 0) is None


def test_quick_runs_each_book_into_a_file_of_their_own():
    """Two scratch files of one name never share a path, and each is gone afterwards with
    its log, index and writer-lock files."""
    with (
        machine.sqlite_scratch("scratch-test") as first,
        machine.sqlite_scratch("scratch-test") as second,
    ):
        assert first != second
        path = first.split("///", 1)[1]
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.close()
        Path(f"{path}.writer").touch()
    assert not list(machine.WORK.glob("scratch-test-*"))
