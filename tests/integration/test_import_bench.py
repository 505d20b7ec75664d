"""The benchmark scripts run (at tiny sizes); nothing here measures time."""

from __future__ import annotations

import pytest
from bench import bench_expiry, bench_import


@pytest.mark.parametrize("script", [bench_import, bench_expiry], ids=["import", "expiry"])
def test_benchmark_script_runs_in_quick_mode(script):
    """--quick generates, imports or sweeps, and verifies a tiny ledger on SQLite."""
    results = script.main(["--quick", "--backends", "sqlite"])
    run = next(iter(results["runs"].values()))
    assert run["verify_ok"] is True
