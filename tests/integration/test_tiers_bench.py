"""The tiers benchmark runs at a tiny size (SQLite, --quick); nothing here measures time:
it checks that the set-based load, both recomputes and the review ran over every member
and that what the first recompute wrote matches what it reported."""

from __future__ import annotations

import json

import pytest
from bench import bench_tiers

pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


def test_the_tiers_bench_runs_small(bench_work) -> None:
    """400 members, 600 purchases: the first recompute walks every member (the progress
    bar's ticks add up to them) and writes one ``tier.changed`` event per member it moved;
    the second changes nothing; the review walks every member again; the result is
    written."""
    results = bench_tiers.main(["--quick"])
    run = results["sqlite"]
    first = run["recompute_first"]
    assert first["members"] == run["progress_ticked"] == 400
    assert first["upgraded"] + first["unchanged"] == 400
    assert first["upgraded"] > 300  # nearly everyone had no tier before
    assert run["tier_changed_events_written"] == first["upgraded"]
    assert run["tier_changes_written"] >= first["upgraded"]
    assert run["recompute_again"]["unchanged"] == 400
    assert run["review"]["members"] == 400
    assert sum(run["tiers_after_review"].values()) == 400
    written = json.loads((bench_work / "results-quick" / "tiers.json").read_text())
    assert written["sqlite"]["recompute_first"] == first
