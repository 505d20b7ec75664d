"""The delivery benchmark runs (--quick, SQLite): every event reaches the local receiver
and, when the server answers, NATS; nothing here measures time."""

from __future__ import annotations

import pytest
from bench import bench_delivery

pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


def test_delivery_benchmark_runs_in_quick_mode() -> None:
    """--quick writes 60 events over 20 members; the webhook phase delivers each to the
    receiver process once (its count of ids and posts), every delivery ``delivered``;
    --sequential adds the one-at-a-time phase with the same outcome."""
    results = bench_delivery.main(["--quick", "--backends", "sqlite", "--sequential"])
    run = results["runs"]["sqlite"]
    for phase in ("webhook", "webhook_one_by_one"):
        assert run[phase]["statuses"] == {"delivered": 60}
        assert run[phase]["receiver"] == {"ids": 60, "posts": 60}
        assert run[phase]["per_second"] > 0
    if "nats" in run:  # the server on 127.0.0.1:4222 answered
        assert run["nats"]["statuses"] == {"delivered": 60}
