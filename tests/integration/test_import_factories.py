"""Factories for the import tests: programs with rules, members, and purchase files.

No tests here: the rows a test imports are built by these functions, written as CSV or
Parquet, and the same purchases can be committed one by one through the services.
"""

from __future__ import annotations

import csv
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kopilka.domain.program import Program
from kopilka.services import members, programs, rules
from kopilka.services.context import ServiceContext
from tests.program_spec import program_command

RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}, limits: {per_member_day: 40}}
  - {id: dairy-x2, kind: multiplier, factor: 2, scope: {categories: [dairy]}}
  - {id: big-basket, kind: bonus, points: 50, min_amount: "3000"}
exclude: {categories: [tobacco]}
redemption: {max_percent: 50, step: 10}
"""
RULES_V2 = RULES.replace('per: "100"', 'per: "50"')
HISTORY_START = datetime(2025, 9, 1, 9, 0, tzinfo=UTC)
CATEGORIES = ("dairy", "bread", "fruit", "tobacco", "meat")


def loyalty_program(ctx: ServiceContext, clock: Any, **spec: Any) -> Program:
    """A program whose points expire after 60 days, with rules v1 from before the history
    and v2 from its middle (so both versions are in force for some purchases)."""
    now = clock.now()
    program = programs.create_program(
        ctx,
        program_command(f"imp-{uuid.uuid4().hex[:10]}", expiry_kind="days", expiry_n=60, **spec),
    )
    clock.set(HISTORY_START - timedelta(days=30))
    rules.publish(ctx, program, RULES, actor="test")
    clock.set(now)
    # v2 took effect in the past: a migration backdates it explicitly
    rules.publish(
        ctx,
        program,
        RULES_V2,
        actor="test",
        effective_at=HISTORY_START + timedelta(days=45),
        backdate=True,
    )
    return program


def enroll_cards(ctx: ServiceContext, program: Program, n: int) -> list[str]:
    """Enroll ``n`` members; returns their card numbers."""
    cards = [f"C{uuid.uuid4().hex[:10].upper()}" for _ in range(n)]
    for card in cards:
        members.enroll(ctx, program, members.Enroll((members.identifier("card", card),)))
    return cards


def purchase_rows(
    cards: list[str], receipts: int, *, seed: int = 7, redeem_every: int = 4
) -> list[dict[str, Any]]:
    """One row per line: ``receipts`` receipts over ~120 days, some paid partly with points
    (which the ledger may refuse when the member has too few points at that time)."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    prefix = uuid.uuid4().hex[:6]
    for r in range(receipts):
        at = HISTORY_START + timedelta(days=r * 120 / receipts, minutes=rnd.randint(0, 600))
        redeem = 20 if r % redeem_every == redeem_every - 1 else None
        for ln in range(rnd.randint(1, 4)):
            rows.append(
                {
                    "receipt_id": f"{prefix}-R{r:05d}",
                    "member_card": cards[r % len(cards)],
                    "occurred_at": at,
                    "store": f"s{r % 3}",
                    "line_id": str(ln + 1),
                    "sku": f"SKU{rnd.randint(1, 50)}",
                    "category": rnd.choice(CATEGORIES),
                    "quantity": Decimal(rnd.choice(["1", "2", "0.5"])),
                    "amount": Decimal(rnd.randint(5000, 150000)) / 100,
                    "redeemed_points": redeem if ln == 0 else None,
                }
            )
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]], extra: list[str] | None = None) -> Path:
    """The rows as CSV (``occurred_at`` in ISO 8601), plus raw ``extra`` lines at the end."""
    cols = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(cols)
        for row in rows:
            out.writerow(
                [
                    v.isoformat() if isinstance(v, datetime) else ("" if v is None else v)
                    for v in (row[c] for c in cols)
                ]
            )
        for line in extra or []:
            f.write(line + "\n")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The rows as Parquet with typed columns: a UTC timestamp and decimals."""
    types = {
        "occurred_at": pa.timestamp("us", tz="UTC"),
        "amount": pa.decimal128(12, 2),
        "quantity": pa.decimal128(12, 3),
        "redeemed_points": pa.int64(),
    }
    cols = {c: [row[c] for row in rows] for c in rows[0]}
    table = pa.table({c: pa.array(v, type=types.get(c, pa.string())) for c, v in cols.items()})
    pq.write_table(table, path, row_group_size=50)
    return path


def commit_body(receipt: list[dict[str, Any]]) -> dict[str, Any]:
    """The API body of one receipt's rows, as services.purchases.commit takes it."""
    head = receipt[0]
    return {
        "receipt_id": head["receipt_id"],
        "member": {"card": head["member_card"]},
        "occurred_at": head["occurred_at"].isoformat(),
        "store": head["store"],
        "redeem_points": head["redeemed_points"] or 0,
        "lines": [
            {
                "line_id": r["line_id"],
                "sku": r["sku"],
                "category": r["category"],
                "quantity": str(r["quantity"]),
                "amount": str(r["amount"]),
            }
            for r in receipt
        ],
    }


def by_receipt(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["receipt_id"], []).append(row)
    return list(groups.values())
