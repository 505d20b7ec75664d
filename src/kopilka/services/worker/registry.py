"""The job kinds the worker runs, by name: adding one is one :func:`register` call.

A kind has a name (what schedules, runs and the CLI call it), the cron schedule a program
starts with, and the function that runs it for one program. That function gets the
:class:`JobRun` it runs as: the time the run is for, and a ``checkpoint`` to call between
batches (it renews the worker's lease, and stops the run when the worker was asked to stop
or lost its lease). It answers what it did as counts (name -> number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from kopilka.domain.errors import ValidationError
from kopilka.domain.jobs import check_cron
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext

Counts = Mapping[str, int]


class JobRun(Protocol):
    """The run a job's function runs as."""

    @property
    def scheduled_for(self) -> datetime:
        """The slot of the schedule this run is for."""
        ...

    @property
    def as_of(self) -> datetime:
        """The time the job works as of (when the run started)."""
        ...

    @property
    def lease(self) -> timedelta:
        """How long the worker's claims last (renewed between batches): a job that
        leases rows of its own (the outbox's deliveries) leases them as long."""
        ...

    def checkpoint(self, done: int = 0) -> None:
        """Call between batches (``done``: how many the batch handled): renews the lease
        and raises :class:`RunStopped` when the run must stop after this batch."""
        ...


class RunStopped(Exception):
    """The run stops after its current batch: the worker was asked to stop, or its lease
    was lost (another worker took the job over)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


JobFunction = Callable[[ServiceContext, Program, JobRun], Counts]


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job: ``name``, the ``default_cron`` a program starts with, and ``run``;
    ``counts`` names the counts its runs answer (the console gives each its words)."""

    name: str
    default_cron: str
    run: JobFunction
    description: str
    counts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_cron(self.default_cron)


REGISTRY: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Make ``kind`` one of the jobs every worker runs for every program (each program gets
    a schedule of it, ``default_cron``, when a worker next starts a round)."""
    if kind.name in REGISTRY and REGISTRY[kind.name] is not kind:
        raise ValueError(f"job kind {kind.name!r} is registered already")
    REGISTRY[kind.name] = kind
    return kind


def job_kind(name: str) -> JobKind:
    """The registered kind ``name`` (a ValidationError naming the kinds otherwise)."""
    kind = REGISTRY.get(name)
    if kind is None:
        known = ", ".join(sorted(REGISTRY))
        raise ValidationError(f"unknown job {name!r}; the jobs are: {known}", field="job")
    return kind
