"""The CPU budget of a throughput goal: what the goal leaves one unit of work on this
machine, against what a unit takes now.

A goal of G units per second on C cores leaves C / G seconds of CPU per unit, for
everything that runs on the machine to do it (in the HTTP benchmark: the load generator,
the server and the database). The benchmarks measure each part's CPU per unit, so a run
tells how many times cheaper the whole unit must become before the goal fits on this
machine's cores (``cut_needed``; 1 or less: the CPU allows the goal). That is a bound, not
a forecast: it assumes every core busy and no time lost waiting, so a goal can be missed
with ``cut_needed`` below 1, but never met above it. It moves far less with the machine's
other load than a rate does, and it reads the same on a faster host only if every part
speeds up alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cpu_budget(goal_per_s: float, cores: float, spent_ms: Mapping[str, float]) -> dict[str, Any]:
    """``spent_ms``: milliseconds of CPU per unit, by part (e.g. server, database)."""
    if goal_per_s <= 0 or cores <= 0:
        raise ValueError("a CPU budget needs a positive goal and a positive number of cores")
    budget = cores * 1000 / goal_per_s
    spent = sum(spent_ms.values())
    return {
        "goal_per_s": goal_per_s,
        "cores": cores,
        "budget_ms": round(budget, 3),
        "spent_ms": round(spent, 3),
        "spent_ms_by_part": {part: round(ms, 3) for part, ms in spent_ms.items()},
        "cut_needed": round(spent / budget, 2),
        "cpu_allows_goal": spent <= budget,
    }
