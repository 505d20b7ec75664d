"""The ``outbox`` job: a program's events delivered to its webhook subscriptions and, when
configured, to NATS JetStream (``services/delivery.py``), every minute."""

from __future__ import annotations

import uuid
from contextlib import ExitStack

from kopilka.domain.program import Program
from kopilka.services import webhooks
from kopilka.services.context import ServiceContext
from kopilka.services.delivery import Channel, run_delivery
from kopilka.services.nats import NatsChannel
from kopilka.services.worker.registry import Counts, JobRun

OUTBOX_JOB = "outbox"


def run_outbox(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """Dispatch the program's new events to its channels and deliver what is due."""
    with ExitStack() as stack:
        client = stack.enter_context(webhooks.http_client(ctx))
        channels: list[Channel] = list(webhooks.open_channels(ctx, program, client))
        for channel in channels:
            stack.callback(channel.close)
        if ctx.delivery.nats_url:
            nats = NatsChannel(ctx.delivery.nats_url, ctx.delivery.nats_subject_prefix)
            stack.callback(nats.close)
            channels.append(nats)
        done = run_delivery(
            ctx,
            program,
            channels,
            f"outbox-{uuid.uuid4().hex[:12]}",
            run.checkpoint,
            lease=run.lease,
        )
    return {
        "dispatched": done["dispatched"],
        "delivered": done["delivered"],
        "failed": done["failed"],
        "dead": done["dead"],
    }
