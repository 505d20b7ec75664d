"""The page latency benchmark runs (--quick, SQLite); nothing here measures time."""

from __future__ import annotations

import json

import pytest
from bench import bench_pages

# the benchmarks' data files (members) go to bench/.work by name, so these modules share
# one worker; their databases and quick results go to each test's own directory
pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


def test_page_benchmark_runs_in_quick_mode(bench_work) -> None:
    """--quick builds a tiny demo and a 200-member program, asks for every page of its
    list on each (each answered 200, or the script stops), and writes a median per page."""
    results = bench_pages.main(["--quick"])
    names = [name for name, _, _ in bench_pages.PAGES]
    for run, members in (("sqlite_demo", 10), ("sqlite_large", 200)):
        assert results["runs"][run]["members"] == members
        pages = results["runs"][run]["pages"]
        assert list(pages) == names
        assert all(page["median_ms"] > 0 for page in pages.values())
    written = json.loads((bench_work / "results-quick" / "pages.json").read_text())
    assert written["runs"] == results["runs"]
    assert written["bound_ms"] == 100.0
