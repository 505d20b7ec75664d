"""A throughput goal's CPU budget per unit of work (bench.budget): arithmetic only."""

from __future__ import annotations

import pytest
from bench.budget import cpu_budget


def test_budget_is_the_cores_shared_by_the_goal() -> None:
    """1,500 purchases/s on 2 cores leave 1.333 ms of CPU a purchase; 1.74 ms in the
    server and 0.17 in the load generator are 1.43 times that."""
    out = cpu_budget(1500, 2.0, {"server": 1.74, "load_generator": 0.17})
    assert out["budget_ms"] == 1.333
    assert out["spent_ms"] == 1.91
    assert out["spent_ms_by_part"] == {"server": 1.74, "load_generator": 0.17}
    assert out["cut_needed"] == 1.43
    assert out["cpu_allows_goal"] is False


def test_a_unit_within_the_budget_leaves_the_goal_to_the_cpu() -> None:
    out = cpu_budget(20_000, 4, {"importer": 0.15, "database": 0.05})
    assert out["budget_ms"] == 0.2
    assert out["cut_needed"] == 1.0
    assert out["cpu_allows_goal"] is True


@pytest.mark.parametrize(("goal", "cores"), [(0, 2.0), (-5, 2.0), (1500, 0.0)])
def test_a_budget_needs_a_goal_and_cores(goal: float, cores: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        cpu_budget(goal, cores, {"server": 1.0})
