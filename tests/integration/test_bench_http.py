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


def _pg_run(per_s: float, pg_cores: float) -> dict[str, object]:
    phase = {
        "purchases_per_s": per_s,
        "cpu_cores": {"server": 1.1, "postgres_all": pg_cores, "machine_total": 2.0},
        "latency_ms": {"p99": 40.0},
        "server_rss_peak_mib": {"all_processes": 250.0},
    }
    return {
        "closed_loop_by_workers": {"1": {**phase, "purchases_per_s": per_s / 2}, "2": phase},
        "best_workers": 2,
        "max_purchases_per_s": per_s,
        "half_load": None,
        "verify": {"ok": True},
    }


def test_ratio_ceiling_is_what_postgres_own_work_allows() -> None:
    """The ceiling counts PostgreSQL's CPU per purchase in the best configuration's closed
    loop against the whole machine: 400/s on 0.5 cores is 1.25 ms a purchase, so 1,600/s
    with both cores, 0.32 of pgbench's 5,000 tx/s: below the 0.5 goal, unreachable."""
    bench = {"tps": 5000.0, "cpu_cores": {"pgbench": 0.4, "postgres": 1.25}}
    out = bench_http.goals({"runs": {"postgres": _pg_run(400.0, 0.5)}, "pgbench": bench})
    assert out["postgres_ratio_to_pgbench"] == {"value": 0.08, "goal": 0.5, "met": False}
    ceiling = out["postgres_ratio_ceiling"]
    assert ceiling["value"] == 0.32
    assert ceiling["postgres_ms_per_purchase"] == 1.25
    assert ceiling["postgres_ms_per_pgbench_tx"] == 0.25
    assert ceiling["goal_reachable"] is False
    # a purchase costing PostgreSQL a quarter as much would leave the goal in reach
    cheap = bench_http.goals({"runs": {"postgres": _pg_run(400.0, 0.125)}, "pgbench": bench})
    assert cheap["postgres_ratio_ceiling"]["value"] == 1.28
    assert cheap["postgres_ratio_ceiling"]["goal_reachable"] is True


def test_no_ceiling_without_pgbench_cpu() -> None:
    out = bench_http.goals({"runs": {"postgres": _pg_run(400.0, 0.5)}, "pgbench": {"tps": 5000.0}})
    assert "postgres_ratio_ceiling" not in out
    assert out["postgres_ratio_to_pgbench"]["met"] is False
