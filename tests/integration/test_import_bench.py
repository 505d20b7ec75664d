"""The benchmark scripts run (at tiny sizes); nothing here measures time."""

from __future__ import annotations

import pytest
from bench import bench_expiry, bench_import

# the benchmarks set up their databases and files under bench/.work by name: the runs of
# these modules share one worker, never two at once
pytestmark = pytest.mark.xdist_group("bench-work")


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
