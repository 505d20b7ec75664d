"""The ``messages`` job: a program's queued messages that are due (quiet hours over,
retry time come) sent batch by batch, every minute."""

from __future__ import annotations

from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.notifications.send import BATCH, deliver
from kopilka.services.worker.registry import Counts, JobRun

MESSAGES_JOB = "messages"


def run_messages(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Send the due queued messages, a batch at a time (a checkpoint between batches),
    until none is due."""
    counts = {"sent": 0, "retried": 0, "failed": 0}
    while True:
        batch = deliver(ctx, program)
        for outcome in batch:
            key = {"sent": "sent", "queued": "retried", "failed": "failed"}.get(outcome["status"])
            if key:
                counts[key] += 1
        if len(batch) < BATCH:
            return counts
        run.checkpoint(len(batch))
