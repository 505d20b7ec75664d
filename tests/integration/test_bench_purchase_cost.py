"""The purchase-cost benchmark runs (--quick, SQLite); nothing here measures time."""

from __future__ import annotations

from bench import bench_purchase_cost


def test_purchase_cost_benchmark_runs_in_quick_mode() -> None:
    """--quick books a few rounds of purchases and returns through the service on one
    connection; every round counts its requests and the ledger verifies afterwards."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite"])
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    assert len(run["rounds"]) == 2
    assert all(r["requests"] >= 20 for r in run["rounds"])
    assert run["python_ms_per_request"] > 0
    assert "postgres_backend_ms_per_request" not in run
