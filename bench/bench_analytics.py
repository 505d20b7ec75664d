"""Analytics at scale: a full rebuild of the rollups, the KPIs of several ranges, and an
export of every purchase to Parquet, on SQLite and PostgreSQL.

Run with ``python -m bench.bench_analytics --purchases 1000000 --members 100000
--postgres``. The data is loaded set-based (``INSERT ... SELECT`` over a recursive CTE on
SQLite, ``generate_series`` on PostgreSQL; booking a million receipts through the ledger
would time the purchase path, which ``bench_purchase_cost`` does): members enrolled over
the year before, one purchase every ``YEAR / purchases`` seconds at 50 stores in three
channels, each with its earn entry (two postings), one line and one line award; every
tenth purchase also redeems points (an entry, two postings). The program's zone is
Europe/Berlin, so local days cross two daylight-saving changes. Timings: the rebuild once
(it is one transaction), each KPI range's median of ``--runs``, a refresh with nothing new,
and the Parquet export of all purchases once, each as wall time and as CPU time (this
process's and, on PostgreSQL, its server backends'; a shared host's load moves it less).
Goals (docs/analytics.md): any KPI under 1 s, a rebuild under 60 s, the export under 30 s.
Printed and written to ``bench/results/analytics.json``.

``--keep NAME`` keeps the databases (``bench/.work/NAME.db``, PostgreSQL's
``kopilka_bench_NAME``) and reuses them when they already hold a load of the same size:
the load of a million purchases takes minutes, the rest is what is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.machine import (
    PG_ADMIN,
    WORK,
    bench_engine,
    command_line,
    postgres_database,
    sqlite_scratch,
    write_result,
)
from kopilka.domain.analytics import DateRange, Dimension, Grain
from kopilka.domain.clock import FrozenClock
from kopilka.domain.errors import NotFoundError
from kopilka.domain.program import Program
from kopilka.services import analytics, campaigns, exports, pilot_roi, programs, rules
from kopilka.services.context import ServiceContext
from kopilka.store.migrate import upgrade

NOW = datetime(2026, 3, 1, tzinfo=UTC)
# the rules the pilots' and campaigns' figures are timed under: a rule piloted on 10 % of the
# members and two rules of one campaign, in force over the whole loaded history (backdated:
# the load writes purchases, not rules)
PILOT_RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}, campaign: everyday}
  - {id: app-pilot, kind: rate, rate: {percent: 2}, pilot: {share_percent: 10}, campaign: everyday}
"""
YEAR_S = 365 * 24 * 3600
GOALS = {"kpi_ms": 1000, "rebuild_s": 60, "export_s": 30}


def _series(conn: Any, n: int) -> str:
    """A subquery of ``i`` from 1 to ``n``, as the database writes one."""
    if conn.dialect.name == "postgresql":
        # bigint: the generators' products (i * 7919) pass 2**31
        return f"(SELECT generate_series(CAST(1 AS BIGINT), {int(n)}) AS i) s"
    return (
        f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n)}) "
        "SELECT i FROM s) s"
    )


def _at(conn: Any, seconds: str) -> str:
    """SQL of the instant ``seconds`` (an SQL expression) after a year before NOW."""
    start = NOW - timedelta(seconds=YEAR_S)
    if conn.dialect.name == "postgresql":
        return f"(TIMESTAMPTZ '{start.isoformat()}' + ({seconds}) * INTERVAL '1 second')"
    base = start.strftime("%Y-%m-%d %H:%M:%S")
    return f"(datetime('{base}', '+' || ({seconds}) || ' seconds') || '.000000')"


def load(engine: Any, program_id: int, n_purchases: int, n_members: int) -> None:
    """The members, purchases, lines, awards, journal entries and postings, set-based."""
    with engine.begin() as conn:
        s_m = _series(conn, n_members)
        conn.execute(
            text(f"""
            INSERT INTO members (id, program_id, status, attributes, tier_code,
                                 lifetime_spend_minor, purchase_count, enrolled_at)
            SELECT i, {program_id}, 'active', '{{}}',
                   CASE WHEN i % 10 = 0 THEN 'gold' WHEN i % 3 = 0 THEN 'silver' ELSE NULL END,
                   0, 0, {_at(conn, f"i * {YEAR_S // n_members}")}
            FROM {s_m}""")
        )
        s_p = _series(conn, n_purchases)
        step = max(YEAR_S // n_purchases, 1)
        member = f"((i * 7919) % {n_members}) + 1"
        # a member buys only after enrolling: purchases of early ids go to early members
        member = (
            f"(CASE WHEN ({member}) * {YEAR_S // n_members} > (i - 1) * {step} "
            f"THEN (i % 50) + 1 ELSE {member} END)"
        )
        points = "(((i * 7919) % 500000 + 100) / 10000)"
        conn.execute(
            text(f"""
            INSERT INTO journal_entries (id, program_id, member_id, kind, points, occurred_at,
                                         reference)
            SELECT i, {program_id}, {member}, 'earn', {points}, {_at(conn, f"(i - 1) * {step}")},
                   'R' || i
            FROM {s_p}""")
        )
        conn.execute(
            text(f"""
            INSERT INTO postings (entry_id, program_id, account, member_id, amount)
            SELECT i, {program_id}, 'issued', NULL, -{points} FROM {s_p}""")
        )
        conn.execute(
            text(f"""
            INSERT INTO postings (entry_id, program_id, account, member_id, amount)
            SELECT i, {program_id}, 'available', {member}, {points} FROM {s_p}""")
        )
        redeem = f"{n_purchases} + i / 10"
        conn.execute(
            text(f"""
            INSERT INTO journal_entries (id, program_id, member_id, kind, points, occurred_at,
                                         reference)
            SELECT {redeem}, {program_id}, {member}, 'redeem', 1, {_at(conn, f"(i - 1) * {step}")},
                   'R' || i
            FROM {s_p} WHERE i % 10 = 0""")
        )
        conn.execute(
            text(f"""
            INSERT INTO postings (entry_id, program_id, account, member_id, amount)
            SELECT {redeem}, {program_id}, 'redeemed', NULL, 1 FROM {s_p} WHERE i % 10 = 0""")
        )
        conn.execute(
            text(f"""
            INSERT INTO postings (entry_id, program_id, account, member_id, amount)
            SELECT {redeem}, {program_id}, 'available', {member}, -1
            FROM {s_p} WHERE i % 10 = 0""")
        )
        conn.execute(
            text(f"""
            INSERT INTO purchases (id, program_id, member_id, receipt_id, occurred_at, store,
                                   channel, total_minor, discount_minor, points_earned,
                                   points_redeemed, earn_entry_id, redeem_entry_id)
            SELECT i, {program_id}, {member}, 'R' || i, {_at(conn, f"(i - 1) * {step}")},
                   'S' || (i % 50), CASE WHEN i % 10 < 7 THEN 'till'
                                         WHEN i % 10 < 9 THEN 'web' ELSE 'app' END,
                   (i * 7919) % 500000 + 100, 0, {points},
                   CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, i,
                   CASE WHEN i % 10 = 0 THEN {redeem} ELSE NULL END
            FROM {s_p}""")
        )
        conn.execute(
            text(f"""
            INSERT INTO purchase_lines (purchase_id, line_id, sku, quantity, amount_minor,
                                        discount_minor, points_redeemed, points_earned)
            SELECT i, '1', 'SKU' || (i % 1000), '1', (i * 7919) % 500000 + 100, 0, 0, {points}
            FROM {s_p}""")
        )
        conn.execute(
            text(f"""
            INSERT INTO line_awards (purchase_id, line_id, rule_id, rule_version, points)
            SELECT i, '1', CASE WHEN i % 4 = 0 THEN 'dairy-x2' ELSE 'base' END, 1, {points}
            FROM {s_p}""")
        )
        _load_lots(conn, program_id, n_purchases, n_members)
        if conn.dialect.name == "postgresql":
            for table in (
                "members",
                "journal_entries",
                "purchases",
                "postings",
                "line_awards",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT MAX(id) FROM {table}))"
                    )
                )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


class Cpu:
    """CPU seconds used so far by this process and (PostgreSQL) the database's backends,
    read from /proc (the server runs on this host)."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgresql")
        # a connection of its own (not the pool's, whose backends are the ones measured)
        self.engine = create_engine(url, poolclass=NullPool) if self.pg else None
        self.tick = os.sysconf("SC_CLK_TCK")

    def backends(self) -> dict[int, float]:
        if self.engine is None:
            return {}
        with self.engine.connect() as conn:
            pids = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalars()
            out = {}
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                out[int(pid)] = (int(fields[11]) + int(fields[12])) / self.tick
        return out

    @contextmanager
    def measure(self, into: list[float]) -> Iterator[None]:
        """Append the CPU seconds the block used to ``into``."""
        before, own = self.backends(), time.process_time()
        yield
        own = time.process_time() - own
        after = self.backends()
        into.append(own + sum(v - before.get(pid, 0.0) for pid, v in after.items()))


LOT_DAYS = 180


def _load_lots(conn: Any, program_id: int, n_purchases: int, n_members: int) -> None:
    """Each earn entry's lot, due to expire :data:`LOT_DAYS` after it was earned; the lots
    whose expiry passed before NOW are used up, half of them by an ``expire`` draw and half
    by a ``spend`` draw (the breakage rates read them). The draws have no journal entries
    of their own: nothing here reads them but the expiry figures."""
    s_p = _series(conn, n_purchases)
    step = max(YEAR_S // n_purchases, 1)
    member = f"((i * 7919) % {n_members}) + 1"
    member = (
        f"(CASE WHEN ({member}) * {YEAR_S // n_members} > (i - 1) * {step} "
        f"THEN (i % 50) + 1 ELSE {member} END)"
    )
    points = "(((i * 7919) % 500000 + 100) / 10000)"
    earned = f"(i - 1) * {step}"
    expires = f"(i - 1) * {step} + {LOT_DAYS * 86400}"
    past = f"((i - 1) * {step} + {LOT_DAYS * 86400} < {YEAR_S})"
    conn.execute(
        text(f"""
        INSERT INTO lots (id, program_id, member_id, entry_id, source, amount, remaining,
                          earned_at, available_at, expires_at, activated_at, expired_at)
        SELECT i, {program_id}, {member}, i, 'earn', {points},
               CASE WHEN {past} THEN 0 ELSE {points} END,
               {_at(conn, earned)}, {_at(conn, earned)}, {_at(conn, expires)},
               {_at(conn, earned)}, CASE WHEN {past} THEN {_at(conn, expires)} END
        FROM {s_p}""")
    )
    conn.execute(
        text(f"""
        INSERT INTO lot_draws (lot_id, entry_id, kind, amount)
        SELECT i, i, CASE WHEN i % 2 = 0 THEN 'expire' ELSE 'spend' END, {points}
        FROM {s_p} WHERE {past}""")
    )
    if conn.dialect.name == "postgresql":
        for table in ("lots", "lot_draws"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
            )


def median_ms(call: Any, runs: int, cpu: Cpu, cpu_ms: list[float]) -> float:
    """The median wall time of ``runs`` calls; their CPU times (ms) go to ``cpu_ms``."""
    times = []
    spent: list[float] = []
    for _ in range(runs):
        with cpu.measure(spent):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000)
    cpu_ms.append(round(statistics.median(spent) * 1000, 1))
    return round(statistics.median(times), 1)


def _loaded(ctx: ServiceContext, n_purchases: int) -> Program | None:
    """The kept database's program when it holds a load of ``n_purchases``."""
    try:
        program = programs.get_program(ctx, "bench")
    except NotFoundError:
        return None
    with ctx.uow(read_only=True) as uow:
        count = uow.conn.execute(
            text("SELECT COUNT(*) FROM purchases WHERE program_id = :p"), {"p": program.id}
        ).scalar_one()
    if count != n_purchases:
        raise SystemExit(f"the kept database holds {count} purchases: drop it or use another name")
    with ctx.uow() as uow:
        if uow.conn.execute(text("SELECT COUNT(*) FROM lots")).scalar_one() == 0:
            # a database kept before the load had lots
            members = uow.conn.execute(text("SELECT COUNT(*) FROM members")).scalar_one()
            _load_lots(uow.conn, program.id, n_purchases, int(members))
            uow.commit()
    return program


def run(
    url: str, n_purchases: int, n_members: int, runs: int, out: Path, keep: bool = False
) -> dict[str, Any]:
    """Load a fresh database (or reuse a kept one) and time the rebuild, the KPIs and the
    export."""
    upgrade(url)
    engine, checkpointer = bench_engine(url)
    ctx = ServiceContext(engine, FrozenClock(NOW))
    cpu = Cpu(url)
    program = _loaded(ctx, n_purchases) if keep else None
    loaded: float | None = None
    if program is None:
        program = programs.create_program(
            ctx, programs.CreateProgram("bench", timezone="Europe/Berlin")
        )
        t0 = time.perf_counter()
        with checkpointer:
            load(engine, program.id, n_purchases, n_members)
        loaded = time.perf_counter() - t0
    rebuild_cpu: list[float] = []
    with cpu.measure(rebuild_cpu):
        t0 = time.perf_counter()
        rebuilt = analytics.rebuild(ctx, program)
        rebuild_s = time.perf_counter() - t0
    end = date(2026, 2, 28)
    ranges = {
        "last_30_days_by_day": analytics.KpiQuery(DateRange(end - timedelta(days=29), end)),
        "last_quarter_by_week_by_tier": analytics.KpiQuery(
            DateRange(date(2025, 12, 1), end), Grain.WEEK, Dimension.TIER
        ),
        "whole_year_by_month": analytics.KpiQuery(DateRange(date(2025, 3, 1), end), Grain.MONTH),
        "whole_year_by_day_by_store": analytics.KpiQuery(
            DateRange(date(2025, 3, 1), end), Grain.DAY, Dimension.STORE
        ),
        "one_day": analytics.KpiQuery(DateRange(end, end)),
    }
    kpi_cpu: list[float] = []
    kpi_ms = {
        name: median_ms(lambda q=q: analytics.kpis(ctx, program, q), runs, cpu, kpi_cpu)
        for name, q in ranges.items()
    }
    rules.publish(
        ctx, program, PILOT_RULES, effective_at=datetime(2024, 1, 1, tzinfo=UTC), backdate=True
    )
    year = DateRange(date(2025, 3, 1), end)
    kpi_ms["pilots_whole_year"] = median_ms(
        lambda: pilot_roi.pilot_returns(ctx, program, year), runs, cpu, kpi_cpu
    )
    kpi_ms["campaigns_whole_year"] = median_ms(
        lambda: campaigns.campaign_costs(ctx, program, year), runs, cpu, kpi_cpu
    )
    refresh_ms = median_ms(lambda: analytics.refresh(ctx, program), runs, cpu, [])
    query = exports.ExportQuery(
        "purchases", DateRange(date(2025, 2, 1), end), exports.ExportFormat.PARQUET
    )
    export_cpu: list[float] = []
    with cpu.measure(export_cpu):
        t0 = time.perf_counter()
        size = 0
        with out.open("wb") as f:
            for chunk in exports.export_chunks(ctx, program, query):
                size += len(chunk)
                f.write(chunk)
        export_s = time.perf_counter() - t0
    out.unlink()
    figures = analytics.kpis(ctx, program, ranges["whole_year_by_month"])["totals"]
    engine.dispose()
    if cpu.engine is not None:
        cpu.engine.dispose()
    return {
        "purchases": n_purchases,
        "members": n_members,
        "load_s": None if loaded is None else round(loaded, 1),
        "reused_load": loaded is None,
        "rebuild_s": round(rebuild_s, 1),
        "rebuild_cpu_s": round(rebuild_cpu[0], 1),
        "rebuilt_days": rebuilt["days"],
        "kpi_median_ms": kpi_ms,
        "kpi_median_cpu_ms": dict(zip(kpi_ms, kpi_cpu, strict=True)),
        "refresh_nothing_new_ms": refresh_ms,
        "export_parquet_s": round(export_s, 1),
        "export_parquet_cpu_s": round(export_cpu[0], 1),
        "export_parquet_bytes": size,
        "year_purchases": figures["purchases"],
        "year_issued": figures["issued"],
        "within_goals": {
            "kpi": max(kpi_ms.values()) < GOALS["kpi_ms"],
            "rebuild": rebuild_s < GOALS["rebuild_s"],
            "export": export_s < GOALS["export_s"],
        },
    }


@contextmanager
def kept_sqlite(name: str) -> Iterator[str]:
    """The URL of ``bench/.work/<name>.db``, kept afterwards."""
    yield f"sqlite:///{WORK / f'{name}.db'}"


@contextmanager
def kept_postgres(name: str) -> Iterator[str]:
    """The URL of the database ``kopilka_bench_<name>`` (made when missing), kept."""
    db = f"kopilka_bench_{name}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db})
        if found.first() is None:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    yield make_url(PG_ADMIN).set(database=db).render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="write under bench/.work")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the loaded databases under this name and reuse them when they hold a "
        "load of the same size",
    )
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"command": command_line("bench_analytics", argv), "goals": GOALS}
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / "analytics-export.parquet"
    keep = args.keep is not None
    if not args.no_sqlite:
        sqlite = kept_sqlite(args.keep) if keep else sqlite_scratch("analytics")
        with sqlite as url:
            results["sqlite"] = run(url, args.purchases, args.members, args.runs, out, keep)
            print("sqlite", results["sqlite"], flush=True)
    if args.postgres:
        pg = kept_postgres(args.keep) if keep else postgres_database("analytics")
        with pg as url:
            results["postgres"] = run(url, args.purchases, args.members, args.runs, out, keep)
            print("postgres", results["postgres"], flush=True)
    print(write_result("analytics", results, quick=args.quick))
    return results


if __name__ == "__main__":
    main()
