"""Booking a batch of imported receipts: the steps of ``services.purchases.commit``, in bulk.

Each receipt is booked as if committed on its own at its ``occurred_at`` (retroactive
accrual): the member is settled as of that time (due expiry and activation), points paid
are redeemed, the basket is evaluated under the rule set in force at that time, and the
points are earned as a lot whose activation and expiry count from the purchase time.
:class:`kopilka.ledger.Ledger` does the booking on a
:class:`~kopilka.store.bulk.ledger.MemoryLedgerPort`, and everything the batch wrote
is sent in bulk: multi-row INSERTs at the end on SQLite; on PostgreSQL, COPY in chunks
from a background thread while the batch goes on
(:class:`~kopilka.store.bulk.writer.Streamer`), all in the batch's transaction.

A receipt the ledger refuses (member blocked, not enough points, redemption not allowed)
is rejected, and nothing of it remains, exactly as a rolled-back commit leaves nothing:
a refusal after the ledger had already settled the member (due expiry or activation
booked at the purchase time) is undone in memory
(:meth:`~kopilka.store.bulk.ledger.MemoryLedgerPort.undo`); an unexpected late
refusal makes the caller book the batch again from scratch without that receipt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii as _json_str

from sqlalchemy import Connection

from kopilka.domain.errors import KopilkaError
from kopilka.domain.member import Member
from kopilka.domain.program import Program
from kopilka.domain.rules import EarnResult, Rule, RuleSet, evaluate_purchase
from kopilka.domain.rules.lot_expiry import split_by_expiry
from kopilka.ledger.ledger import Ledger
from kopilka.services import usage
from kopilka.services.imports.rows import Receipt, RowError
from kopilka.services.member_lookup import member_context
from kopilka.services.purchases import (
    _check_redemption,
    _redeemed_by_line,
    receipt_key,
)
from kopilka.store.bulk.ledger import MemoryLedgerPort, TableRows
from kopilka.store.bulk.lookup import existing_receipts, load_members
from kopilka.store.bulk.writer import BulkWriter, Streamer
from kopilka.store.repos.rules import UsageRepo
from kopilka.store.tables import (
    column_names,
    idempotency_keys,
    line_awards,
    purchase_lines,
    purchases,
)

PURCHASE_COLS = column_names(purchases)
LINE_COLS = column_names(purchase_lines)
AWARD_COLS = column_names(line_awards, without=("id",))
KEY_COLS = column_names(idempotency_keys)


STREAM_EVERY = 500  # receipts per chunk sent while a batch is booked (PostgreSQL)


class Redo(Exception):
    """A receipt was refused after the ledger changed state: book the batch again without it."""

    def __init__(self, index: int, error: RowError) -> None:
        super().__init__(error.message)
        self.index = index
        self.error = error


class MemoryUsageRepo(UsageRepo):
    """Rule counters read once from the database and then kept and counted in memory."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.known: dict[tuple[str, int, str], list[int]] = {}
        self.delta: dict[tuple[str, int, str], list[int]] = {}
        # the capped rules of each rule set of the batch (the same for all its purchases)
        self.capped: dict[int, tuple[RuleSet, list[Rule]]] = {}

    def get(
        self, program_id: int, keys: Sequence[tuple[str, int, str]], *, lock: bool = False
    ) -> dict[tuple[str, int, str], tuple[int, int]]:
        """The counters of ``keys``: read from the database once, then from memory."""
        missing = [k for k in keys if k not in self.known]
        if missing:
            found = super().get(program_id, missing, lock=lock)
            for k in missing:
                self.known[k] = list(found.get(k, (0, 0)))
        return {k: (self.known[k][0], self.known[k][1]) for k in keys if self.known[k] != [0, 0]}

    def add(self, program_id: int, rows: Iterable[tuple[str, int, str, int, int]]) -> None:
        """Count in memory; :meth:`flush` writes what the batch added."""
        for rule_id, member_id, period, pts, n in rows:
            k = (rule_id, member_id, period)
            cur = self.known.setdefault(k, [0, 0])
            cur[0] += pts
            cur[1] += n
            d = self.delta.setdefault(k, [0, 0])
            d[0] += pts
            d[1] += n

    def flush(self, program_id: int) -> None:
        """Write the batch's additions to the database, in one statement."""
        UsageRepo.add(
            self, program_id, [(r, m, p, v[0], v[1]) for (r, m, p), v in sorted(self.delta.items())]
        )


@dataclass(slots=True)
class BatchResult:
    """What booking a batch did: receipts booked and already booked, points, rejections."""

    booked: int = 0
    already: int = 0
    points_earned: int = 0
    points_redeemed: int = 0
    rejected: list[RowError] = field(default_factory=list)


def _ruleset_at(rulesets: Sequence[tuple[datetime, int, RuleSet]], at: datetime) -> RuleSet | None:
    """The newest version in force at ``at``, as ``RuleSetRepo.active_at`` picks it."""
    best: tuple[datetime, int, RuleSet] | None = None
    for item in rulesets:
        if item[0] <= at and (best is None or item[:2] > best[:2]):
            best = item
    return best[2] if best else None


def _evaluate(
    repo: MemoryUsageRepo,
    program: Program,
    ruleset: RuleSet | None,
    receipt: Receipt,
    member: Member,
    discounts: dict[str, int],
) -> EarnResult | None:
    # the same two-step evaluation as services.purchases._earn_and_limits, on memory counters
    if ruleset is None:
        return None
    who = member_context(member)
    basket = receipt.basket
    result = evaluate_purchase(
        ruleset, program, basket, who, points_redeemed_discount_by_line=discounts
    )
    awarded = result.usage.points_by_rule
    known = repo.capped.get(id(ruleset))
    if known is None or known[0] is not ruleset:
        known = repo.capped[id(ruleset)] = (ruleset, usage.capped_rules(ruleset))
    capped = [r for r in known[1] if r.id in awarded]
    if not capped:
        return result
    counters = usage.load(repo, program.id, capped, member.id, basket.occurred_at, program.timezone)
    return evaluate_purchase(
        ruleset, program, basket, who, usage=counters, points_redeemed_discount_by_line=discounts
    )


def import_hash(receipt_id_json: str) -> str:
    """``request_hash("purchase_import", {"receipt_id": ...})`` from the receipt id already
    encoded by ``json.dumps``: the same canonical text, hashed."""
    canonical = f'["purchase_import",{{"receipt_id":{receipt_id_json}}}]'
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_response(receipt_id_json: str, member_id: int, earned: int, paid: int) -> str:
    """The stored outcome of an imported receipt: exactly what ``json.dumps`` writes for
    ``{"receipt_id", "member_id", "points_earned", "points_redeemed", "imported": True}``."""
    return (
        f'{{"receipt_id": {receipt_id_json}, "member_id": {int(member_id)}, '
        f'"points_earned": {int(earned)}, "points_redeemed": {int(paid)}, "imported": true}}'
    )


def book_batch(
    writer: BulkWriter,
    program: Program,
    receipts: Sequence[Receipt],
    rulesets: Sequence[tuple[datetime, int, RuleSet]],
    skip: frozenset[int],
    now: datetime,
) -> BatchResult:
    """Book ``receipts`` (minus the indexes in ``skip``) in the writer's transaction.

    Raises :class:`Redo` when a refusal needs the batch booked again.
    """
    conn = writer.conn
    out = BatchResult()
    done = existing_receipts(conn, program.id, [r.receipt_id for r in receipts])
    port = MemoryLedgerPort(writer, program.id)
    member_ids = {r.member_id for r in receipts}
    port.load(member_ids)
    people = load_members(conn, program.id, member_ids)
    repo = MemoryUsageRepo(conn)
    lg = Ledger(port, program)
    rows: list[tuple[object, ...]] = []
    line_rows: list[tuple[object, ...]] = []
    award_rows: list[tuple[object, ...]] = []
    key_rows: list[tuple[object, ...]] = []
    own = (
        ("purchases", PURCHASE_COLS, rows),
        ("purchase_lines", LINE_COLS, line_rows),
        ("line_awards", AWARD_COLS, award_rows),
        ("idempotency_keys", KEY_COLS, key_rows),
    )
    sent = [0] * len(own)

    def chunk() -> list[TableRows]:
        """The rows booked since the last chunk, ledger first (parents before children)."""
        out = port.take_rows()
        for i, (table, columns, table_rows) in enumerate(own):
            out.append((table, columns, table_rows[sent[i] :]))
            sent[i] = len(table_rows)
        return out

    # on PostgreSQL, rows go to the server in chunks while the next receipts are booked
    every = min(STREAM_EVERY, max(1, len(receipts) // 4)) if writer.pg else 0
    if every:
        # a purchase books one or two entries (earn, redeem) and one lot; settling adds
        # a few: reserve the ids up front rather than behind a chunk in flight
        writer.expect("purchases", len(receipts))
        writer.expect("journal_entries", len(receipts) * 5 // 4 + 100)
        writer.expect("lots", len(receipts) + 100)
    streamer = Streamer(writer)
    try:

        def between(index: int) -> None:
            if every and index and index % every == 0:
                streamer.send(chunk())

        _book_all(
            lg, port, repo, program, receipts, people, rulesets, skip, done, now, out, own, between
        )
        streamer.send(chunk())
        streamer.close()
    except BaseException:
        streamer.abort()
        raise
    port.flush()
    touched = sorted({rc.member_id for rc in receipts if rc.member_id in people})
    writer.update(
        "members",
        (("lifetime_spend_minor", "bigint"), ("purchase_count", "integer")),
        ("id", "bigint"),
        [(people[m].lifetime_spend_minor, people[m].purchase_count, m) for m in touched],
    )
    repo.flush(program.id)
    return out


def _book_all(
    lg: Ledger,
    port: MemoryLedgerPort,
    repo: MemoryUsageRepo,
    program: Program,
    receipts: Sequence[Receipt],
    people: dict[int, Member],
    rulesets: Sequence[tuple[datetime, int, RuleSet]],
    skip: frozenset[int],
    done: set[str],
    now: datetime,
    out: BatchResult,
    own: tuple[TableRows, ...],
    between: Callable[[int], None],
) -> None:
    """Book each receipt in turn, appending its rows to ``own``; ``between(index)`` runs
    before each receipt (never inside one, so nothing it takes can be undone)."""
    writer = port.w
    ts, js = writer.ts, writer.js
    now_ts = ts(now)
    rows, line_rows, award_rows, key_rows = (part[2] for part in own)
    for index, rc in enumerate(receipts):
        between(index)
        if index in skip:
            continue
        if rc.receipt_id in done:
            out.already += 1
            continue
        done.add(rc.receipt_id)
        writes = port.writes
        # only paying with points can be refused after the member was settled: keep what
        # to put back then (anything else refused that late books the batch again)
        mark = port.mark(rc.member_id) if rc.redeem and rc.member_id in port.balances else None
        try:
            booked = _book_one(lg, repo, program, rc, people[rc.member_id], rulesets)
        except KopilkaError as err:
            error = RowError.of(rc.line, rc.receipt_id, err)
            if port.writes != writes:
                if mark is None:
                    raise Redo(index, error) from err
                port.undo(mark)
            out.rejected.append(error)
            continue
        earned, pay, earn_entry, redeem_entry, result, discounts, version, lot_of_rule = booked
        basket = rc.basket
        pid = writer.next_id("purchases")
        redeemed_by_line = _redeemed_by_line(pay, basket, discounts)
        earned_by_line = result.points_by_line() if result else {}
        total = basket.total_minor
        discount = sum(discounts.values())
        rows.append(
            (
                pid,
                program.id,
                rc.member_id,
                rc.receipt_id,
                ts(basket.occurred_at),
                basket.store,
                basket.channel._value_,  # .value, without the enum property's frame
                total,
                discount,
                earned,
                pay,
                earn_entry,
                redeem_entry,
                version,
                _purchase_meta(js, result, lot_of_rule),
                basket.partner,
                basket.payment_method,
            )
        )
        line_rows += [
            (
                pid,
                ln.line_id,
                ln.sku,
                ln.category or None,
                ln.brand or None,
                str(ln.quantity),
                ln.amount_minor,
                discounts.get(ln.line_id, 0),
                redeemed_by_line.get(ln.line_id, 0),
                earned_by_line.get(ln.line_id, 0),
            )
            for ln in basket.lines
        ]
        for a in result.awards if result else ():
            if a.line_id is not None:
                award_rows.append((pid, a.line_id, a.rule_id, a.ruleset_version, a.points))
        rid = rc.receipt_id
        # json.dumps of a str is exactly encode_basestring_ascii (ensure_ascii)
        rid_json = _json_str(rid) if type(rid) is str else json.dumps(rid)
        key_rows.append(
            (
                program.id,
                receipt_key(rc.receipt_id),
                "purchase",
                # an import, not a request: the same receipt sent later over the API is a
                # conflict (409), never a second booking
                import_hash(rid_json),
                True,
                key_response(rid_json, rc.member_id, earned, pay),
                now_ts,
            )
        )
        member = people[rc.member_id]
        member.lifetime_spend_minor += total - discount
        member.purchase_count += 1
        out.booked += 1
        out.points_earned += earned
        out.points_redeemed += pay


def _purchase_meta(
    js: Callable[[dict[str, object]], str | None],
    result: EarnResult | None,
    lot_of_rule: dict[str, int] | None,
) -> str | None:
    """A purchase's meta as JSON: its control group, and the lot of each rule with its own
    expiry (as ``services.purchases.commit`` stores them); None when there is neither."""
    meta: dict[str, object] = {}
    if result and result.control_group:
        meta["control_group"] = list(result.control_group)
    if lot_of_rule:
        meta["lot_of_rule"] = lot_of_rule
    return js(meta) if meta else None


def _book_one(
    lg: Ledger,
    repo: MemoryUsageRepo,
    program: Program,
    rc: Receipt,
    member: Member,
    rulesets: Sequence[tuple[datetime, int, RuleSet]],
) -> tuple[
    int,
    int,
    int | None,
    int | None,
    EarnResult | None,
    dict[str, int],
    int | None,
    dict[str, int] | None,
]:
    """The ledger part of ``services.purchases.commit`` for one receipt, at its own time."""
    now = rc.basket.occurred_at
    bal = lg.require_active(rc.member_id)
    lg.settle(rc.member_id, now)
    ruleset = _ruleset_at(rulesets, now)
    pay = rc.redeem
    # an imported receipt pays under the limits of the tier the member has now
    discounts = _check_redemption(
        ruleset, program, rc.basket, pay, max(bal.available, 0), member.tier_code
    )
    redeem_entry = None
    if pay:
        redeem_entry = lg.redeem(rc.member_id, pay, now, reference=rc.receipt_id).entry_id
    result = _evaluate(repo, program, ruleset, rc, member, discounts)
    earned = result.total_points if result else 0
    earn_entry = None
    lot_of_rule = None
    if earned and ruleset is not None and result is not None:
        by_rule = result.points_by_rule()
        split = split_by_expiry(ruleset, by_rule.items())
        earning = lg.earn(
            rc.member_id,
            earned,
            now,
            rule_version=ruleset.version,
            reference=rc.receipt_id,
            meta={"receipt_id": rc.receipt_id, "by_rule": by_rule},
            expiries=split.parts if split else None,
        )
        earn_entry = earning.entry_id
        if split is not None:
            lots = earning.details["lots"]
            lot_of_rule = {rule_id: lots[part] for rule_id, part in split.part_of_rule.items()}
        usage.record(repo, program.id, ruleset, result, rc.member_id, now, program.timezone)
    return (
        earned,
        pay,
        earn_entry,
        redeem_entry,
        result,
        discounts,
        ruleset.version if ruleset else None,
        lot_of_rule,
    )
