"""``FastStatement`` (the DBAPI path of the hot inserts and updates) writes exactly the rows
``Connection.execute`` writes, with the same types, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.db import FastStatement
from kopilka.store.repos.idempotency import IdempotencyRepo
from kopilka.store.repos.purchases import (
    PurchaseRepo,
    StoredAward,
    StoredLine,
    StoredPurchase,
    StoredReturn,
)
from kopilka.store.repos.tiers import Standing, TierRepo
from kopilka.store.tables import idempotency_keys, journal_entries, lots, member_balances

NOW = datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=UTC)
ENTRY_KEYS = ("program_id", "member_id", "kind", "points", "occurred_at", "rule_id", "meta")
LOT_KEYS = (
    "program_id",
    "member_id",
    "entry_id",
    "source",
    "amount",
    "remaining",
    "earned_at",
    "available_at",
    "expires_at",
    "activated_at",
)


def _without_id(row: Any) -> tuple[Any, ...]:
    return tuple(v for k, v in row._mapping.items() if k != "id")


@pytest.mark.parametrize(
    "meta", [None, {"receipt_id": "R-1", "by_rule": {"base": 3}}, {"ж": [1, "два"]}]
)
def test_insert_returning_same_row(
    ctx: ServiceContext, make_program: Callable[..., Program], meta: Any
) -> None:
    program = make_program()
    stmt = insert(journal_entries).returning(journal_entries.c.id)
    fast = FastStatement(stmt, ENTRY_KEYS)
    row = {
        "program_id": program.id,
        "member_id": None,
        "kind": "earn",
        "points": 7,
        "occurred_at": NOW,
        "rule_id": "base",
        "meta": meta,
    }
    with ctx.uow() as uow:
        slow_id = uow.conn.execute(stmt, row).scalar_one()
        fast_id = fast.returning_int(uow.conn, row)
        rows = {
            r.id: r
            for r in uow.conn.execute(
                select(journal_entries).where(journal_entries.c.id.in_([slow_id, fast_id]))
            )
        }
        assert isinstance(fast_id, int)
        assert fast_id != slow_id
        assert _without_id(rows[fast_id]) == _without_id(rows[slow_id])
        assert rows[fast_id].occurred_at == NOW
        assert rows[fast_id].meta == meta


def test_executemany_and_update_same_rows(
    ctx: ServiceContext,
    make_program: Callable[..., Program],
    make_member: Callable[..., int],
) -> None:
    program = make_program()
    member_id = make_member(program)
    entry = FastStatement(insert(journal_entries).returning(journal_entries.c.id), ENTRY_KEYS)
    lot = FastStatement(insert(lots), LOT_KEYS)
    with ctx.uow() as uow:
        entry_id = entry.returning_int(
            uow.conn,
            {
                "program_id": program.id,
                "member_id": member_id,
                "kind": "earn",
                "points": 5,
                "occurred_at": NOW,
                "rule_id": None,
                "meta": None,
            },
        )
        rows = [
            {
                "program_id": program.id,
                "member_id": member_id,
                "entry_id": entry_id,
                "source": "earn",
                "amount": 5 + i,
                "remaining": 5 + i,
                "earned_at": NOW,
                "available_at": NOW + timedelta(days=i),
                "expires_at": None if i else NOW + timedelta(days=365),
                "activated_at": None if i else NOW,
            }
            for i in range(3)
        ]
        uow.conn.execute(insert(lots), rows)
        lot.executemany(uow.conn, rows)  # several rows: one multi-row INSERT on PostgreSQL
        lot.executemany(uow.conn, rows[:1])  # one row: a plain execute
        found = uow.conn.execute(
            select(lots).where(lots.c.entry_id == entry_id).order_by(lots.c.id)
        ).all()
        assert [_without_id(r) for r in found[:3]] == [_without_id(r) for r in found[3:6]]
        assert _without_id(found[6]) == _without_id(found[0])
        assert found[3].available_at == NOW + timedelta(days=0)
        save = FastStatement(
            update(member_balances)
            .where(member_balances.c.member_id == bindparam("m"))
            .values(available=bindparam("a"), pending=bindparam("p"), held=bindparam("h"))
        )
        save.executemany(uow.conn, [{"m": member_id, "a": -3, "p": 4, "h": 5}])
        # a column of nulls only, and text that needs quoting inside an array
        odd = [{**rows[0], "expires_at": None, "source": 'a "b", {c}'} for _ in range(2)]
        lot.executemany(uow.conn, odd)
        last = uow.conn.execute(
            select(lots.c.source, lots.c.expires_at).order_by(lots.c.id.desc()).limit(2)
        ).all()
        assert [tuple(r) for r in last] == [('a "b", {c}', None)] * 2
        # more rows than MULTI_ROW_MAX: one array per column on PostgreSQL, the driver's
        # executemany on SQLite
        many = [{**rows[0], "amount": n, "remaining": n} for n in range(1, 41)]
        lot.executemany(uow.conn, many)
        amounts = uow.conn.execute(
            select(lots.c.amount).where(lots.c.entry_id == entry_id).order_by(lots.c.id)
        ).scalars()
        assert list(amounts)[9:] == list(range(1, 41))
        balance = uow.conn.execute(
            select(
                member_balances.c.available, member_balances.c.pending, member_balances.c.held
            ).where(member_balances.c.member_id == member_id)
        ).one()
        assert tuple(balance) == (-3, 4, 5)


def test_idempotency_pair_matches_single_puts(
    ctx: ServiceContext, make_program: Callable[..., Program]
) -> None:
    program = make_program()
    response: dict[str, Any] = {
        "receipt_id": "R-1",
        "total": "10.00",
        "lines": [{"awards": []}],
        "x": None,
    }
    with ctx.uow() as uow:
        repo = IdempotencyRepo(uow.conn)
        assert repo.put(program.id, "a", "purchase", "h" * 64, True, response, NOW)
        assert repo.put_pair(program.id, ("b", "c"), "purchase", "h" * 64, response, NOW) == 2
        # a key already taken is not overwritten, and counts as not new
        assert repo.put_pair(program.id, ("c", "d"), "purchase", "h" * 64, {"y": 1}, NOW) == 1
        rows = {
            r.key: r
            for r in uow.conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.program_id == program.id)
            )
        }
        assert sorted(rows) == ["a", "b", "c", "d"]
        assert _without_id(rows["b"])[2:] == _without_id(rows["a"])[2:]
        assert rows["c"].response == response
        assert rows["b"].created_at == NOW
        found = repo.get_many(program.id, ("b", "zz"))
        assert list(found) == ["b"]
        assert found["b"].response == response
        assert found["b"].succeeded is True


def test_database_errors_are_sqlalchemy_errors(
    ctx: ServiceContext, make_program: Callable[..., Program]
) -> None:
    program = make_program()
    with ctx.uow() as uow:
        repo = IdempotencyRepo(uow.conn)
        assert repo.put(program.id, "a", "purchase", "h" * 64, True, {}, NOW)
        fast = FastStatement(
            insert(idempotency_keys),
            (
                "program_id",
                "key",
                "operation",
                "request_hash",
                "succeeded",
                "response",
                "created_at",
            ),
        )
        row = {
            "program_id": program.id,
            "key": "a",
            "operation": "purchase",
            "request_hash": "h" * 64,
            "succeeded": True,
            "response": {},
            "created_at": NOW,
        }
        with pytest.raises(IntegrityError):
            fast.execute(uow.conn, row)


def test_query_rows_processed_as_sqlalchemy_does(
    ctx: ServiceContext,
    make_program: Callable[..., Program],
    make_member: Callable[..., int],
) -> None:
    """Dates, UTC datetimes, JSON and flags read on the DBAPI cursor come back as
    ``Connection.execute`` gives them (the purchase's member query)."""
    program = make_program()
    member_id = make_member(
        program,
        first_name="Анна",
        birthday="1990-05-17",
        attributes={"segments": ["vip"], "n": 3, "nested": {"a": [1, None]}},
    )
    with ctx.uow() as uow:
        slow = uow.members.get(program.id, member_id, identifiers=False)
        fast, rule_set_id, due = uow.members.get_for_purchase(program.id, member_id, NOW, NOW)
    assert fast == slow
    assert fast.birthday is not None
    assert fast.enrolled_at.tzinfo is not None
    assert rule_set_id is None
    assert due == frozenset()


def test_multi_row_insert_with_json_column(
    ctx: ServiceContext, make_program: Callable[..., Program]
) -> None:
    """A table with a JSON column keeps the multi-row VALUES form on PostgreSQL (no array
    form for JSON) and writes what ``Connection.execute`` writes."""
    program = make_program()
    fast = FastStatement(insert(journal_entries), ENTRY_KEYS)
    rows = [
        {
            "program_id": program.id,
            "member_id": None,
            "kind": "earn",
            "points": n,
            "occurred_at": NOW,
            "rule_id": f"r{n}",
            "meta": {"n": n, "ж": [n]} if n % 2 else None,
        }
        for n in range(1, 4)
    ]
    with ctx.uow() as uow:
        uow.conn.execute(insert(journal_entries), rows)
        fast.executemany(uow.conn, rows)
        found = uow.conn.execute(
            select(journal_entries)
            .where(journal_entries.c.program_id == program.id)
            .order_by(journal_entries.c.id)
        ).all()
        assert [_without_id(r) for r in found[:3]] == [_without_id(r) for r in found[3:]]
        assert found[3].meta == {"n": 1, "ж": [1]}


def test_multi_row_insert_refuses_a_value_too_long_as_execute_does(
    ctx: ServiceContext, backend: str
) -> None:
    """The array form of a multi-row insert on PostgreSQL must not cut a value silently (an
    explicit cast to VARCHAR(n) would): the INSERT refuses it as Connection.execute does.
    SQLite keeps text of any length either way."""
    from sqlalchemy.exc import DataError

    from kopilka.store.repos.purchases import _INSERT_LINES
    from kopilka.store.tables import purchase_lines

    def rows(purchase_id: int) -> list[dict[str, Any]]:
        return [
            {
                "purchase_id": purchase_id,
                "line_id": str(n),
                "sku": "S" * 70 if n == 2 else "S1",  # the column is VARCHAR(64)
                "category": None,
                "brand": None,
                "quantity": "1",
                "amount_minor": 100,
                "discount_minor": 0,
                "points_redeemed": 0,
                "points_earned": 0,
            }
            for n in (1, 2)
        ]

    outcomes = []
    for purchase_id, run in (
        (910_001, lambda c, r: c.execute(insert(purchase_lines), r)),
        (910_002, _INSERT_LINES.executemany),
    ):
        try:
            with ctx.uow() as uow:
                run(uow.conn, rows(purchase_id))
                stored = uow.conn.execute(
                    select(purchase_lines.c.sku)
                    .where(purchase_lines.c.purchase_id == purchase_id)
                    .order_by(purchase_lines.c.line_id)
                ).scalars()
                outcomes.append(list(stored))
                uow.rollback()
        except DataError:
            outcomes.append("refused")
    if backend.startswith("postgresql"):
        assert outcomes == ["refused", "refused"]
    else:
        assert outcomes == [["S1", "S" * 70]] * 2


@pytest.mark.parametrize("awards", [0, 1, 3])
def test_purchase_lines_and_awards_in_one_statement_read_back_as_written(
    ctx: ServiceContext,
    make_program: Callable[..., Program],
    make_member: Callable[..., int],
    awards: int,
) -> None:
    """``FastFamily`` (one statement of CTEs on PostgreSQL, four on SQLite) stores the
    purchase, its lines and their awards exactly and adds it to the member's lifetime
    totals; a duplicate receipt is SQLAlchemy's IntegrityError, as with the statements
    one by one."""
    program = make_program()
    member_id = make_member(program)
    stored = StoredPurchase(
        id=0,
        program_id=program.id,
        member_id=member_id,
        receipt_id="R-ж-1",
        occurred_at=NOW,
        store="s1",
        channel="till",
        total_minor=123_45,
        discount_minor=5_00,
        points_earned=12,
        points_redeemed=3,
        earn_entry_id=None,
        redeem_entry_id=None,
        rule_version=2,
        meta={"control_group": ["x"], "ж": "два"},
        lines=[
            StoredLine("1", "SKU-1", "dairy", None, Decimal("1.5"), 100_00, 5_00, 3, 10),
            StoredLine("2", "SKU-2", None, "acme", Decimal("2"), 23_45, 0, 0, 2),
        ],
        awards=[StoredAward(str(1 + i % 2), f"rule-{i}", 2, i + 1) for i in range(awards)],
    )
    with ctx.uow() as uow:
        before = uow.members.get(program.id, member_id, identifiers=False)
        repo = PurchaseRepo(uow.conn)
        pid = repo.add(stored)
        back = repo.by_receipt(program.id, "R-ж-1")
        assert back is not None
        assert back.id == pid
        assert replace(back, id=0, returns=[]) == stored
        after = uow.members.get(program.id, member_id, identifiers=False)
        assert after.lifetime_spend_minor == before.lifetime_spend_minor + 118_45
        assert after.purchase_count == before.purchase_count + 1
        with pytest.raises(IntegrityError):
            repo.add(replace(stored, lines=[*stored.lines], awards=[*stored.awards]))


def _purchase(program: Program, member_id: int, receipt: str, at: datetime) -> StoredPurchase:
    return StoredPurchase(
        id=0,
        program_id=program.id,
        member_id=member_id,
        receipt_id=receipt,
        occurred_at=at,
        store=None,
        channel="till",
        total_minor=50_00,
        discount_minor=7_00,
        points_earned=9,
        points_redeemed=0,
        earn_entry_id=None,
        redeem_entry_id=None,
        rule_version=1,
        meta=None,
        lines=[StoredLine("1", "SKU-1", None, None, Decimal("1"), 50_00, 7_00, 0, 9)],
        awards=[StoredAward("1", "base", 1, 9)],
    )


@pytest.mark.parametrize("standing", [False, True])
@pytest.mark.parametrize("inside", [True, False])
def test_purchase_reads_its_tier_view_as_a_query_after_it_would(
    ctx: ServiceContext,
    make_program: Callable[..., Program],
    make_member: Callable[..., int],
    standing: bool,
    inside: bool,
) -> None:
    """``PurchaseRepo.add_and_view`` (the tier view read in the purchase's own statement on
    PostgreSQL, counted from before it and the purchase added) answers what
    ``TierRepo.purchase_view`` reads once the purchase is stored: the window's metrics net
    of an earlier purchase's return, with an older purchase left out, the standing with
    its floors' ends as UTC datetimes, and the effective tier; a purchase outside the
    window is left out of it too."""
    program = make_program()
    member_id = make_member(program)
    start, end = NOW - timedelta(days=30), NOW + timedelta(days=30)
    with ctx.uow() as uow:
        repo, tiers = PurchaseRepo(uow.conn), TierRepo(uow.conn)
        repo.add(_purchase(program, member_id, "R-old", start - timedelta(seconds=1)))
        earlier = repo.add(_purchase(program, member_id, "R-1", start))
        repo.add_return(earlier, StoredReturn("RT-1", NOW, 4, 0, 20_00, []))
        if standing:
            later = NOW + timedelta(days=3)
            tiers.save(
                program.id,
                Standing(member_id, "gold", "platinum", later, "why", None, False, "gold", later),
                NOW,
            )
            tiers.set_tier_code(member_id, "platinum", later)
        at = NOW if inside else end
        pid, view = repo.add_and_view(_purchase(program, member_id, "R-2", at), start, end)
        assert view == tiers.purchase_view(member_id, start, end)
        assert view.metrics == ((43_00 * 2 - 20_00, 18 - 4, 2) if inside else (23_00, 5, 1))
        back = repo.by_receipt(program.id, "R-2")
        assert back is not None
        assert back.id == pid
        if standing:
            assert view.manual_until == later
            assert view.manual_until.tzinfo == UTC
            assert (view.stored, view.tier_code, view.paid_tier) == (True, "platinum", "gold")
        else:
            assert (view.stored, view.earned_tier, view.tier_code) == (False, None, None)
