"""CPU cost of one purchase, in process: the service's Python and PostgreSQL's backend.

Run with ``python -m bench.bench_purchase_cost``. The HTTP benchmark's throughput moves
with whatever else the machine runs; this one measures what a purchase *costs*, which
moves much less: on a fresh PostgreSQL scratch database (and a SQLite file) set up as
``bench_http`` does, it books the load generator's purchases (5-10 lines, 20 % paying
with points, 5 % followed by a return) one after another through
``services.purchases.commit`` on a single connection, and reads

* the CPU seconds of this process (``time.process_time``: the service, the rules, the
  ledger, SQLAlchemy and the driver; no HTTP, no JSON of the request), and of its main
  thread alone (``time.thread_time``: the request path, without the SQLite checkpoints
  that ``--sqlite-checkpoints background``, the default as in the API server, runs on
  a thread of their own);
* on PostgreSQL, the CPU seconds of the one backend process serving the connection
  (``/proc/<pid>/stat``), so other databases' work on the server is not counted;

per request, median of ``--repeats`` rounds of ``--purchases`` each, after a warm-up.
Written to ``bench/results/purchase_cost.json``. Use it for A/B: run the old tree with
``PYTHONPATH=<old>/src`` right before or after the new one.

``--other-writer`` (SQLite) writes one row from another connection after each purchase,
as a second server worker would: SQLite then empties this connection's page cache before
its next transaction. That write's own CPU is left out of the figures.

``--without-tiers`` publishes the same document less its ``tiers:`` section and the tier
multiplier that reads it: the "tiers off" side of issue 22's A/B (a purchase with tiers
costs at most 10 % more), to be interleaved with runs without it.

``--without-outbox`` books the same purchases and returns without writing their outbox
events (``OutboxRepo.add``, the outbox's one writer, writes nothing while the rounds run,
in this process only): the "outbox off" side of issue 23's A/B (writing the outbox adds
at most 10 % to a purchase's cost), to be interleaved with runs without it.

``--outbox-ab`` interleaves the two in one run: each repeat books a round with the outbox
and then one without it, on the same database and connection, so the machine's load
drifts alike for both; the result's ``outbox_ab`` holds each side's medians and the
outbox's share pair by pair (``rounds`` and the headline figures are the rounds with it).

``--tiers-ab`` does the same for tiers: before each round the program publishes the rules
with their tiers or without them (the ``--without-tiers`` document), in turn, so that each
repeat books a round with tiers and one without on the same database, connection and
members; ``tiers_ab`` holds each side's medians and what tiers add, pair by pair.

``--via asgi`` sends the same purchases and returns as HTTP requests straight into the
API application (``bench.asgi_driver``: middleware, authentication, validation, the
route, the JSON answer; no sockets, server or second process), written to
``purchase_cost_asgi.json``: its figure less the service's is what HTTP and FastAPI add.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import uvloop
from sqlalchemy import Engine, text

from bench.asgi_driver import call
from bench.bench_http import RULES, TICKS, _stat, prepare, verify
from bench.loadgen import LoadSpec, Workload
from bench.machine import (
    SQLITE_CHECKPOINTS,
    SQLITE_CHECKPOINTS_HELP,
    bench_engine,
    postgres_database,
    sqlite_url,
    write_result,
)
from kopilka.domain.basket import Basket, BasketLine, Channel, check_receipt_total
from kopilka.domain.clock import SystemClock
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.money import parse_money
from kopilka.domain.program import Program
from kopilka.services import programs
from kopilka.services import purchases as purchase_svc
from kopilka.services import rules as rules_svc
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef
from kopilka.services.purchases import (
    AsWritten,
    BookPurchase,
    ProcessReturn,
    ReturnLine,
)
from kopilka.store.db import sqlite_file, writer_lock
from kopilka.store.repos.outbox import OutboxRepo
from kopilka.store.repos.tiers import TierRepo


def purchase_command(data: dict[str, Any], program: Program, now: datetime) -> BookPurchase:
    """The purchase a load generator's body asks for, in the web channel, built with the
    domain's constructors (as ``BasketIn.to_basket`` does after pydantic's checks)."""
    currency = program.currency
    raw = data["lines"]
    lines = tuple(
        [
            BasketLine.trusted(
                x["line_id"],
                x["sku"],
                Decimal(x.get("quantity", "1")),
                parse_money(x["amount"], currency),
                x.get("category") or "",
                x.get("brand") or "",
                bool(x.get("discounted", False)),
                frozenset(x.get("tags", ())),
            )
            for x in raw
        ]
    )
    check_receipt_total(sum(ln.amount_minor for ln in lines), currency)
    basket = Basket(lines, now, store=data.get("store"), channel=Channel.WEB)
    ((kind, value),) = data["member"].items()
    return BookPurchase(
        data["receipt_id"],
        MemberRef(identifier=(IdentifierKind(kind), value)),
        basket,
        data.get("redeem_points", 0),
        written=AsWritten(
            tuple([Decimal(x["amount"]) for x in raw]),
            tuple([tuple(x.get("tags", ())) for x in raw]),
            stamped=False,
        ),
    )


def return_command(receipt: str, data: dict[str, Any]) -> ProcessReturn:
    """The return a load generator's body asks for."""
    lines = data.get("lines")
    return ProcessReturn(
        receipt,
        data["return_id"],
        None if lines is None else tuple([ReturnLine(x["line_id"]) for x in lines]),
    )


def without_tiers(document: str) -> str:
    """The rules document less its ``tiers:`` section (a top-level key, to the next one or
    the end) and the ``gold-tier`` rule that reads the tiers (the grocery example's)."""
    out: list[str] = []
    skipping = False
    for line in document.splitlines(keepends=True):
        top = bool(line.strip()) and not line[0].isspace() and not line.startswith("#")
        if top:
            skipping = line.startswith("tiers:")
        elif line.startswith("  - id: "):
            skipping = line.split()[2] == "gold-tier"
        if not skipping:
            out.append(line)
    stripped = "".join(out)
    assert "tiers:" not in stripped.replace("# ---- tiers", ""), "a tier reference is left"
    return stripped


@contextlib.contextmanager
def outbox_off(off: bool) -> Iterator[None]:
    """``--without-outbox``: no outbox event is written inside (``OutboxRepo.add`` is
    every event's writer but one: a purchase's tier upgrade writes its ``tier.changed`` in
    its own statement, so it is given no event; both replaced in this process only, and
    put back after)."""
    if not off:
        yield
        return
    upgrade = TierRepo.record_upgrade

    def without_event(self: TierRepo, *args: Any, **kwargs: Any) -> int:
        if len(args) > 9:  # the event, given by position
            args = args[:9]
        kwargs.pop("event", None)
        return upgrade(self, *args, **kwargs)

    with (
        mock.patch.object(OutboxRepo, "add", return_value=None),
        mock.patch.object(TierRepo, "record_upgrade", without_event),
    ):
        yield


def side_ab(rounds: list[dict[str, Any]], side: str) -> dict[str, Any]:
    """``--outbox-ab`` or ``--tiers-ab``: the rounds with the ``side`` (``outbox``,
    ``tiers``) and without, each side's medians (python and backend ms per request) and
    what it adds to their sum, pair by pair (a round with it and the next without) and as
    the median of the pairs."""
    on = [r for r in rounds if r[side]]
    off = [r for r in rounds if not r[side]]

    def total(r: dict[str, Any]) -> float:
        return float(r["python_ms"] + r["postgres_ms"])

    pairs = [round(100 * (total(a) / total(b) - 1), 1) for a, b in zip(on, off, strict=True)]
    side = {
        name: {
            "python_ms": round(statistics.median(r["python_ms"] for r in rs), 3),
            "postgres_ms": round(statistics.median(r["postgres_ms"] for r in rs), 3),
        }
        for name, rs in (("with", on), ("without", off))
    }
    return {
        **side,
        "added_percent_by_pair": pairs,
        "added_percent_median": statistics.median(pairs),
        "rounds_without": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in off
        ],
    }


def backend_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    st = _stat(pid)
    return 0.0 if st is None else (int(st[13]) + int(st[14])) / TICKS


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    document = RULES.read_text()
    fixture = prepare(url, args.members, without_tiers(document) if args.without_tiers else None)
    engine, checkpointer = bench_engine(url, args.sqlite_checkpoints, pool_size=1)
    ctx = ServiceContext(engine, SystemClock())
    program = programs.get_program(ctx, "bench")
    app = None
    if args.via == "asgi":
        from kopilka.api.app import create_app
        from kopilka.app import Kopilka
        from kopilka.settings import Settings

        settings = Settings(database_url=url, db_pool_size=1, sqlite_synchronous="NORMAL")
        app = create_app(Kopilka(settings, engine, ctx, None))
    pid = None
    if name == "postgres":
        with engine.connect() as conn:
            pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    bump = OtherWriter(engine) if args.other_writer else None
    spec = LoadSpec("127.0.0.1", 0, fixture.api_key, args.members, tag=f"cost-{name}")
    work = Workload(spec, random.Random(args.seed))
    rng = random.Random(args.seed + 1)

    async def asgi_round(n: int) -> int:
        requests = 0
        for _ in range(n):
            receipt, lines, head, body = work.purchase()
            await _asgi(app, head, body)
            requests += 1
            if rng.random() < spec.return_share:
                await _asgi(app, *work.a_return(receipt, lines))
                requests += 1
        return requests

    loop = uvloop.new_event_loop()

    def one_round(n: int) -> tuple[float, float, float, int]:
        requests = 0
        cpu0, own0, pg0 = time.process_time(), time.thread_time(), backend_cpu(pid)
        if app is not None:  # the same requests, as HTTP, in one event loop
            requests = loop.run_until_complete(asgi_round(n))
            cpu, own = time.process_time() - cpu0, time.thread_time() - own0
            return cpu, own, backend_cpu(pid) - pg0, requests
        others = 0.0  # CPU of the other writer's writes, run in this thread
        for _ in range(n):
            receipt, lines, _head, body = work.purchase()
            # the body parsed and turned into the command in the loop, as the API does it
            # (R3 of PLAN19: the same work as the dict the service used to parse)
            cmd = purchase_command(json.loads(body), program, ctx.now())
            if args.quotes:  # the till's quote before it books
                purchase_svc.quote(
                    ctx,
                    program,
                    purchase_svc.QuotePurchase(cmd.member, cmd.basket, cmd.redeem_points),
                )
            purchase_svc.commit(ctx, program, cmd, caller_key=receipt)
            requests += 1
            if bump is not None:
                t = time.thread_time()
                bump()
                others += time.thread_time() - t
            if args.reads:  # a till's balance look-up between purchases, on the same pool
                with ctx.uow(read_only=True) as uow:
                    uow.members.balance(rng.randint(1, args.members))
            if rng.random() < spec.return_share:
                _head, ret = work.a_return(receipt, lines)
                purchase_svc.process_return(
                    ctx,
                    program,
                    return_command(receipt, json.loads(ret)),
                    caller_key=f"{receipt}-ret",
                )
                requests += 1
        cpu, own = time.process_time() - cpu0 - others, time.thread_time() - own0 - others
        return cpu, own, backend_cpu(pid) - pg0, requests

    rounds = []
    # --outbox-ab, --tiers-ab: each repeat is a round with it and one without, in turn
    sides = (False, True) if args.outbox_ab or args.tiers_ab else (args.without_outbox,)
    documents = {False: document, True: without_tiers(document)}

    def publish(tiers_off: bool) -> None:
        rules_svc.publish(ctx, program, documents[tiers_off], actor="bench")

    with checkpointer:
        with outbox_off(args.without_outbox):
            one_round(args.warmup)
        for _ in range(args.repeats):
            for off in sides:
                if args.tiers_ab:
                    publish(off)  # outside the round's timing
                no_outbox = (off and args.outbox_ab) or args.without_outbox
                with outbox_off(no_outbox):
                    py, own, pg, requests = one_round(args.purchases)
                rounds.append(
                    {
                        "requests": requests,
                        "python_ms": py * 1000 / requests,
                        "request_path_ms": own * 1000 / requests,
                        "postgres_ms": pg * 1000 / requests,
                        "outbox": not no_outbox,
                        "tiers": not ((off and args.tiers_ab) or args.without_tiers),
                    }
                )
    ab_side = "outbox" if args.outbox_ab else "tiers" if args.tiers_ab else None
    if ab_side is not None:
        ab = side_ab(rounds, ab_side)
        rounds = [r for r in rounds if r[ab_side]]
    loop.close()
    if bump is not None:
        bump.close()
    engine.dispose()
    out = {
        "python_ms_per_request": round(statistics.median(r["python_ms"] for r in rounds), 3),
        "request_path_ms_per_request": round(
            statistics.median(r["request_path_ms"] for r in rounds), 3
        ),
        "rounds": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rounds
        ],
        "verify": verify(url),
    }
    if pid is not None:
        out["postgres_backend_ms_per_request"] = round(
            statistics.median(r["postgres_ms"] for r in rounds), 3
        )
    if ab_side is not None:
        out[f"{ab_side}_ab"] = ab
    print(f"{name}: {out}", flush=True)
    return out


class OtherWriter:
    """Another connection to the SQLite file that writes one row of its own table each
    call, in a transaction of its own and under the writer lock, as a second server
    worker's purchase would."""

    def __init__(self, engine: Engine) -> None:
        lock, path = writer_lock(engine), sqlite_file(engine)
        assert lock is not None, "--other-writer needs a SQLite file"
        assert path is not None
        self.lock = lock
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("CREATE TABLE IF NOT EXISTS bench_other_writer (n INTEGER)")

    def __call__(self) -> None:
        with self.lock.hold():
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO bench_other_writer VALUES (1)")
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


async def _asgi(app: Any, head: bytes, body: bytes) -> None:
    status, answer = await call(app, head, body)
    if status != 201:
        raise RuntimeError(f"{status} from the API: {answer[:500]!r}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: prove the script runs")
    p.add_argument("--backends", default="postgres,sqlite")
    p.add_argument("--members", type=int, default=2_000)
    p.add_argument("--purchases", type=int, default=500, help="purchases per round")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--reads",
        action="store_true",
        help="read a member's balance after each purchase (counted with the purchase)",
    )
    p.add_argument(
        "--quotes",
        action="store_true",
        help="quote each purchase first, as a till does (counted with the purchase)",
    )
    p.add_argument(
        "--sqlite-checkpoints",
        choices=SQLITE_CHECKPOINTS,
        default="background",
        help=SQLITE_CHECKPOINTS_HELP,
    )
    p.add_argument(
        "--other-writer",
        action="store_true",
        help="SQLite: another connection writes after each purchase, as a second worker",
    )
    p.add_argument(
        "--without-tiers",
        action="store_true",
        help="publish the rules without their tiers: section and tier rule (issue 22's A/B)",
    )
    p.add_argument(
        "--without-outbox",
        action="store_true",
        help="book without writing outbox events (issue 23's A/B)",
    )
    p.add_argument(
        "--outbox-ab",
        action="store_true",
        help="each repeat: a round with the outbox's events and one without (issue 23's A/B)",
    )
    p.add_argument(
        "--tiers-ab",
        action="store_true",
        help="each repeat: a round under rules with tiers and one without (issue 22's A/B)",
    )
    p.add_argument(
        "--via",
        choices=("service", "asgi"),
        default="service",
        help="book through the service call, or as HTTP requests into the ASGI app",
    )
    p.add_argument(
        "--name",
        help="results file name (purchase_cost, purchase_cost_asgi, purchase_cost_other_writer)",
    )
    args = p.parse_args(argv)
    if args.reads and args.via == "asgi":
        p.error("--reads works with --via service only")
    if args.quotes and args.via == "asgi":
        p.error("--quotes works with --via service only")
    if args.other_writer and (args.via == "asgi" or args.backends != "sqlite"):
        p.error("--other-writer works with --via service --backends sqlite only")
    if args.outbox_ab and args.tiers_ab:
        p.error("--outbox-ab and --tiers-ab: one A/B at a time")
    if args.tiers_ab and args.without_tiers:
        p.error("--tiers-ab books rounds without tiers itself")
    if not args.name:
        args.name = "purchase_cost_asgi" if args.via == "asgi" else "purchase_cost"
        args.name += "_other_writer" if args.other_writer else ""
    if args.quick:
        args.members, args.purchases, args.repeats, args.warmup = 50, 20, 2, 10
    runs: dict[str, Any] = {}
    for name in args.backends.split(","):
        if name == "postgres":
            with postgres_database("cost") as url:
                runs[name] = run_backend(name, url, args)
        elif name == "sqlite":
            runs[name] = run_backend(name, sqlite_url(f"cost-{args.via}-{args.members}"), args)
        else:
            raise SystemExit(f"unknown backend {name!r}")
    result = {"settings": vars(args), "runs": runs}
    path = write_result(args.name, result, args.quick)
    print(f"written {path}")
    return result


if __name__ == "__main__":
    main()
