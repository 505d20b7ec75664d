"""SQL for the ledger port (``kopilka.ledger.ports.LedgerPort``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from kopilka.domain.identifiers import IdentifierKind
from kopilka.ledger.model import (
    SPENT_KINDS,
    Balance,
    Draw,
    Entry,
    EntryDraft,
    EntryKind,
    Hold,
    HoldStatus,
    Lot,
)
from kopilka.store.db import FastFamily, FastStatement
from kopilka.store.repos import bulk_expiry
from kopilka.store.tables import (
    LOT_HAS_POINTS,
    column_names,
    holds,
    journal_entries,
    lot_draws,
    lots,
    member_balances,
    member_identifiers,
    members,
    postings,
)

# in the field order of Lot and Hold (the bulk port reads the same columns)
LOT_COLUMNS = (
    lots.c.id,
    lots.c.member_id,
    lots.c.entry_id,
    lots.c.source,
    lots.c.amount,
    lots.c.remaining,
    lots.c.earned_at,
    lots.c.available_at,
    lots.c.expires_at,
    lots.c.activated_at,
    lots.c.expired_at,
)
HOLD_COLUMNS = (
    holds.c.id,
    holds.c.member_id,
    holds.c.amount,
    holds.c.status,
    holds.c.captured,
    holds.c.reference,
    holds.c.created_at,
    holds.c.expires_at,
    holds.c.entry_id,
    holds.c.resolved_entry_id,
    holds.c.store,
)


# Statements on the hot path are built once: constructing and cache-keying a statement
# per call cost more than running it (see bench/README.md)
_B = member_balances.c
_LOCK = (
    select(_B.member_id, _B.available, _B.pending, _B.held, members.c.status)
    .join(members, members.c.id == _B.member_id)
    .where(_B.program_id == bindparam("p"), _B.member_id.in_(bindparam("ids", expanding=True)))
    .order_by(_B.member_id)
)
_LOCK_FOR_UPDATE = _LOCK.with_for_update(of=member_balances)
# the same for one member (a purchase's case), on the DBAPI cursor: ids, points and status
# need no result processing
_LOCK_ONE = (
    select(_B.member_id, _B.available, _B.pending, _B.held, members.c.status)
    .join(members, members.c.id == _B.member_id)
    .where(_B.program_id == bindparam("p"), _B.member_id == bindparam("m"))
)
_LOCK_ONE_FAST = FastStatement(_LOCK_ONE)
_LOCK_ONE_FOR_UPDATE = FastStatement(_LOCK_ONE.with_for_update(of=member_balances))
# the same for the member holding an identifier (a till's card), found in the same statement
_IDENTIFIED = (
    select(member_identifiers.c.member_id)
    .where(
        member_identifiers.c.program_id == bindparam("p"),
        member_identifiers.c.kind == bindparam("k"),
        member_identifiers.c.value == bindparam("v"),
    )
    .scalar_subquery()
)
_LOCK_IDENTIFIED = (
    select(_B.member_id, _B.available, _B.pending, _B.held, members.c.status)
    .join(members, members.c.id == _B.member_id)
    .where(_B.program_id == bindparam("p"), _B.member_id == _IDENTIFIED)
)
_LOCK_IDENTIFIED_FAST = FastStatement(_LOCK_IDENTIFIED)
_LOCK_IDENTIFIED_FOR_UPDATE = FastStatement(_LOCK_IDENTIFIED.with_for_update(of=member_balances))
_SAVE_BALANCE = FastStatement(
    update(member_balances)
    .where(_B.member_id == bindparam("m"))
    .values(available=bindparam("a"), pending=bindparam("p"), held=bindparam("h"))
)
_ENTRY_KEYS = column_names(journal_entries, without=("id",))
_LOT_KEYS = (
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
_INSERT_ENTRY = FastStatement(insert(journal_entries).returning(journal_entries.c.id), _ENTRY_KEYS)
_INSERT_ENTRIES = insert(journal_entries).returning(
    journal_entries.c.id, sort_by_parameter_order=True
)
_INSERT_POSTINGS = FastStatement(
    insert(postings), ("entry_id", "program_id", "account", "member_id", "amount")
)
_INSERT_DRAWS = FastStatement(insert(lot_draws), ("entry_id", "lot_id", "kind", "amount"))
# one entry with its postings and draws: one statement on PostgreSQL
_WRITE_ENTRY = FastFamily(_INSERT_ENTRY, "entry_id", (_INSERT_POSTINGS, _INSERT_DRAWS))
# the same and the one member's balance it leaves (a purchase's earning or redemption)
_WRITE_ENTRY_AND_BALANCE = FastFamily(
    _INSERT_ENTRY, "entry_id", (_INSERT_POSTINGS, _INSERT_DRAWS), attached=(_SAVE_BALANCE,)
)
_INSERT_LOT = FastStatement(insert(lots).returning(lots.c.id), _LOT_KEYS)
_UPDATE_LOT = FastStatement(
    update(lots)
    .where(lots.c.id == bindparam("i"))
    .values(remaining=bindparam("r"), activated_at=bindparam("a"), expired_at=bindparam("e"))
)
LOTS_OF_ENTRY = select(*LOT_COLUMNS).where(lots.c.entry_id == bindparam("e"))
_SPENDABLE = FastStatement(
    select(*LOT_COLUMNS)
    .where(
        lots.c.member_id == bindparam("m"),
        LOT_HAS_POINTS,
        lots.c.activated_at.is_not(None),
        lots.c.expired_at.is_(None),
        or_(lots.c.expires_at.is_(None), lots.c.expires_at > bindparam("now")),
    )
    .order_by(lots.c.expires_at.asc().nulls_last(), lots.c.earned_at, lots.c.id)
)
# whether anything of a member is due at :t (bind :m, :t): timed-out holds, activation, expiry
DUE_EXISTS = (
    select(holds.c.id)
    .where(
        holds.c.member_id == bindparam("m"),
        holds.c.status == HoldStatus.ACTIVE.value,
        holds.c.expires_at <= bindparam("t"),
    )
    .exists(),
    select(lots.c.id)
    .where(
        lots.c.member_id == bindparam("m"),
        lots.c.activated_at.is_(None),
        lots.c.expired_at.is_(None),
        lots.c.available_at <= bindparam("t"),
    )
    .exists(),
    select(lots.c.id)
    .where(
        lots.c.member_id == bindparam("m"),
        lots.c.expired_at.is_(None),
        LOT_HAS_POINTS,
        lots.c.expires_at <= bindparam("t"),
    )
    .exists(),
)
_DUE_KINDS = select(*DUE_EXISTS)
_DUE_NAMES = ("holds", "activation", "expiry")
_INSERT_HOLD = insert(holds).returning(holds.c.id)
_GET_HOLD = select(*HOLD_COLUMNS).where(holds.c.id == bindparam("i"))
_UPDATE_HOLD = (
    update(holds)
    .where(holds.c.id == bindparam("i"))
    .values(status=bindparam("s"), captured=bindparam("c"), resolved_entry_id=bindparam("r"))
)


def due_names(flags: Sequence[Any]) -> frozenset[str]:
    """The names of the due kinds from the flags of :data:`DUE_EXISTS`."""
    return frozenset(name for name, flag in zip(_DUE_NAMES, flags, strict=True) if flag)


def _lot(row: Any) -> Lot:
    return Lot(*row)


def _hold(row: Any) -> Hold:
    h = Hold(*row)
    h.status = HoldStatus(h.status)
    return h


def _balance_row(b: Balance) -> dict[str, Any]:
    return {"m": b.member_id, "a": b.available, "p": b.pending, "h": b.held}


def _children(d: EntryDraft) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An entry's postings and lot draws as rows, without the entry's id."""
    return (
        [
            {
                "program_id": d.program_id,
                "account": str(p.account),
                "member_id": p.member_id,
                "amount": p.amount,
            }
            for p in d.postings
        ],
        [{"lot_id": dr.lot_id, "kind": str(dr.kind), "amount": dr.amount} for dr in d.draws],
    )


class LedgerRepo:
    """Implements the ledger port on one connection (one transaction)."""

    def __init__(self, conn: Connection, *, lock_rows: bool = True) -> None:
        self.conn = conn
        # False only in the control test that shows the race the locks prevent
        self.lock_rows = lock_rows
        self._pg = conn.dialect.name == "postgresql"
        # what is due for (member, as of), read under the member's lock by a combined
        # query (MemberRepo.get_for_purchase); used once, by the next due_kinds
        self._known_due: tuple[int, datetime, frozenset[str]] | None = None

    def know_due(self, member_id: int, as_of: datetime, due: frozenset[str]) -> None:
        """Remember what a query made after the member's lock found due, so that the
        settle that follows at once needs no query of its own."""
        self._known_due = (member_id, as_of, due)

    # -- balances -------------------------------------------------------------------------------
    def lock_balances(self, program_id: int, member_ids: Iterable[int]) -> dict[int, Balance]:
        ids = sorted(set(member_ids))
        lock = self._pg and self.lock_rows
        if len(ids) == 1:
            one = _LOCK_ONE_FOR_UPDATE if lock else _LOCK_ONE_FAST
            return {r[0]: Balance(*r) for r in one.rows(self.conn, {"p": program_id, "m": ids[0]})}
        q = _LOCK_FOR_UPDATE if lock else _LOCK
        rows = self.conn.execute(q, {"p": program_id, "ids": ids})
        return {r[0]: Balance(*r) for r in rows}

    def lock_identified(self, program_id: int, kind: IdentifierKind, value: str) -> Balance | None:
        """The balance of the program's member holding identifier ``kind``/``value``,
        locked as :meth:`lock_balances` locks it, in one statement with the look-up;
        None when no member of the program holds it."""
        one = _LOCK_IDENTIFIED_FOR_UPDATE if self._pg and self.lock_rows else _LOCK_IDENTIFIED_FAST
        rows = one.rows(self.conn, {"p": program_id, "k": str(kind), "v": value})
        return Balance(*rows[0]) if rows else None

    def save_balances(self, balances: Iterable[Balance]) -> None:
        _SAVE_BALANCE.executemany(self.conn, [_balance_row(b) for b in balances])

    # -- journal ----------------------------------------------------------------------------
    def write_entries(
        self, drafts: Sequence[EntryDraft], balances: Sequence[Balance] = ()
    ) -> list[int]:
        if not drafts:
            self.save_balances(balances)
            return []
        rows = [
            {
                "program_id": d.program_id,
                "member_id": d.member_id,
                "kind": str(d.kind),
                "points": d.points,
                "occurred_at": d.occurred_at,
                "reverses_entry_id": d.reverses_entry_id,
                "hold_id": d.hold_id,
                "rule_id": d.rule_id,
                "rule_version": d.rule_version,
                "reference": d.reference,
                "reason": d.reason,
                "actor": d.actor,
                "meta": d.meta,
            }
            for d in drafts
        ]
        if len(rows) == 1:
            if len(balances) == 1:  # one round trip on PostgreSQL, where it took two
                family = _children(drafts[0])
                only = _balance_row(balances[0])
                return [_WRITE_ENTRY_AND_BALANCE.insert(self.conn, rows[0], family, (only,))]
            ids = [_WRITE_ENTRY.insert(self.conn, rows[0], _children(drafts[0]))]
        else:
            ids = [int(r[0]) for r in self.conn.execute(_INSERT_ENTRIES, rows)]
            post_rows: list[dict[str, Any]] = []
            draw_rows: list[dict[str, Any]] = []
            for d, entry_id in zip(drafts, ids, strict=True):
                posts, draws = _children(d)
                post_rows += [{**r, "entry_id": entry_id} for r in posts]
                draw_rows += [{**r, "entry_id": entry_id} for r in draws]
            _INSERT_POSTINGS.executemany(self.conn, post_rows)
            _INSERT_DRAWS.executemany(self.conn, draw_rows)
        self.save_balances(balances)
        return ids

    def insert_draws(self, entry_id: int, draws: Sequence[Draw]) -> None:
        if draws:
            _INSERT_DRAWS.executemany(
                self.conn,
                [
                    {
                        "entry_id": entry_id,
                        "lot_id": d.lot_id,
                        "kind": str(d.kind),
                        "amount": d.amount,
                    }
                    for d in draws
                ],
            )

    def get_entry(self, entry_id: int) -> Entry | None:
        c = journal_entries.c
        row = self.conn.execute(
            select(
                c.id,
                c.program_id,
                c.member_id,
                c.kind,
                c.points,
                c.occurred_at,
                c.reverses_entry_id,
                c.hold_id,
                c.rule_id,
                c.rule_version,
                c.reference,
                c.reason,
                c.actor,
                c.meta,
            ).where(c.id == entry_id)
        ).first()
        if row is None:
            return None
        values = list(row)
        values[3] = EntryKind(values[3])
        return Entry(*values)

    def reversed_points(self, entry_id: int) -> int:
        c = journal_entries.c
        return int(
            self.conn.execute(
                select(func.coalesce(func.sum(c.points), 0)).where(c.reverses_entry_id == entry_id)
            ).scalar_one()
        )

    def reversal_ids(self, entry_id: int) -> list[int]:
        c = journal_entries.c
        return list(
            self.conn.execute(select(c.id).where(c.reverses_entry_id == entry_id)).scalars()
        )

    # -- lots -------------------------------------------------------------------------------
    def insert_lots(self, program_id: int, new: Sequence[Lot]) -> list[int]:
        return [
            int(
                _INSERT_LOT.returning_int(
                    self.conn,
                    {
                        "program_id": program_id,
                        "member_id": lot.member_id,
                        "entry_id": lot.entry_id,
                        "source": lot.source,
                        "amount": lot.amount,
                        "remaining": lot.remaining,
                        "earned_at": lot.earned_at,
                        "available_at": lot.available_at,
                        "expires_at": lot.expires_at,
                        "activated_at": lot.activated_at,
                    },
                )
            )
            for lot in new
        ]

    def update_lots(self, changed: Iterable[Lot]) -> None:
        rows = [
            {"i": lot.id, "r": lot.remaining, "a": lot.activated_at, "e": lot.expired_at}
            for lot in changed
        ]
        _UPDATE_LOT.executemany(self.conn, rows)

    def spendable_lots(self, member_id: int, now: datetime) -> list[Lot]:
        return [_lot(r) for r in _SPENDABLE.tuples(self.conn, {"m": member_id, "now": now})]

    def lots_by_id(self, lot_ids: Sequence[int]) -> dict[int, Lot]:
        if not lot_ids:
            return {}
        rows = self.conn.execute(select(*LOT_COLUMNS).where(lots.c.id.in_(list(lot_ids))))
        return {r[0]: _lot(r) for r in rows}

    def lot_of_entry(self, entry_id: int) -> Lot | None:
        # the entry's lots by ix_lots_entry, the first picked here: with ``ORDER BY id
        # LIMIT 1``, PostgreSQL on stale statistics walked the primary key from the first
        # lot of the database instead, filtering each (4,000 lots read at 4,000 lots)
        rows = self.conn.execute(LOTS_OF_ENTRY, {"e": entry_id}).all()
        return _lot(min(rows, key=lambda r: int(r[0]))) if rows else None

    def due_activation(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Lot]:
        q = select(*LOT_COLUMNS).where(
            lots.c.program_id == program_id,
            lots.c.activated_at.is_(None),
            lots.c.expired_at.is_(None),
            lots.c.available_at <= as_of,
        )
        return self._due(q, member_ids, limit)

    def due_expiry(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Lot]:
        q = select(*LOT_COLUMNS).where(
            lots.c.program_id == program_id,
            lots.c.expired_at.is_(None),
            LOT_HAS_POINTS,
            lots.c.expires_at <= as_of,
        )
        return self._due(q, member_ids, limit)

    def _due(self, q: Any, member_ids: Sequence[int] | None, limit: int) -> list[Lot]:
        if member_ids is not None:
            q = q.where(lots.c.member_id.in_(list(member_ids)))
        q = q.order_by(lots.c.member_id, lots.c.id).limit(limit)
        return [_lot(r) for r in self.conn.execute(q)]

    def net_spent_by_lot(self, entry_ids: Sequence[int]) -> list[tuple[int, int]]:
        q = (
            select(lot_draws.c.lot_id, func.sum(lot_draws.c.amount), func.min(lot_draws.c.id))
            .where(
                lot_draws.c.entry_id.in_(list(entry_ids)),
                lot_draws.c.kind.in_([str(k) for k in SPENT_KINDS]),
            )
            .group_by(lot_draws.c.lot_id)
            .order_by(func.min(lot_draws.c.id))
        )
        return [(int(r[0]), int(r[1])) for r in self.conn.execute(q) if r[1] > 0]

    # -- holds ------------------------------------------------------------------------------
    def insert_hold(self, program_id: int, hold: Hold) -> int:
        return int(
            self.conn.execute(
                _INSERT_HOLD,
                {
                    "program_id": program_id,
                    "member_id": hold.member_id,
                    "amount": hold.amount,
                    "status": str(hold.status),
                    "captured": hold.captured,
                    "reference": hold.reference,
                    "created_at": hold.created_at,
                    "expires_at": hold.expires_at,
                    "entry_id": hold.entry_id,
                    "store": hold.store,
                },
            ).scalar_one()
        )

    def get_hold(self, hold_id: int) -> Hold | None:
        row = self.conn.execute(_GET_HOLD, {"i": hold_id}).first()
        return _hold(row) if row else None

    def update_hold(self, hold: Hold) -> None:
        self.conn.execute(
            _UPDATE_HOLD,
            {"i": hold.id, "s": str(hold.status), "c": hold.captured, "r": hold.resolved_entry_id},
        )

    def due_kinds(self, program_id: int, member_id: int, as_of: datetime) -> frozenset[str]:
        known, self._known_due = self._known_due, None
        if known is not None and known[0] == member_id and known[1] == as_of:
            return known[2]
        return due_names(self.conn.execute(_DUE_KINDS, {"m": member_id, "t": as_of}).one())

    def due_expiry_members(self, program_id: int, as_of: datetime, limit: int) -> list[int]:
        due = (
            select(lots.c.member_id)
            .where(
                lots.c.program_id == program_id,
                lots.c.expired_at.is_(None),
                LOT_HAS_POINTS,
                lots.c.expires_at <= as_of,
            )
            .limit(limit)
            .subquery()
        )
        q = select(due.c.member_id).distinct().order_by(due.c.member_id)
        return [int(m) for m in self.conn.execute(q).scalars()]

    def expire_lots(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int]
    ) -> tuple[int, int]:
        return bulk_expiry.expire_lots(self.conn, program_id, as_of, member_ids)

    def due_holds(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Hold]:
        q = select(*HOLD_COLUMNS).where(
            and_(
                holds.c.program_id == program_id,
                holds.c.status == HoldStatus.ACTIVE.value,
                holds.c.expires_at <= as_of,
            )
        )
        if member_ids is not None:
            q = q.where(holds.c.member_id.in_(list(member_ids)))
        q = q.order_by(holds.c.member_id, holds.c.id).limit(limit)
        return [_hold(r) for r in self.conn.execute(q)]
