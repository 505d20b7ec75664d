"""The outbox's delivery as real processes on PostgreSQL: ``kopilka worker`` delivering
webhooks to a receiver on 127.0.0.1 is killed with SIGKILL mid-delivery and another
worker finishes; a receiver that is down for a while gets everything once it is back.
Afterwards every event was delivered at least once, none is lost, a duplicate carries the
same ``webhook-id``, each member's events arrived in order, and ``kopilka verify`` passes.

Every wait is bounded (``wait_for``); the worker's lease is 2 s so a takeover is quick."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select, update

from kopilka.services import members as member_svc
from kopilka.services import outbox, points, webhooks
from kopilka.services import programs as program_svc
from kopilka.services.context import DeliverySettings, ServiceContext
from kopilka.services.points import Adjust
from kopilka.store.db import make_engine
from kopilka.store.tables import delivery_attempts, job_schedules, outbox_deliveries
from tests.conftest import scratch_postgres
from tests.program_spec import program_command

pytestmark = [
    pytest.mark.usefixtures("postgres_url"),  # skipped when PostgreSQL is not up
    pytest.mark.heavy(20),
]

KOPILKA = [sys.executable, "-c", "from kopilka.cli import main; main()"]
MEMBERS, ADJUSTMENTS = 12, 9  # 12 enrolments + 108 adjustments: 120 events
WORKER = ["worker", "--job", "outbox", "--lease", "2", "--poll", "0.2"]


class Receiver:
    """A webhook receiver on 127.0.0.1 recording each request (its ``webhook-id`` and
    body) when it arrives. ``status``: its answer; ``hold_after``: requests after that
    many wait until ``release`` (so a worker is surely mid-delivery when it is killed)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.status = 204
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with outer.lock:
                    outer.got.append((self.headers["webhook-id"], body))
                    held = outer.hold_after is not None and len(outer.got) > outer.hold_after
                if held:
                    outer.release.wait(30)
                self.send_response(outer.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> set[str]:
        with self.lock:
            return {i for i, _ in self.got}

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(check: Any, what: str, limit: float = 60.0) -> None:
    """Poll ``check`` until it holds (a deadline against a hang, not a timing assertion)."""
    end = time.monotonic() + limit
    while not check():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    """A scratch PostgreSQL database with a program, members whose points moved (their
    events in the outbox), a subscription to a local receiver, and the environment a
    worker process needs."""
    receiver = Receiver()
    with scratch_postgres("kopilka_outbox_proc") as url:
        from kopilka.store.migrate import upgrade

        upgrade(url)
        engine = make_engine(url)
        ctx = replace(
            ServiceContext(engine), delivery=DeliverySettings(allow_private_webhooks=True)
        )
        program = program_svc.create_program(ctx, program_command("shop"))
        members = []
        for n in range(MEMBERS):
            enroll = member_svc.Enroll((member_svc.identifier("card", f"PROC{n:04d}"),))
            members.append(member_svc.enroll(ctx, program, enroll).id)
        for k in range(ADJUSTMENTS):
            for m in members:
                adjust = Adjust(m, 10 + k, key=f"p-{m}-{k}", reason="goodwill", actor="t")
                points.adjust(ctx, program, adjust)
        webhooks.add_subscription(ctx, program, webhooks.AddSubscription(receiver.url))
        env = {
            **os.environ,
            "KOPILKA_DATABASE_URL": url,
            "KOPILKA_WEBHOOKS_ALLOW_PRIVATE": "1",
            "KOPILKA_LOG_LEVEL": "warning",
        }
        try:
            yield {"ctx": ctx, "program": program, "env": env, "receiver": receiver}
        finally:
            receiver.stop()
            engine.dispose()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*KOPILKA, *WORKER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def statuses(ctx: ServiceContext) -> dict[str, int]:
    d = outbox_deliveries.c
    with ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(select(d.status, func.count()).group_by(d.status)).all()
    return {str(s): int(n) for s, n in rows}


def check_delivered(w: dict[str, Any]) -> None:
    """Every event reached the receiver at least once; a duplicate is the same event
    under the same id; each member's events first arrived in their order; every
    delivery is ``delivered``; ``kopilka verify`` passes."""
    ctx, program, receiver = w["ctx"], w["program"], w["receiver"]
    events = outbox.list_events(ctx, program, limit=10_000)
    assert len(events) == MEMBERS * (1 + ADJUSTMENTS)
    assert receiver.ids() == {e["id"] for e in events}  # none lost, nothing foreign
    first: dict[str, dict[str, Any]] = {}
    for webhook_id, body in receiver.got:
        assert body["id"] == webhook_id
        first.setdefault(webhook_id, body)
        assert body == first[webhook_id]  # a duplicate is the same event
    arrivals: dict[int, list[int]] = {}
    for webhook_id, body in receiver.got:
        if first.get(webhook_id) is body:
            arrivals.setdefault(body["member_id"], []).append(body["sequence"])
    for member_id, seqs in arrivals.items():
        assert seqs == list(range(1, 1 + ADJUSTMENTS + 1)), member_id
    assert statuses(ctx) == {"delivered": len(events)}
    done = subprocess.run(
        [*KOPILKA, "verify"], env=w["env"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_worker_killed_mid_delivery_loses_nothing(world: dict[str, Any]) -> None:
    """The receiver holds requests after the 30th, so the first worker is waiting for
    answers when SIGKILL ends it; its batch stays leased until its 2 s lease expires,
    then a second worker takes the job over and delivers the rest (the held ones
    again: duplicates with the same id)."""
    receiver = world["receiver"]
    receiver.hold_after = 30
    first = start_worker(world["env"])
    try:
        wait_for(lambda: len(receiver.got) > 30, "the first worker's deliveries")
    finally:
        first.kill()
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    total = MEMBERS * (1 + ADJUSTMENTS)
    assert len(receiver.ids()) < total  # it died mid-delivery
    receiver.release.set()  # the dead worker's held requests are answered to nobody
    receiver.hold_after = None
    second = start_worker(world["env"])
    try:
        wait_for(lambda: statuses(world["ctx"]) == {"delivered": total}, "the takeover", 60)
    finally:
        stop_worker(second)
    check_delivered(world)
    assert len(receiver.got) > total  # the in-flight batch was sent again


def test_a_receiver_down_for_a_while_gets_everything_afterwards(world: dict[str, Any]) -> None:
    """While the receiver answers 503 every attempt fails and is logged; after it is
    back, once the failed deliveries' backoff (5 s at most for a first retry) has passed
    and the outbox job's next slot comes (brought forward: its schedule is a minute),
    everything is delivered, in order."""
    ctx, receiver = world["ctx"], world["receiver"]
    receiver.status = 503
    worker = start_worker(world["env"])
    try:
        wait_for(
            lambda: statuses(ctx).get("pending", 0) > 0 and _attempts(ctx) >= MEMBERS, "failures"
        )
        wait_for(lambda: _job_idle(ctx), "the failed run's end")
        assert statuses(ctx).get("delivered", 0) == 0
        receiver.status = 204  # the receiver is back
        # the first retry's backoff (2.5 to 5 s) passes: until every failed delivery is due
        wait_for(lambda: _all_due(ctx), "the failed deliveries' backoff", 30)
        with ctx.uow() as uow:  # the next minute's run, brought forward
            uow.conn.execute(
                update(job_schedules)
                .where(job_schedules.c.job == "outbox")
                .values(next_run_at=ctx.now())
            )
            uow.commit()
        total = MEMBERS * (1 + ADJUSTMENTS)
        wait_for(lambda: statuses(ctx) == {"delivered": total}, "the deliveries", 60)
    finally:
        stop_worker(worker)
    check_delivered(world)


def _all_due(ctx: ServiceContext) -> bool:
    """Whether no pending delivery waits for its backoff any more (the worker and ``ctx``
    both run on the real clock)."""
    d = outbox_deliveries.c
    with ctx.uow(read_only=True) as uow:
        latest = uow.conn.execute(
            select(func.max(d.next_attempt_at)).where(d.status == "pending")
        ).scalar_one()
    return latest is None or latest <= ctx.now()


def _attempts(ctx: ServiceContext) -> int:
    with ctx.uow(read_only=True) as uow:
        return int(
            uow.conn.execute(select(func.count()).select_from(delivery_attempts)).scalar_one()
        )


def _job_idle(ctx: ServiceContext) -> bool:
    s = job_schedules.c
    with ctx.uow(read_only=True) as uow:
        holder = uow.conn.execute(
            select(s.lease_holder, s.lease_expires_at).where(s.job == "outbox")
        ).first()
    return holder is not None and (holder[0] is None or holder[1] is None or holder[1] <= ctx.now())
