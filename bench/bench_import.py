"""Bulk import throughput: 1,000,000 purchases (5-10 lines each) for 100,000 members.

Run with ``python -m bench.bench_import`` (``--quick`` for a tiny run). The data is
generated with pyarrow from a fixed seed into ``bench/.work/`` as Parquet and CSV (a year
of history, grocery categories, 10% of receipts paying 50 points), then imported into a
fresh SQLite file and a fresh PostgreSQL database under the grocery example rules
(``src/kopilka/domain/rules/examples/grocery.yaml``) with points expiring after 12 months.
Reported: members/s, purchases/s (Parquet into SQLite, Parquet and CSV into
PostgreSQL), and the seconds ``verify`` takes over the result; beside them the CPU per
purchase of the importing processes and of PostgreSQL, the most PostgreSQL's own work
allows here (``postgres_ceiling_purchases_per_s``), and the goal's CPU budget per
purchase against that spending (``cpu_budget``, ``bench.budget``). Written to
``bench/results/import.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bench.bench_http import cpu_seconds, postgres_pids
from bench.budget import cpu_budget
from bench.machine import (
    SQLITE_CHECKPOINTS,
    SQLITE_CHECKPOINTS_HELP,
    WORK,
    bench_engine,
    command_line,
    keep_earlier_runs,
    postgres_database,
    postgres_version,
    sqlite_scratch,
    sqlite_url,
    write_result,
)
from kopilka.domain.clock import FrozenClock
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.services import audit, programs, rules
from kopilka.services.context import ServiceContext
from kopilka.services.imports import import_members, import_purchases
from kopilka.store.migrate import upgrade

GOAL = 20_000
BATCH = 5_000  # receipts per transaction, as `kopilka import purchases` books them
RULES = Path(__file__).parent.parent / "src/kopilka/domain/rules/examples/grocery.yaml"
START = datetime(2025, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CATEGORIES = (
    "dairy",
    "bread",
    "vegetables",
    "fruit",
    "meat",
    "fish",
    "frozen",
    "snacks",
    "drinks",
    "household",
    "baby",
    "pets",
    "cosmetics",
    "tobacco",
    "alcohol",
)
BRANDS = ("domashniy", "acme", "prostokvashino", "nestle", "danone", "local", "mars")


def _ints(n: int, low: int, high: int, seed: int) -> pa.Array:
    """``n`` uniform integers in [low, high), vectorised."""
    r = pc.random(n, initializer=seed)
    return pc.cast(pc.floor(pc.add(pc.multiply(r, high - low), low)), pa.int64())


def _prefixed(prefix: str, ints: pa.Array, width: int) -> pa.Array:
    return pc.binary_join_element_wise(
        prefix, pc.utf8_lpad(pc.cast(ints, pa.string()), width, "0"), ""
    )


def generate(purchases: int, members: int, seed: int = 42) -> dict[str, Path]:
    """Write members and purchases files (Parquet and CSV) under bench/.work/."""
    WORK.mkdir(parents=True, exist_ok=True)
    tag = f"{purchases}-{members}-{seed}"
    paths = {
        "members": WORK / f"members-{tag}.parquet",
        "parquet": WORK / f"purchases-{tag}.parquet",
        "csv": WORK / f"purchases-{tag}.csv",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    ids = pa.array(range(members), pa.int64())
    pq.write_table(
        pa.table(
            {
                "card": _prefixed("C", ids, 8),
                "first_name": _prefixed("Name", ids, 1),
                "gender": pc.take(pa.array(["female", "male"]), _ints(members, 0, 2, seed)),
            }
        ),
        paths["members"],
    )
    n_lines = _ints(purchases, 5, 11, seed + 1).to_pylist()
    receipt_of = pa.array([i for i, k in enumerate(n_lines) for _ in range(k)], pa.int64())
    position = pa.array([j for k in n_lines for j in range(k)], pa.int64())
    total = len(receipt_of)
    span = (NOW - START - timedelta(days=1)).total_seconds() * 1e6
    start_us = int(START.timestamp() * 1e6)
    # receipts in time order, a year of history
    at_us = pc.cast(
        pc.add(pc.multiply(pa.array(range(purchases), pa.float64()), span / purchases), start_us),
        pa.int64(),
    )
    at = pc.cast(at_us, pa.timestamp("us", tz="UTC"))
    member = _ints(purchases, 0, members, seed + 2)
    redeem = pc.if_else(pc.less(pc.random(purchases, initializer=seed + 3), 0.1), 50, None)
    minor = _ints(total, 3_000, 150_000, seed + 4)
    amount = pc.binary_join_element_wise(
        pc.cast(pc.divide(minor, 100), pa.string()),
        pc.utf8_lpad(
            pc.cast(pc.subtract(minor, pc.multiply(pc.divide(minor, 100), 100)), pa.string()),
            2,
            "0",
        ),
        ".",
    )
    first_line = pc.equal(position, 0)
    table = pa.table(
        {
            "receipt_id": _prefixed("R", receipt_of, 8),
            "member_card": pc.take(_prefixed("C", member, 8), receipt_of),
            "occurred_at": pc.take(at, receipt_of),
            "store": pc.take(_prefixed("s", _ints(purchases, 1, 60, seed + 5), 2), receipt_of),
            "line_id": pc.cast(pc.add(position, 1), pa.string()),
            "sku": _prefixed("SKU", _ints(total, 1, 5000, seed + 6), 4),
            "category": pc.take(pa.array(CATEGORIES), _ints(total, 0, len(CATEGORIES), seed + 7)),
            "brand": pc.take(pa.array(BRANDS), _ints(total, 0, len(BRANDS), seed + 8)),
            "quantity": pc.take(
                pa.array(["1", "1", "1", "2", "0.5"]), _ints(total, 0, 5, seed + 9)
            ),
            "amount": amount,
            "redeemed_points": pc.if_else(first_line, pc.take(redeem, receipt_of), None),
        }
    )
    pq.write_table(table, paths["parquet"], row_group_size=200_000)
    csv_table = table.set_column(
        2, "occurred_at", pc.strftime(table["occurred_at"], format="%Y-%m-%dT%H:%M:%S+00:00")
    )
    pacsv.write_csv(csv_table, paths["csv"])
    return paths


def rules_text(without_budget: bool) -> str:
    """The grocery rules, or (``--without-budget``) the same without its campaign budget,
    which ``import purchases --jobs`` refuses (a budget is spent in file order)."""
    text = RULES.read_text()
    if not without_budget:
        return text
    cut = text.replace(", budget: 5000000}", "}")
    assert cut != text, "the grocery rules no longer have the budget this flag removes"
    return cut


def run_import(
    url: str,
    files: dict[str, Path],
    which: str,
    jobs: int = 1,
    without_budget: bool = False,
    checkpoints: str = "background",
    batch_size: int = BATCH,
) -> dict[str, Any]:
    """Migrate, set up the program, import members then purchases; time each, then verify.

    The purchases' CPU is counted apart: this process and its booking processes, and on
    PostgreSQL the server's processes, per purchase imported."""
    upgrade(url)
    engine, checkpointer = bench_engine(url, checkpoints)
    clock = FrozenClock(START - timedelta(days=30))
    ctx = ServiceContext(engine, clock)
    program = programs.create_program(
        ctx, programs.CreateProgram("bench", expiry=ExpiryPolicy(ExpiryKind.MONTHS_END, 12))
    )
    rules.publish(ctx, program, rules_text(without_budget), actor="bench")
    clock.set(NOW)
    with checkpointer:  # as `kopilka import` runs it
        t0 = time.perf_counter()
        m = import_members(ctx, program, files["members"], batch_size=10_000)
        pg = engine.dialect.name == "postgresql"
        t1, c1 = time.perf_counter(), _own_cpu()
        pg1 = cpu_seconds(postgres_pids(), children=True) if pg else 0.0
        p = import_purchases(ctx, program, files[which], batch_size=batch_size, jobs=jobs)
        t2, c2 = time.perf_counter(), _own_cpu()
        pg2 = cpu_seconds(postgres_pids(), children=True) if pg else 0.0
    report = audit.verify_ledger(ctx, program.id)
    t3 = time.perf_counter()
    engine.dispose()
    return {
        "file": which,
        "jobs": jobs,
        "batch_size": batch_size,
        "rules": "grocery.yaml" + (" without its campaign budget" if without_budget else ""),
        "members": m.imported,
        "members_per_s": round(m.imported / (t1 - t0)),
        "purchases_imported": p.imported,
        "purchases_rejected": p.rejected,
        "purchases_seconds": round(t2 - t1, 1),
        "purchases_per_s": round(p.imported / (t2 - t1)),
        "client_cpu_ms_per_purchase": _per(c2 - c1, p.imported),
        "postgres_cpu_ms_per_purchase": _per(pg2 - pg1, p.imported) if pg else None,
        "postgres_ceiling_purchases_per_s": (
            postgres_ceiling(pg2 - pg1, p.imported, os.cpu_count() or 1) if pg else None
        ),
        "points_earned": p.points_earned,
        "points_redeemed": p.points_redeemed,
        "verify_seconds": round(t3 - t2, 1),
        "verify_ok": report.ok,
        "totals": report.totals,
        "goal_purchases_per_s": GOAL,
        "goal_met": p.imported / (t2 - t1) >= GOAL,
        "cpu_budget": import_budget(c2 - c1, pg2 - pg1, p.imported),
    }


def import_budget(client_seconds: float, pg_seconds: float, imported: int) -> dict[str, Any] | None:
    """The goal's CPU budget per purchase on this machine's cores (``bench.budget``)
    against the importing processes' CPU and PostgreSQL's, per purchase. The budget
    counts every core: a run booking in one process (SQLite) would also have to spread
    its work over them."""
    if imported <= 0:
        return None
    spent = {"importer": client_seconds * 1000 / imported}
    if pg_seconds > 0:
        spent["database"] = pg_seconds * 1000 / imported
    return cpu_budget(GOAL, os.cpu_count() or 1, spent)


def postgres_ceiling(pg_seconds: float, imported: int, cores: int) -> int | None:
    """The most purchases per second this machine allows the import on PostgreSQL,
    whatever the importing processes cost: every core given to PostgreSQL's own work
    (CPU seconds of all its processes while the purchases were booked). Below the goal,
    the goal is out of reach here by the database's work alone."""
    if imported <= 0 or pg_seconds <= 0:
        return None
    return round(cores * imported / pg_seconds)


def _own_cpu() -> float:
    """User + system CPU seconds of this process and of its children that have ended
    (the booking processes of ``--jobs``, joined before the import returns)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _per(seconds: float, n: int) -> float | None:
    return round(seconds * 1000 / n, 3) if n else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: prove the script runs")
    ap.add_argument("--purchases", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--formats", default="parquet,csv", help="files imported into PostgreSQL")
    ap.add_argument(
        "--scratch",
        action="store_true",
        help="write the result under bench/.work/results-quick (A/B runs), not bench/results",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="import purchases with this many processes (PostgreSQL only; needs "
        "--without-budget, as the grocery rules have a campaign budget)",
    )
    ap.add_argument(
        "--batch-size",
        type=int,
        default=BATCH,
        help="receipts per transaction (kopilka import's --batch; small batches show what "
        "booking a few purchases together costs)",
    )
    ap.add_argument(
        "--without-budget",
        action="store_true",
        help="publish the grocery rules without their campaign budget",
    )
    ap.add_argument(
        "--sqlite-checkpoints",
        choices=SQLITE_CHECKPOINTS,
        default="background",
        help=SQLITE_CHECKPOINTS_HELP,
    )
    args = ap.parse_args(argv)
    if args.jobs > 1 and "sqlite" in args.backends.split(","):
        ap.error("--jobs above 1 needs PostgreSQL: add --backends postgres")
    if args.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    if args.quick:
        args.purchases, args.members = 3_000, 300
    t = time.perf_counter()
    files = generate(args.purchases, args.members)
    gen_s = round(time.perf_counter() - t, 1)
    results: dict[str, Any] = {
        "purchases": args.purchases,
        "members": args.members,
        "lines": pq.ParquetFile(files["parquet"]).metadata.num_rows,
        "generate_seconds": gen_s,
        "runs": {},
    }
    backends = args.backends.split(",")
    # runs other than the default one are named apart, e.g. postgres-jobs2-without-budget_csv
    variant = (
        (f"-jobs{args.jobs}" if args.jobs > 1 else "")
        + ("-without-budget" if args.without_budget else "")
        + (f"-batch{args.batch_size}" if args.batch_size != BATCH else "")
    )
    options = {
        "jobs": args.jobs,
        "batch_size": args.batch_size,
        "without_budget": args.without_budget,
        "checkpoints": args.sqlite_checkpoints,
    }
    if "sqlite" in backends:
        key = f"sqlite{variant}_parquet"
        place = sqlite_scratch("import-quick") if args.quick else nullcontext(sqlite_url("import"))
        with place as url:
            results["runs"][key] = run_import(url, files, "parquet", **options)
        print(key, results["runs"][key])
    if "postgres" in backends:
        if postgres_version() is None:
            results["runs"]["postgres"] = "skipped: no PostgreSQL server"
        else:
            for which in args.formats.split(",") if not args.quick else ("parquet",):
                key = f"postgres{variant}_{which}"
                with postgres_database("import") as url:
                    results["runs"][key] = run_import(url, files, which, **options)
                print(key, results["runs"][key])
    keep_earlier_runs(
        "import",
        results,
        [b + variant for b in backends],
        args.quick or args.scratch,
        command_line("bench_import", argv),
        same=("purchases", "members"),
    )
    path = write_result("import", results, args.quick or args.scratch)
    print(f"written {path}")
    return results


if __name__ == "__main__":
    main()
