"""The console's receipts list at scale: N purchases, then the first page, the next page,
the orders and the filters timed (median of several runs), with each query's plan.

Run with ``python -m bench.bench_receipt_list --purchases 1000000`` (``--postgres`` for a
scratch PostgreSQL database too). 10,000 members are enrolled with the bulk importer;
the purchases are then written straight into ``purchases`` in batches (what the list
reads: a purchase's row; booking a million receipts through the ledger would time the
importer, which ``bench_import`` does), one every 30 seconds over about a year, at 50
stores, in the three channels, with totals spread from 1.00 to 5,000.00. Every 100th
has a return of one of its two units (its ``returns`` row and its line), for the state
of a row and the "returned" filter. Timings are of the service call
(``services.receipt_list.list_receipts``: the queries and the rows' shaping), and the
``http_`` ones of whole console pages through the web router (in-process).
Printed and written to ``bench/results/receipt_list.json``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select, text

from bench.bench_member_list import generate
from bench.machine import (
    bench_engine,
    command_line,
    postgres_database,
    sqlite_scratch,
    write_result,
)
from kopilka.app import Kopilka
from kopilka.domain.clock import FrozenClock
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services import apikeys, programs
from kopilka.services.context import ServiceContext
from kopilka.services.imports import import_members
from kopilka.services.member_lookup import MemberRef
from kopilka.services.receipt_list import ReceiptQuery, list_receipts
from kopilka.settings import load_settings
from kopilka.store.migrate import upgrade
from kopilka.store.tables import members, purchase_lines, purchases, returns
from kopilka.web import create_web_router

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MEMBERS = 10_000
BATCH = 20_000
CHANNELS = ("till",) * 7 + ("web",) * 2 + ("app",)


def fill(engine: Any, program_id: int, n: int) -> None:
    """``n`` purchases of the program's members, the oldest first; every 100th returned
    in part."""
    with engine.begin() as conn:
        member_ids = list(
            conn.execute(
                select(members.c.id).where(members.c.program_id == program_id).order_by("id")
            ).scalars()
        )
    start = NOW - timedelta(seconds=30 * n)
    for low in range(0, n, BATCH):
        rows = []
        for i in range(low, min(n, low + BATCH)):
            total = (i * 7919) % 500_000 + 100
            rows.append(
                {
                    "program_id": program_id,
                    "member_id": member_ids[(i * 31) % len(member_ids)],
                    "receipt_id": f"R{i:09d}",
                    "occurred_at": start + timedelta(seconds=30 * i),
                    "store": f"S{i % 50:02d}",
                    "channel": CHANNELS[i % len(CHANNELS)],
                    "total_minor": total,
                    "discount_minor": 0,
                    "points_earned": total // 10_000,
                    "points_redeemed": 0,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(purchases), rows)
    with engine.begin() as conn:
        returned = list(
            conn.execute(
                select(purchases.c.id).where(
                    purchases.c.program_id == program_id, purchases.c.id % 100 == 0
                )
            ).scalars()
        )
        for low in range(0, len(returned), BATCH):
            ids = returned[low : low + BATCH]
            conn.execute(
                insert(purchase_lines),
                [
                    {
                        "purchase_id": i,
                        "line_id": "1",
                        "sku": "TEA",
                        "quantity": "2",
                        "amount_minor": 100,
                        "discount_minor": 0,
                        "points_redeemed": 0,
                        "points_earned": 0,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(returns),
                [
                    {
                        "purchase_id": i,
                        "return_id": "RET",
                        "occurred_at": NOW,
                        "points_clawed_back": 0,
                        "points_restored": 0,
                        "refund_minor": 50,
                        "lines": [{"line_id": "1", "quantity": "1"}],
                    }
                    for i in ids
                ],
            )
        conn.execute(text("ANALYZE"))


def median_ms(call: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def plan_of(engine: Any, call: Any) -> list[str]:
    """The plan of the page's query (the one that reads ``purchases`` in order)."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM purchases" in statement and "ORDER BY" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = seen[-1]
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()
        cur.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, params)
        rows = cur.fetchall()
        cur.close()
    return [str(r[-1] if sqlite else r[0]) for r in rows]


def pages(ctx: ServiceContext, program: Any, runs: int) -> dict[str, float]:
    """The console's pages over HTTP (in-process, FastAPI's TestClient: its own cost,
    about a millisecond, is in the figures), signed in as support."""
    kopilka = Kopilka(
        load_settings(environment="test", secret_key="bench-receipt-list-secret"), ctx.engine, ctx
    )
    app = FastAPI()
    app.include_router(create_web_router(kopilka))
    _, secret = apikeys.create_key(ctx, program.code, "support", "bench desk")
    c = TestClient(app, follow_redirects=False)
    form = c.get("/admin/sign-in").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    signed = c.post("/admin/sign-in", data={"csrf_token": csrf.group(1), "api_key": secret})
    assert signed.status_code == 303, signed.text
    one = re.search(r'href="/admin/receipts/(\d+)"', c.get("/admin/receipts").text)
    assert one is not None
    urls = {
        "http_first_page": "/admin/receipts",
        "http_one_store_amount_from": "/admin/receipts?store=S07&amount_min=1000",
        "http_by_amount": "/admin/receipts?sort=amount",
        "http_receipt_page": f"/admin/receipts/{one.group(1)}",
    }

    def get(url: str) -> None:
        assert c.get(url).status_code == 200

    return {name: median_ms(lambda u=u: get(u), runs) for name, u in urls.items()}


def run(url: str, n: int, runs: int) -> dict[str, Any]:
    """Fill a fresh database with ``n`` purchases and time the list's pages."""
    upgrade(url)
    engine, checkpointer = bench_engine(url)
    ctx = ServiceContext(engine, FrozenClock(NOW))
    program = programs.create_program(ctx, programs.CreateProgram("bench"))
    t0 = time.perf_counter()
    with checkpointer:
        import_members(ctx, program, generate(MEMBERS), batch_size=10_000)
        fill(engine, program.id, n)
    filled = time.perf_counter() - t0
    first = list_receipts(ctx, program, ReceiptQuery())
    deep = ReceiptQuery(limit=1000)
    for _ in range(10):  # the cursor after the first 10,000 receipts
        deep = ReceiptQuery(after=list_receipts(ctx, program, deep)["next"], limit=1000)
    day = NOW - timedelta(days=100)
    card = MemberRef(identifier=(IdentifierKind.CARD, "C000004242"))
    queries = {
        "first_page": ReceiptQuery(),
        "second_page": ReceiptQuery(after=first["next"]),
        "page_after_10000": ReceiptQuery(after=deep.after),
        "by_amount_first_page": ReceiptQuery(sort="amount"),
        "by_amount_ascending": ReceiptQuery(sort="amount", descending=False),
        "one_day": ReceiptQuery(occurred_from=day, occurred_before=day + timedelta(days=1)),
        "one_store": ReceiptQuery(store="S07"),
        "one_store_one_day": ReceiptQuery(
            store="S07", occurred_from=day, occurred_before=day + timedelta(days=1)
        ),
        "channel_app": ReceiptQuery(channel="app"),
        "member_by_card": ReceiptQuery(member=card),
        "member_by_card_by_amount": ReceiptQuery(member=card, sort="amount"),
        "amount_between_narrow_by_date": ReceiptQuery(total_min=100_000, total_max=100_100),
        "amount_between_wide_by_date": ReceiptQuery(total_min=100_000, total_max=300_000),
        "amount_between_by_amount": ReceiptQuery(
            total_min=100_000, total_max=100_100, sort="amount"
        ),
        "returned": ReceiptQuery(status="returned"),
        "not_returned": ReceiptQuery(status="booked"),
    }
    timings = {}
    plans = {}
    for name, q in queries.items():
        timings[name] = median_ms(lambda q=q: list_receipts(ctx, program, q), runs)
        plans[name] = plan_of(engine, lambda q=q: list_receipts(ctx, program, q))
    timings |= pages(ctx, program, runs)
    engine.dispose()
    return {
        "purchases": n,
        "members": MEMBERS,
        "fill_s": round(filled, 1),
        "median_ms": timings,
        "plans": plans,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="write under bench/.work")
    args = parser.parse_args()
    results: dict[str, Any] = {"command": command_line("bench_receipt_list", None)}
    with sqlite_scratch("receipt_list") as url:
        results["sqlite"] = run(url, args.purchases, args.runs)
        print("sqlite", {k: v for k, v in results["sqlite"].items() if k != "plans"})
    if args.postgres:
        with postgres_database("receipt_list") as url:
            results["postgres"] = run(url, args.purchases, args.runs)
            print("postgres", {k: v for k, v in results["postgres"].items() if k != "plans"})
    print(write_result("receipt_list", results, quick=args.quick))


if __name__ == "__main__":
    main()
