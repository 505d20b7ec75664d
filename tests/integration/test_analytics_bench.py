"""The analytics benchmark runs at a tiny size (SQLite, --quick); nothing here measures
time: it checks that the set-based load, the rebuild, the KPIs and the export ran and
that the rollups count what was loaded."""

from __future__ import annotations

import json

import pytest
from bench import bench_analytics

pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


def test_the_analytics_bench_runs_small(bench_work) -> None:
    """500 purchases of 50 members: the year's KPIs count every purchase and every point
    loaded (a purchase earns its total / 10,000 points), each range is timed, and the
    result is written."""
    results = bench_analytics.main(
        ["--quick", "--purchases", "500", "--members", "50", "--runs", "1"]
    )
    run = results["sqlite"]
    assert run["year_purchases"] == 500
    assert run["year_issued"] == sum(((i * 7919) % 500000 + 100) // 10000 for i in range(1, 501))
    assert set(run["kpi_median_ms"]) == {
        "last_30_days_by_day",
        "last_quarter_by_week_by_tier",
        "whole_year_by_month",
        "whole_year_by_day_by_store",
        "one_day",
        "pilots_whole_year",
        "campaigns_whole_year",
    }
    assert set(run["kpi_median_cpu_ms"]) == set(run["kpi_median_ms"])
    assert run["export_parquet_bytes"] > 0
    written = json.loads((bench_work / "results-quick" / "analytics.json").read_text())
    assert written["sqlite"]["year_purchases"] == 500
