"""The HTTP load benchmark runs (--quick, SQLite); nothing here measures time."""

from __future__ import annotations

import pytest
from bench import bench_http

# the benchmarks set up their databases and member files under bench/.work by name:
# the runs of these modules share one worker, never two at once
pytestmark = pytest.mark.xdist_group("bench-work")


def test_http_benchmark_runs_in_quick_mode() -> None:
    """--quick sets up a tiny program, serves it with ``kopilka serve``, sends purchases
    from a separate load-generator process (closed loop, then open loop at half the
    rate), and the ledger verifies afterwards with every booked purchase answered 2xx."""
    results = bench_http.main(["--quick", "--backends", "sqlite"])
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    closed = run["closed_loop_by_workers"]["1"]
    assert closed["answers"].get("purchase 201", 0) > 0
    # every answer is a success: the workload stays inside the rules' redemption limits
    assert all(k.split()[1].startswith("2") for k in closed["answers"]), closed["answers"]
    assert run["half_load"] is not None
    assert run["half_load"]["mode"] == "open"
    assert run["purchases_in_database"] >= run["purchases_answered_2xx"] > 0
    assert closed["server_rss_peak_mib"]["all_processes"] > 0
