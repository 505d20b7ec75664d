"""What the demo's steps and activities share: the :class:`Demo` they run on, its
configuration and result, and the types of a step, an activity and an action.

Apart from :mod:`kopilka.demo.builder` (which runs the steps) so that the steps and
activities import this module and the builder imports them, with no cycle.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kopilka.app import Kopilka
from kopilka.demo.people import Person
from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from kopilka.ledger.verify import VerifyReport
from kopilka.services.context import ServiceContext

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Advance]]
Action = Callable[["Demo"], None]


@contextmanager
def no_progress(_description: str, _total: int | None = None) -> Iterator[Advance]:
    yield lambda _n: None


@dataclass
class DemoConfig:
    members: int = 300
    seed: int = 20260314
    months: int = 18
    program_code: str = "grocery"


@dataclass
class Demo:
    """What the steps share: the app on a frozen clock, the program, the people, counts."""

    config: DemoConfig
    app: Kopilka
    clock: FrozenClock
    end: datetime
    progress: ProgressFactory = no_progress
    program: Program | None = None
    created_program: bool = False
    api_keys: dict[str, str] = field(default_factory=dict)  # role -> plaintext, shown once
    people: list[Person] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    report: VerifyReport | None = None
    summaries: list[str] = field(default_factory=list)

    @property
    def ctx(self) -> ServiceContext:
        return self.app.services

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=round(self.config.months * 30.44))

    @property
    def prog(self) -> Program:
        assert self.program is not None, "the program step runs first"
        return self.program

    def rng(self, *scope: object) -> random.Random:
        """A generator for one scope (e.g. a member and an activity): adding a scope
        never changes the numbers the others draw."""
        # demo data, not secrets: a seeded, reproducible generator is what we want
        seed = ":".join(str(s) for s in (self.config.seed, *scope))
        return random.Random(seed)  # noqa: S311

    def key(self, *parts: object) -> str:
        """A deterministic idempotency key: the same on every run with the same seed."""
        return "demo:" + ":".join(str(p) for p in (self.config.seed, *parts))


Step = Callable[[Demo], str]
"""Runs once on the demo; returns a one-line summary of what it did."""

Activity = Callable[[Demo, Person, random.Random], Iterable[tuple[datetime, Action]]]
"""Schedules a member's events: (when, what) pairs, run in time order across members."""


@dataclass(frozen=True)
class DemoResult:
    program: Program
    people: list[Person]
    stats: dict[str, Any]
    report: VerifyReport | None
    summaries: list[str]
    api_keys: dict[str, str]


def demo_end(now: datetime) -> datetime:
    """The demo's "today": the start of the current hour, so reruns within it match."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
