"""Outbox delivery throughput: events per second the worker's delivery
(``services/delivery.py: run_delivery``, as the ``outbox`` job calls it) hands to NATS
JetStream (goal: at least 2,000/s) and to a webhook receiver on 127.0.0.1 (goal: at least
500/s), on this machine.

Each phase gets a fresh program with ``--events`` events spread over ``--members``
members (written by ``OutboxRepo.add``, the outbox's own writer, in batches: the bench
measures delivery, not the use cases that write events), then one timed
``run_delivery`` dispatches and delivers them all. Afterwards every delivery must be
``delivered``, and the receiver must have got every event id (duplicates are counted).

* ``webhook``: a receiver in a child process (uvicorn, an ASGI app answering 204 and
  counting ids), one subscription.
* ``nats``: the server at ``--nats-url``, a stream of its own (deleted afterwards).
* ``--sequential`` also times each channel one event at a time (``send`` only, the
  delivery before batching), for comparison.

Besides the wall time, each phase reports the CPU it cost per delivered event: this
process's (``time.process_time``: the delivery, the HTTP and NATS clients) and, on
PostgreSQL, that of the backends serving the bench's database (``/proc/<pid>/stat``); the
load of a shared machine moves these much less than the events per second.

Written to ``bench/results/delivery.json`` (``--quick``: tiny sizes, under bench/.work).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text

from bench.bench_http import TICKS, _stat
from bench.machine import command_line, postgres_database, sqlite_scratch, write_result
from kopilka.domain.clock import SystemClock
from kopilka.services import delivery, programs, webhooks
from kopilka.services.context import DeliverySettings, ServiceContext
from kopilka.services.delivery import Channel, Sent
from kopilka.services.nats import NatsChannel, stream_name
from kopilka.services.outbox import EventEnvelope
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from kopilka.store.repos.outbox import NewEvent, OutboxRepo
from kopilka.store.tables import outbox_deliveries

GOALS = {"nats": 2000.0, "webhook": 500.0}


# --- the receiver (run in a child process by uvicorn) ----------------------------------

_GOT: dict[str, int] = {}


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI: a POST is an event (counted by its ``webhook-id``), answered 204; ``GET``
    answers the counts as JSON."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        headers = dict(scope["headers"])
        event_id = headers.get(b"webhook-id", b"").decode()
        _GOT[event_id] = _GOT.get(event_id, 0) + 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps({"ids": len(_GOT), "posts": sum(_GOT.values())}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    """A receiver on 127.0.0.1 in a child process; yields its URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bench_delivery:receiver_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # uvicorn starts slowly on a loaded machine
        while True:
            try:
                urllib.request.urlopen(url + "/count", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the receiver did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def received(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/count", timeout=5) as answer:
        return dict(json.loads(answer.read()))


# --- the events --------------------------------------------------------------------------


def write_events(ctx: ServiceContext, code: str, events: int, members: int) -> Any:
    """A fresh program and ``events`` events over ``members`` members (round robin)."""
    program = programs.create_program(ctx, programs.CreateProgram(code))
    now = datetime.now(UTC)
    batch: list[NewEvent] = []
    for i in range(events):
        member = 1_000_000 + (i % members)
        payload = {"member_id": member, "entry_id": i, "delta": 10, "reason": "bench"}
        batch.append(
            NewEvent(str(uuid.uuid4()), program.id, member, "points.adjusted", 1, payload, now)
        )
        if len(batch) == 5000 or i == events - 1:
            with ctx.uow() as uow:
                OutboxRepo(uow.conn).add(batch)
                uow.commit()
            batch = []
    return program


class OneByOne:
    """A channel seen without ``send_many``: the delivery sends its events one at a time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.wants = inner.wants

    def send(self, event: EventEnvelope) -> Sent:
        return self.inner.send(event)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.inner.close()


def _backend_pids(ctx: ServiceContext) -> list[int]:
    """PostgreSQL: the backends serving the bench's database (its pool's connections)."""
    if ctx.engine.dialect.name != "postgresql":
        return []
    with ctx.engine.connect() as conn:
        return [
            int(p)
            for p in conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            ).scalars()
        ]


def _backends_cpu(pids: Sequence[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in pids:
        st = _stat(pid)
        if st is not None:
            out[pid] = (int(st[13]) + int(st[14])) / TICKS
    return out


def timed_delivery(
    ctx: ServiceContext, program: Any, channels: Sequence[Channel]
) -> dict[str, Any]:
    pg0 = _backends_cpu(_backend_pids(ctx))
    cpu0 = time.process_time()
    started = time.perf_counter()
    done = delivery.run_delivery(ctx, program, channels, f"bench-{uuid.uuid4().hex[:8]}")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    pg1 = _backends_cpu(_backend_pids(ctx))
    # a backend that appeared during the run started from nothing
    pg = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
    with ctx.uow(read_only=True) as uow:
        d = outbox_deliveries.c
        statuses = dict(
            uow.conn.execute(
                select(d.status, func.count()).where(d.program_id == program.id).group_by(d.status)
            ).all()
        )
    return {
        "seconds": round(seconds, 3),
        "delivered": done["delivered"],
        "failed": done["failed"],
        "per_second": round(done["delivered"] / seconds, 1) if seconds else None,
        # CPU per delivered event, which the machine's load moves less than the wall time:
        # this process (the worker's delivery, and the NATS client) and PostgreSQL's
        # backends serving the database (the webhook receiver's process is not counted)
        "worker_cpu_ms_per_event": round(cpu * 1000 / done["delivered"], 4)
        if done["delivered"]
        else None,
        "postgres_cpu_ms_per_event": round(pg * 1000 / done["delivered"], 4)
        if done["delivered"] and ctx.engine.dialect.name == "postgresql"
        else None,
        "statuses": {str(k): int(v) for k, v in statuses.items()},
    }


def webhook_phase(
    ctx: ServiceContext, events: int, members: int, one_by_one: bool
) -> dict[str, Any]:
    with receiver() as url:
        program = write_events(ctx, f"wh-{uuid.uuid4().hex[:8]}", events, members)
        webhooks.add_subscription(ctx, program, webhooks.AddSubscription(url + "/hook"))
        with webhooks.http_client(ctx) as client:
            channels: list[Any] = list(webhooks.open_channels(ctx, program, client))
            shown = [OneByOne(c) for c in channels] if one_by_one else channels
            try:
                out = timed_delivery(ctx, program, shown)
            finally:
                for c in channels:
                    c.close()
        out["receiver"] = received(url)
    assert out["statuses"] == {"delivered": events}, out
    assert out["receiver"]["ids"] == events, out
    return out


def nats_reachable(url: str) -> bool:
    host, _, port = url.removeprefix("nats://").partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=2):
            return True
    except OSError:
        return False


def nats_phase(
    ctx: ServiceContext, url: str, events: int, members: int, one_by_one: bool
) -> dict[str, Any]:
    prefix = f"kopilkabench{uuid.uuid4().hex[:8]}"
    program = write_events(ctx, f"nt-{uuid.uuid4().hex[:8]}", events, members)
    channel = NatsChannel(url, prefix)
    try:
        out = timed_delivery(ctx, program, [OneByOne(channel) if one_by_one else channel])
    finally:
        channel.close()
        asyncio.run(_delete_stream(url, prefix))
    assert out["statuses"] == {"delivered": events}, out
    return out


async def _delete_stream(url: str, prefix: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(stream_name(prefix))
    finally:
        await nc.close()


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    ctx = ServiceContext(engine, SystemClock())
    ctx = replace(ctx, delivery=DeliverySettings(allow_private_webhooks=True))
    out: dict[str, Any] = {}
    modes = [False, True] if args.sequential else [False]
    try:
        for one_by_one in modes:
            suffix = "_one_by_one" if one_by_one else ""
            out["webhook" + suffix] = webhook_phase(ctx, args.events, args.members, one_by_one)
            if nats_reachable(args.nats_url):
                out["nats" + suffix] = nats_phase(
                    ctx, args.nats_url, args.events, args.members, one_by_one
                )
    finally:
        engine.dispose()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: prove the script runs")
    p.add_argument("--backends", default="postgres", help="postgres, sqlite or both")
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--members", type=int, default=2_500)
    p.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    p.add_argument("--sequential", action="store_true", help="also one event at a time")
    p.add_argument("--name", default="delivery", help="results file name")
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.members = 60, 20
    runs: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "postgres":
            with postgres_database("delivery") as url:
                runs[backend] = run(url, args)
        elif backend == "sqlite":
            with sqlite_scratch("delivery") as url:
                runs[backend] = run(url, args)
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    result = {
        "command": command_line("bench_delivery", argv),
        "settings": vars(args),
        "goals_per_second": GOALS,
        "runs": runs,
    }
    path = write_result(args.name, result, args.quick)
    print(json.dumps(runs, indent=2))
    print(f"written {path}")
    return result


if __name__ == "__main__":
    main()
