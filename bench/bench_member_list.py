"""The console's members list at scale: N members bulk-imported, then the first page,
the next page, searches and filtered pages timed (median of several runs).

Run with ``python -m bench.bench_member_list --members 100000`` (``--postgres`` for a
scratch PostgreSQL database too). Members are written to a CSV under ``bench/.work/``
and enrolled with the bulk importer (``kopilka import members``); their balances are
then set in one statement (0-999 points), since the importer books none. Printed
and written to ``bench/results/member_list.json``. Timings are of the service call
(``services.member_list.list_members``: the queries and the rows' shaping), not HTTP.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.machine import (
    WORK,
    bench_engine,
    command_line,
    postgres_database,
    sqlite_scratch,
    write_result,
)
from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from kopilka.services import programs
from kopilka.services.context import ServiceContext
from kopilka.services.imports import import_members
from kopilka.services.member_list import MemberQuery, list_members
from kopilka.store.migrate import upgrade

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LAST = ("Ivanov", "Petrova", "Smirnov", "Kuznetsova", "Popov", "Sokolova", "Orlov", "Volkova")
FIRST = ("Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zoya", "Ilya")


def generate(n: int) -> Path:
    """A members CSV: card, phone, e-mail, first and last name."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"member-list-{n}.csv"
    if path.exists():
        return path
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("card", "phone", "email", "first_name", "last_name"))
        for i in range(n):
            w.writerow(
                (
                    f"C{i:09d}",
                    f"+79{i:09d}",
                    f"member{i}@example.org",
                    FIRST[i % len(FIRST)],
                    f"{LAST[(i // 8) % len(LAST)]}{i % 997}",
                )
            )
    return path


def median_ms(call: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


@dataclass
class Members:
    """A fresh database with one program of ``n`` imported members (what ``build`` made)."""

    engine: Engine
    ctx: ServiceContext
    program: Program
    import_s: float


def build(url: str, n: int) -> Members:
    """Import ``n`` members into a fresh database at ``url`` (card ``C000000000``..., phone
    ``+79000000000``..., names from FIRST and LAST), balances 0-999 points, analysed.
    ``bench_pages`` builds its 1,000,000-member program with it too."""
    upgrade(url)
    engine, checkpointer = bench_engine(url)
    ctx = ServiceContext(engine, FrozenClock(NOW))
    program = programs.create_program(ctx, programs.CreateProgram("bench"))
    t0 = time.perf_counter()
    with checkpointer:
        import_members(ctx, program, generate(n), batch_size=10_000)
    imported = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE member_balances SET available = member_id % 1000 WHERE program_id = :p"),
            {"p": program.id},
        )
        conn.execute(text("ANALYZE"))
    return Members(engine, ctx, program, round(imported, 1))


def run(url: str, n: int, runs: int) -> dict[str, Any]:
    """Import ``n`` members into a fresh database and time the list's pages."""
    members = build(url, n)
    engine, ctx, program = members.engine, members.ctx, members.program
    first = list_members(ctx, program, MemberQuery(), masked=False)
    queries = {
        "first_page": MemberQuery(),
        "second_page": MemberQuery(after=first["next"]),
        "by_name_first_page": MemberQuery(sort="name", descending=False),
        "search_name_prefix": MemberQuery(search="smirnov"),
        "search_full_name_prefix": MemberQuery(search="zoya orlov"),
        "search_phone_prefix": MemberQuery(search="8 900 001 2"),
        "search_card_prefix": MemberQuery(search="C00004"),
        "search_email_prefix": MemberQuery(search="member4242@"),
        "filtered_balance_between_by_balance": MemberQuery(
            status="active", balance_min=100, balance_max=120, sort="balance"
        ),
    }
    timings = {
        name: median_ms(lambda q=q: list_members(ctx, program, q, masked=False), runs)
        for name, q in queries.items()
    }
    engine.dispose()
    return {"members": n, "import_s": members.import_s, "median_ms": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"command": command_line("bench_member_list", None)}
    with sqlite_scratch("member_list") as url:
        results["sqlite"] = run(url, args.members, args.runs)
        print("sqlite", results["sqlite"])
    if args.postgres:
        with postgres_database("member_list") as url:
            results["postgres"] = run(url, args.members, args.runs)
            print("postgres", results["postgres"])
    print(write_result("member_list", results, quick=False))


if __name__ == "__main__":
    main()
