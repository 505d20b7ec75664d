"""A ledger port that keeps one batch of members in memory and writes it all at the end.

:class:`kopilka.ledger.Ledger` runs unchanged on top of it, so an import books points
with exactly the semantics of a purchase committed through the services (lots, draws,
settling, repaying a debt), only without a round trip per purchase. The members of the
batch are loaded once (balances with their status, open lots, active holds); entries,
lots and draws get their ids from :class:`~kopilka.store.bulk.writer.BulkWriter`
and are written by :meth:`MemoryLedgerPort.flush` in the same transaction.

The batch's members must be locked for the whole transaction: :meth:`load` takes their
balance rows ``FOR UPDATE`` in ascending id order on PostgreSQL (the ledger's lock
order); SQLite's write transaction already excludes every other writer.

Only what a purchase can do is held in memory. Reading an entry, or the draws of a hold
made before the batch, goes to the database, where such rows already are; creating
holds and whole-database sweeps are not supported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from kopilka.ledger.model import Balance, Draw, Entry, EntryDraft, Hold, HoldStatus, Lot
from kopilka.store.bulk.writer import BulkWriter
from kopilka.store.repos.ledger import HOLD_COLUMNS, LOT_COLUMNS, LedgerRepo
from kopilka.store.tables import column_names, journal_entries, lot_draws, lots, postings

ENTRY_COLS = column_names(journal_entries)
TableRows = tuple[str, Sequence[str], list[tuple[Any, ...]]]
POSTING_COLS = column_names(postings, without=("id",))
DRAW_COLS = column_names(lot_draws, without=("id",))
LOT_COLS = column_names(lots)


# what a batch changes in rows that were there before: (column, PostgreSQL type)
_ID = ("id", "bigint")
_LOT_CHANGE = (
    ("remaining", "bigint"),
    ("activated_at", "timestamptz"),
    ("expired_at", "timestamptz"),
)
_HOLD_CHANGE = (("status", "varchar"), ("captured", "bigint"), ("resolved_entry_id", "bigint"))
_BALANCE_CHANGE = (("available", "bigint"), ("pending", "bigint"), ("held", "bigint"))
_LOT_SELECT = ", ".join(c.name for c in LOT_COLUMNS)
_HOLD_SELECT = ", ".join(c.name for c in HOLD_COLUMNS)


def _utc_reader(pg: bool) -> Callable[[Any], datetime | None]:
    """Driver values of a ``UTCDateTime`` column as that type returns them (aware, UTC);
    SQLite's text is converted once per distinct value."""
    if pg:

        def pg_value(value: Any) -> datetime | None:
            return None if value is None else value.astimezone(UTC)

        return pg_value
    memo: dict[str, datetime] = {}

    def sqlite_value(value: Any) -> datetime | None:
        if value is None:
            return None
        out = memo.get(value)
        if out is None:
            out = datetime.fromisoformat(value) if isinstance(value, str) else value
            out = out.replace(tzinfo=UTC) if out.tzinfo is None else out.astimezone(UTC)
            memo[value] = out
        return out

    return sqlite_value


def _spend_order(lot: Lot) -> tuple[Any, ...]:
    # soonest expiry (never last), then earliest earned, then id: LedgerRepo.spendable_lots
    return (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at, lot.id)


class MemoryLedgerPort:
    """Implements :class:`kopilka.ledger.ports.LedgerPort` for one batch, in memory."""

    def __init__(self, writer: BulkWriter, program_id: int) -> None:
        self.w = writer
        self.program_id = program_id
        self.db = LedgerRepo(writer.conn)
        self.balances: dict[int, Balance] = {}
        self.open_lots: dict[int, list[Lot]] = {}
        self.lot_index: dict[int, Lot] = {}
        self.new_lots: list[Lot] = []
        self.changed_lots: dict[int, Lot] = {}
        self.active_holds: dict[int, list[Hold]] = {}
        self.changed_holds: dict[int, Hold] = {}
        self.dirty: set[int] = set()
        self.entries: list[tuple[Any, ...]] = []
        self.postings: list[tuple[Any, ...]] = []
        self.draws: list[tuple[Any, ...]] = []
        # counts calls that changed state: lets the caller tell whether a refused
        # operation left anything behind
        self.writes = 0
        # how many entries, postings, draws and new lots take_rows has handed out, and
        # the state each new lot was sent in
        self._sent = (0, 0, 0, 0)
        self.sent_lots: dict[int, tuple[int, datetime | None, datetime | None]] = {}

    # -- loading ----------------------------------------------------------------------------
    def load(self, member_ids: Iterable[int]) -> None:
        """Lock and load the members' balances, open lots and active holds."""
        balances = self.balances
        ids = sorted({m for m in member_ids if m not in balances})
        if not ids:
            return
        at = _utc_reader(self.w.pg)
        # the batch's members, locked in ascending id order on PostgreSQL (the ledger's)
        for r in self._driver_rows(
            "SELECT b.member_id, b.available, b.pending, b.held, m.status "
            "FROM member_balances b JOIN members m ON m.id = b.member_id "
            "WHERE b.member_id {ids} AND b.program_id = {program} ORDER BY b.member_id"
            + (" FOR UPDATE OF b" if self.w.pg else ""),
            ids,
        ):
            self.balances[r[0]] = Balance(*r)
            self.open_lots[r[0]] = []
        # the lots any ledger query of a purchase can return: not expired, and with
        # points left or still pending
        for r in self._driver_rows(
            f"SELECT {_LOT_SELECT} FROM lots WHERE member_id {{ids}} "  # noqa: S608 - ours
            "AND expired_at IS NULL AND (remaining > 0 OR activated_at IS NULL) "
            "ORDER BY member_id, id",
            ids,
        ):
            # a row of LOT_COLUMNS
            lot = Lot(*r[:6], at(r[6]), at(r[7]), at(r[8]), at(r[9]), at(r[10]))  # type: ignore[call-arg]
            self.open_lots.setdefault(lot.member_id, []).append(lot)
            self.lot_index[lot.id] = lot
        for r in self._driver_rows(
            f"SELECT {_HOLD_SELECT} FROM holds WHERE member_id {{ids}} "  # noqa: S608 - ours
            f"AND status = '{HoldStatus.ACTIVE.value}' ORDER BY member_id, id",
            ids,
        ):
            # a row of HOLD_COLUMNS
            hold = Hold(*r[:3], HoldStatus(r[3]), *r[4:6], at(r[6]), at(r[7]), *r[8:])  # type: ignore[call-arg]
            self.active_holds.setdefault(hold.member_id, []).append(hold)

    def _driver_rows(self, sql: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``{ids}`` becomes the test on the members, ``{program}`` the
        program) read through the driver in the batch's transaction: without SQLAlchemy's
        per-value processing, which made most of a batch's loading time. Values that
        need it (timestamps, statuses) are converted by the caller as the column types
        would convert them."""
        cur = self.w.raw().cursor()
        try:
            if self.w.pg:
                cur.execute(sql.format(ids="= ANY(%s)", program=int(self.program_id)), (list(ids),))
            else:
                marks = ", ".join("?" * len(ids))
                cur.execute(sql.format(ids=f"IN ({marks})", program=int(self.program_id)), ids)
            return list(cur.fetchall())
        finally:
            cur.close()

    # -- balances ---------------------------------------------------------------------------
    def lock_balances(self, program_id: int, member_ids: Iterable[int]) -> dict[int, Balance]:
        balances = self.balances
        wanted = list(member_ids)
        if any(m not in balances for m in wanted):
            self.load(wanted)
        return {m: balances[m] for m in wanted if m in balances}

    def save_balances(self, balances: Iterable[Balance]) -> None:
        for b in balances:
            self.writes += 1
            self.balances[b.member_id] = b
            self.dirty.add(b.member_id)

    # -- journal ----------------------------------------------------------------------------
    def write_entries(
        self, drafts: Sequence[EntryDraft], balances: Sequence[Balance] = ()
    ) -> list[int]:
        self.save_balances(balances)
        ts, js, ids = self.w.ts, self.w.js, []
        self.writes += len(drafts)
        for d in drafts:
            entry_id = self.w.next_id("journal_entries")
            ids.append(entry_id)
            self.entries.append(
                (
                    entry_id,
                    d.program_id,
                    d.member_id,
                    str(d.kind),
                    d.points,
                    ts(d.occurred_at),
                    d.reverses_entry_id,
                    d.hold_id,
                    d.rule_id,
                    d.rule_version,
                    d.reference,
                    d.reason,
                    d.actor,
                    js(d.meta),
                )
            )
            for p in d.postings:
                self.postings.append(
                    (entry_id, d.program_id, str(p.account), p.member_id, p.amount)
                )
            if d.draws:  # an earning draws from no lot
                self.insert_draws(entry_id, d.draws)
        return ids

    def insert_draws(self, entry_id: int, draws: Sequence[Draw]) -> None:
        self.writes += len(draws)
        for dr in draws:
            self.draws.append((dr.lot_id, entry_id, str(dr.kind), dr.amount))

    def get_entry(self, entry_id: int) -> Entry | None:
        return self.db.get_entry(entry_id)

    def reversed_points(self, entry_id: int) -> int:
        return self.db.reversed_points(entry_id)

    def reversal_ids(self, entry_id: int) -> list[int]:
        return self.db.reversal_ids(entry_id)

    # -- lots -------------------------------------------------------------------------------
    def insert_lots(self, program_id: int, new: Sequence[Lot]) -> list[int]:
        ids = []
        self.writes += len(new)
        for lot in new:
            lot.id = self.w.next_id("lots")
            ids.append(lot.id)
            self.new_lots.append(lot)
            self.lot_index[lot.id] = lot
            self.open_lots.setdefault(lot.member_id, []).append(lot)
        return ids

    def update_lots(self, changed: Iterable[Lot]) -> None:
        for lot in changed:
            self.writes += 1
            self.lot_index[lot.id] = lot
            self.changed_lots[lot.id] = lot

    def spendable_lots(self, member_id: int, now: datetime) -> list[Lot]:
        found = [
            lot
            for lot in self.open_lots.get(member_id, ())
            if lot.remaining > 0
            and lot.activated_at is not None
            and lot.expired_at is None
            and (lot.expires_at is None or lot.expires_at > now)
        ]
        found.sort(key=_spend_order)
        return found

    def lots_by_id(self, lot_ids: Sequence[int]) -> dict[int, Lot]:
        missing = [i for i in lot_ids if i not in self.lot_index]
        if missing:
            self.lot_index.update(self.db.lots_by_id(missing))
        return {i: self.lot_index[i] for i in lot_ids if i in self.lot_index}

    def lot_of_entry(self, entry_id: int) -> Lot | None:
        mine = [lot for lot in self.new_lots if lot.entry_id == entry_id]
        if mine:
            return mine[0]
        lot = self.db.lot_of_entry(entry_id)
        return self.lot_index.setdefault(lot.id, lot) if lot else None

    def _member_lots(self, member_ids: Sequence[int] | None) -> list[int]:
        if member_ids is None:
            raise NotImplementedError("whole-database sweeps do not run on a batch in memory")
        return sorted(member_ids)

    def due_activation(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Lot]:
        out = [
            lot
            for m in self._member_lots(member_ids)
            for lot in self.open_lots.get(m, ())
            if lot.activated_at is None and lot.expired_at is None and lot.available_at <= as_of
        ]
        return sorted(out, key=lambda lot: (lot.member_id, lot.id))[:limit]

    def due_expiry(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Lot]:
        out = [
            lot
            for m in self._member_lots(member_ids)
            for lot in self.open_lots.get(m, ())
            if lot.expired_at is None
            and lot.remaining > 0
            and lot.expires_at is not None
            and lot.expires_at <= as_of
        ]
        return sorted(out, key=lambda lot: (lot.member_id, lot.id))[:limit]

    def due_expiry_members(self, program_id: int, as_of: datetime, limit: int) -> list[int]:
        raise NotImplementedError("whole-database sweeps never run inside an import batch")

    def expire_lots(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int]
    ) -> tuple[int, int]:
        raise NotImplementedError("whole-database sweeps never run inside an import batch")

    def due_kinds(self, program_id: int, member_id: int, as_of: datetime) -> frozenset[str]:
        # one pass over the member's lots (asked before every purchase of the batch)
        due = []
        holds = self.active_holds.get(member_id)
        if holds and any(h.status == HoldStatus.ACTIVE and h.expires_at <= as_of for h in holds):
            due.append("holds")
        activation = expiry = False
        for lot in self.open_lots.get(member_id, ()):
            if lot.expired_at is not None:
                continue
            if not activation and lot.activated_at is None and lot.available_at <= as_of:
                activation = True
            if (
                not expiry
                and lot.remaining > 0
                and lot.expires_at is not None
                and lot.expires_at <= as_of
            ):
                expiry = True
            if activation and expiry:
                break
        if activation:
            due.append("activation")
        if expiry:
            due.append("expiry")
        return frozenset(due)

    def net_spent_by_lot(self, entry_ids: Sequence[int]) -> list[tuple[int, int]]:
        # only asked about holds made before the batch, whose draws are all stored
        return self.db.net_spent_by_lot(entry_ids)

    # -- holds ------------------------------------------------------------------------------
    def insert_hold(self, program_id: int, hold: Hold) -> int:
        raise NotImplementedError("an import does not create holds")

    def get_hold(self, hold_id: int) -> Hold | None:
        for member_holds in self.active_holds.values():
            for h in member_holds:
                if h.id == hold_id:
                    return h
        return self.db.get_hold(hold_id)

    def update_hold(self, hold: Hold) -> None:
        self.writes += 1
        self.changed_holds[hold.id] = hold

    def due_holds(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Hold]:
        out = [
            h
            for m in self._member_lots(member_ids)
            for h in self.active_holds.get(m, ())
            if h.status == HoldStatus.ACTIVE and h.expires_at <= as_of
        ]
        return out[:limit]

    # -- undo -----------------------------------------------------------------------------------
    def mark(self, member_id: int) -> tuple[Any, ...]:
        """What a refused operation of this member may change, to put back by :meth:`undo`."""
        b = self.balances[member_id]
        member_lots = self.open_lots.get(member_id, [])
        return (
            member_id,
            (b.available, b.pending, b.held),
            [(lot, lot.remaining, lot.activated_at, lot.expired_at) for lot in member_lots],
            [
                (h, h.status, h.captured, h.resolved_entry_id)
                for h in self.active_holds.get(member_id, [])
            ],
            len(member_lots),
            (len(self.entries), len(self.postings), len(self.draws), len(self.new_lots)),
            set(self.changed_lots),
            set(self.changed_holds),
            member_id in self.dirty,
        )

    def undo(self, mark: tuple[Any, ...]) -> None:
        """Forget everything done for the member since :meth:`mark`."""
        member_id, bal, lot_states, hold_states, n_lots, sizes, changed, holds_changed, dirty = mark
        if any(size < sent for size, sent in zip(sizes, self._sent, strict=True)):
            raise RuntimeError("cannot undo rows already sent")
        b = self.balances[member_id]
        b.available, b.pending, b.held = bal
        for lot, remaining, activated, expired in lot_states:
            lot.remaining, lot.activated_at, lot.expired_at = remaining, activated, expired
        for h, status, captured, resolved in hold_states:
            h.status, h.captured, h.resolved_entry_id = status, captured, resolved
        for lot in self.new_lots[sizes[3] :]:
            self.lot_index.pop(lot.id, None)
        del self.open_lots.get(member_id, [])[n_lots:]
        del self.entries[sizes[0] :]
        del self.postings[sizes[1] :]
        del self.draws[sizes[2] :]
        del self.new_lots[sizes[3] :]
        for lot_id in set(self.changed_lots) - changed:
            del self.changed_lots[lot_id]
        for hold_id in set(self.changed_holds) - holds_changed:
            del self.changed_holds[hold_id]
        if not dirty:
            self.dirty.discard(member_id)

    # -- writing ----------------------------------------------------------------------------
    def take_rows(self) -> list[TableRows]:
        """The journal rows booked since the last call, parents before children, to be
        inserted now (the caller may send them while the batch goes on).

        Only between two operations: :meth:`undo` never reaches back past a taken row.
        A lot sent here and changed later is updated by :meth:`flush`.
        """
        ts = self.w.ts
        lot_rows = []
        for lot in self.new_lots[self._sent[3] :]:
            self.sent_lots[lot.id] = (lot.remaining, lot.activated_at, lot.expired_at)
            lot_rows.append(
                (
                    lot.id,
                    self.program_id,
                    lot.member_id,
                    lot.entry_id,
                    lot.source,
                    lot.amount,
                    lot.remaining,
                    ts(lot.earned_at),
                    ts(lot.available_at),
                    ts(lot.expires_at),
                    ts(lot.activated_at),
                    ts(lot.expired_at),
                    None,
                )
            )
        e, p, d, _ = self._sent
        out: list[TableRows] = [
            ("journal_entries", ENTRY_COLS, self.entries[e:]),
            ("postings", POSTING_COLS, self.postings[p:]),
            ("lots", LOT_COLS, lot_rows),
            ("lot_draws", DRAW_COLS, self.draws[d:]),
        ]
        self._sent = (len(self.entries), len(self.postings), len(self.draws), len(self.new_lots))
        return out

    def flush(self) -> None:
        """Write everything the batch did and has not sent yet, parents before children,
        then the changes to rows that were there before (or sent before they changed)."""
        w, ts = self.w, self.w.ts
        for table, columns, rows in self.take_rows():
            if rows:
                w.insert(table, columns, rows)
        sent = self.sent_lots
        w.update(
            "lots",
            _LOT_CHANGE,
            _ID,
            [
                (lot.remaining, ts(lot.activated_at), ts(lot.expired_at), lot.id)
                for lot in self.changed_lots.values()
                if lot.id not in sent
            ]
            + [
                (lot.remaining, ts(lot.activated_at), ts(lot.expired_at), lot.id)
                for lot in self.new_lots
                if sent[lot.id] != (lot.remaining, lot.activated_at, lot.expired_at)
            ],
        )
        w.update(
            "holds",
            _HOLD_CHANGE,
            _ID,
            [
                (str(h.status), h.captured, h.resolved_entry_id, h.id)
                for h in self.changed_holds.values()
            ],
        )
        w.update(
            "member_balances",
            _BALANCE_CHANGE,
            ("member_id", "bigint"),
            [
                (b.available, b.pending, b.held, b.member_id)
                for b in (self.balances[m] for m in sorted(self.dirty))
            ],
        )
