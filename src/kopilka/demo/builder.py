"""The demo data builder: a list of steps run in order on one shared :class:`Demo`.

Every step is safe to run again: members are found by card before they are enrolled,
and every point movement carries an idempotency key derived from the seed, so a second
run replays stored outcomes instead of adding anything.

To extend the demo, either append a :data:`Step` to :data:`STEPS` (runs once, after the
ones before it), or append an :data:`Activity` to :data:`ACTIVITIES` (schedules events
for each member on the shared 18-month timeline; the clock is moved to each event's
time before it runs). See :mod:`kopilka.demo.steps` and :mod:`kopilka.demo.activities`.
"""

from __future__ import annotations

from collections.abc import Iterable

from kopilka.app import Kopilka
from kopilka.demo.model import (
    Demo,
    DemoConfig,
    DemoResult,
    ProgressFactory,
    Step,
    demo_end,
    no_progress,
)
from kopilka.demo.steps import STEPS
from kopilka.domain.clock import FrozenClock


def build_demo(
    app: Kopilka,
    clock: FrozenClock,
    config: DemoConfig | None = None,
    *,
    steps: Iterable[Step] | None = None,
    progress: ProgressFactory = no_progress,
) -> DemoResult:
    """Run the demo steps on ``app`` (built on ``clock``) and report what they did."""
    demo = Demo(config or DemoConfig(), app, clock, demo_end(clock.now()), progress)
    for step in steps if steps is not None else STEPS:
        demo.summaries.append(step(demo))
    return DemoResult(
        demo.prog, demo.people, dict(demo.stats), demo.report, demo.summaries, demo.api_keys
    )
