"""Expiry sweep throughput: ``services.jobs.expire_due`` over 1,000,000 due lots.

Run with ``python -m bench.bench_expiry`` (``--quick`` for a tiny run). The ledger is
bulk-generated straight into a fresh SQLite file and a fresh PostgreSQL database (members,
one earn entry with its postings per lot, the lots, the balances), with every lot due to
expire at the sweep's time; then the sweep is timed (lots/s, goal >= 100,000) and so is
``verify`` over the result. With ``--profile`` the sweep runs under pyinstrument (if
installed) and the hottest frames are saved beside the results. Written to
``bench/results/expiry.json``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.machine import WORK, postgres_database, postgres_version, sqlite_url, write_result
from kopilka.domain.clock import FrozenClock
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.services import audit, jobs, programs
from kopilka.services.context import ServiceContext
from kopilka.store.bulk.ledger import ENTRY_COLS, LOT_COLS
from kopilka.store.bulk.writer import BulkWriter
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade

GOAL = 100_000
EARNED = datetime(2024, 6, 1, tzinfo=UTC)
SWEEP_AT = datetime(2026, 3, 1, tzinfo=UTC)
CHUNK = 50_000


def seed_ledger(ctx: ServiceContext, program_id: int, lots: int, per_member: int) -> None:
    """``lots`` earn lots of 10 points, ``per_member`` a member, all expired by SWEEP_AT."""
    members = lots // per_member
    with ctx.uow() as uow:
        w = BulkWriter(uow.conn)
        ids = [w.next_id("members") for _ in range(members)]
        w.insert(
            "members",
            (
                "id",
                "program_id",
                "status",
                "attributes",
                "lifetime_spend_minor",
                "purchase_count",
                "enrolled_at",
            ),
            [(m, program_id, "active", "{}", 0, 0, w.ts(EARNED)) for m in ids],
        )
        w.insert(
            "member_balances",
            ("member_id", "program_id", "available", "pending", "held"),
            [(m, program_id, 10 * per_member, 0, 0) for m in ids],
        )
        uow.commit()
    expires = EARNED + timedelta(days=365)
    done = 0
    while done < lots:
        n = min(CHUNK, lots - done)
        with ctx.uow() as uow:
            w = BulkWriter(uow.conn)
            entries, postings, new = [], [], []
            for k in range(done, done + n):
                member = ids[k // per_member]
                at = EARNED + timedelta(seconds=k)
                entry = w.next_id("journal_entries")
                entries.append(
                    (
                        entry,
                        program_id,
                        member,
                        "earn",
                        10,
                        w.ts(at),
                        None,
                        None,
                        None,
                        1,
                        f"seed-{k}",
                        None,
                        None,
                        None,
                    )
                )
                postings.append((entry, program_id, "issued", None, -10))
                postings.append((entry, program_id, "available", member, 10))
                new.append(
                    (
                        w.next_id("lots"),
                        program_id,
                        member,
                        entry,
                        "earn",
                        10,
                        10,
                        w.ts(at),
                        w.ts(at),
                        w.ts(expires + timedelta(seconds=k)),
                        w.ts(at),
                        None,
                        None,
                    )
                )
            w.insert("journal_entries", ENTRY_COLS, entries)
            w.insert(
                "postings", ("entry_id", "program_id", "account", "member_id", "amount"), postings
            )
            w.insert("lots", LOT_COLS, new)
            uow.commit()
        done += n
    # the state of a database whose due lots were earned a year ago: vacuumed (visibility
    # map and hint bits set) with fresh planner statistics, as autovacuum leaves it long
    # after a bulk load; otherwise the sweep races autovacuum's first pass over the tables
    # it has just loaded (SQLite: statistics only, it has no such pass)
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with ctx.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def run(url: str, lots: int, per_member: int, profile: bool) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    ctx = ServiceContext(engine, FrozenClock(EARNED - timedelta(days=1)))
    program = programs.create_program(
        ctx, programs.CreateProgram("expiry", expiry=ExpiryPolicy(ExpiryKind.DAYS, 365))
    )
    t0 = time.perf_counter()
    seed_ledger(ctx, program.id, lots, per_member)
    t1 = time.perf_counter()
    profiler = None
    if profile:
        try:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        except ImportError:
            profiler = None
    c1 = time.process_time()
    expired = jobs.expire_due(ctx, program, SWEEP_AT)
    t2 = time.perf_counter()
    c2 = time.process_time()
    hot = None
    if profiler is not None:
        profiler.stop()
        hot = profiler.output_text(unicode=False, color=False, show_all=False)
        (WORK / f"expiry-profile-{url.split(':', maxsplit=1)[0]}.txt").write_text(hot)
    c3 = time.process_time()
    report = audit.verify_ledger(ctx, program.id)
    t3 = time.perf_counter()
    c4 = time.process_time()
    engine.dispose()
    rate = expired / (t2 - t1)
    return {
        "lots": lots,
        "lots_per_member": per_member,
        "seed_seconds": round(t1 - t0, 1),
        "expired": expired,
        "sweep_seconds": round(t2 - t1, 1),
        "lots_per_s": round(rate),
        # CPU time of this process: on SQLite all the work, on PostgreSQL the client's share;
        # steadier than the wall clock on a shared machine
        "sweep_cpu_seconds": round(c2 - c1, 2),
        "verify_seconds": round(t3 - t2, 1),
        "verify_cpu_seconds": round(c4 - c3, 2),
        "verify_ok": report.ok,
        "breakage": report.totals.get("breakage"),
        "goal_lots_per_s": GOAL,
        "goal_met": rate >= GOAL,
        "profiled": hot is not None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: prove the script runs")
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--per-member", type=int, default=10)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--profile", action="store_true", help="profile the sweep (pyinstrument)")
    args = ap.parse_args(argv)
    if args.quick:
        args.lots = 2_000
    results: dict[str, Any] = {"runs": {}}
    backends = args.backends.split(",")
    if "sqlite" in backends:
        results["runs"]["sqlite"] = run(
            sqlite_url("expiry-quick" if args.quick else "expiry"),
            args.lots,
            args.per_member,
            args.profile,
        )
        print("sqlite", results["runs"]["sqlite"])
    if "postgres" in backends:
        if postgres_version() is None:
            results["runs"]["postgres"] = "skipped: no PostgreSQL server"
        else:
            with postgres_database("expiry") as url:
                results["runs"]["postgres"] = run(url, args.lots, args.per_member, args.profile)
            print("postgres", results["runs"]["postgres"])
    path = write_result("expiry", results, args.quick)
    print(f"written {path}")
    return results


if __name__ == "__main__":
    main()
