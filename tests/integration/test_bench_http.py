"""The HTTP load benchmark runs (--quick, SQLite); nothing here measures time."""

from __future__ import annotations

import pytest
from bench import bench_http

# the benchmarks' data files (members, purchases) go to bench/.work by name, so these
# modules share one worker; their databases and quick results go to each test's own
# directory (bench_work)
pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


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
        "cpu_cores": {
            "server": 1.1,
            "postgres_all": pg_cores,
            "loadgen": 0.1,
            "machine_total": 2.0,
        },
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


def test_each_throughput_goal_reports_its_cpu_budget() -> None:
    """At 400 purchases/s a purchase took 2.75 ms in the server, 1.25 in PostgreSQL and
    0.25 in the load generator: 4.25 ms, where half of pgbench's 5,000 tx/s on 2 cores
    leaves 0.8 ms (5.31 times less). On SQLite the same server at 750/s (1.467 + 0.133 ms)
    is 1.2 times the 1.333 ms that 1,500/s leaves."""
    bench = {"tps": 5000.0, "cpu_cores": {"pgbench": 0.4, "postgres": 1.25}}
    sqlite = _pg_run(750.0, 0.0)
    out = bench_http.goals(
        {"runs": {"postgres": _pg_run(400.0, 0.5), "sqlite": sqlite}, "pgbench": bench}
    )
    pg = out["postgres_cpu_budget"]
    assert pg["goal_per_s"] == 2500.0
    assert pg["budget_ms"] == 0.8
    assert pg["spent_ms_by_part"] == {"server": 2.75, "database": 1.25, "load_generator": 0.25}
    assert pg["cut_needed"] == 5.31
    assert pg["cpu_allows_goal"] is False
    sq = out["sqlite_cpu_budget"]
    assert sq["spent_ms_by_part"] == {"server": 1.467, "load_generator": 0.133}
    assert sq["budget_ms"] == 1.333
    assert sq["cut_needed"] == 1.2
