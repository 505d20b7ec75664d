"""Receipts from an import file, in batches, and the booking loop shared by the one-process
import (:mod:`.purchases`) and the booking processes of a parallel one (:mod:`.parallel`).

A batch is one transaction: its receipts are booked (:func:`.booking.book_batch`) and the
run's checkpoint moves to the batch's end in it, so an interrupted import resumes after
the last committed batch.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.domain.rules import RuleSet, parse_ruleset
from kopilka.services.context import ServiceContext
from kopilka.services.imports.booking import Redo, book_batch
from kopilka.services.imports.files import Cells, Source, read_rows
from kopilka.services.imports.rows import (
    PURCHASE_COLUMNS,
    FastReceipts,
    Receipt,
    RowError,
    parse_receipt,
)
from kopilka.services.imports.run import (
    PURCHASE_TABLES,
    BatchHook,
    Counts,
    GrowingStatistics,
    ImportReport,
    OnError,
    Progress,
    Rejects,
    advance,
    batched,
)
from kopilka.store.bulk.lookup import existing_member_ids, find_identifiers
from kopilka.store.bulk.writer import BulkWriter
from kopilka.store.repos.rules import RuleSetRepo
from kopilka.store.uow import UnitOfWork

Item = tuple[int, Receipt | None, list[RowError]]
# ``(end, receipt_id, rows, errors)``: one receipt's rows, or (``rows`` None) bad rows only
Group = tuple[int, str, list[tuple[int, Cells]] | None, list[RowError]]
# what one transaction books: ``(end, rows, receipts, errors found before booking)``
Batch = tuple[int, int, list[Receipt], list[RowError]]


def receipt_groups(
    source: Source, start: int, wanted: Sequence[str] = PURCHASE_COLUMNS
) -> Iterator[Group]:
    """The file's rows from ``start`` on, grouped by receipt, in file order; a row without
    a receipt and a receipt whose lines are not consecutive come back as errors. The rows
    hold the ``wanted`` columns, a prefix of :data:`PURCHASE_COLUMNS` (the receipt id first)."""
    seen: set[str] = set()
    group: list[tuple[int, Cells]] = []
    current: str | None = None
    end = start

    def close() -> Group:
        assert current is not None
        if current in seen:
            err = RowError(
                group[0][0],
                current,
                "validation_error",
                "receipt_id",
                f"receipt {current} appears again: the lines of a receipt must be consecutive",
            )
            return end, current, None, [err]
        seen.add(current)
        return end, current, group, []

    for index, line, values in read_rows(source, wanted, start):
        rid = None
        if values is not None and values[0] is not None:
            rid = str(values[0]).strip() or None
        if current is not None and rid != current:
            yield close()
            group, current = [], None
        if values is None or rid is None:
            reason = "the row has the wrong number of cells" if values is None else "no receipt_id"
            field_name = "row" if values is None else "receipt_id"
            end = index + 1
            yield end, "", None, [RowError(line, "", "validation_error", field_name, reason)]
            continue
        current = rid
        group.append((line, values))
        end = index + 1
    if current is not None:
        yield close()


class Parser:
    """Receipts from their rows: :class:`FastReceipts` when it can vouch for them, else
    ``parse_receipt``, whose errors name the file line."""

    def __init__(self, program: Program, now: datetime) -> None:
        self.program = program
        self.now = now
        self.quick = FastReceipts(program, now)

    def __call__(
        self, receipt_id: str, rows: list[tuple[int, Cells]], end: int
    ) -> tuple[Receipt | None, list[RowError]]:
        fast = self.quick.receipt(receipt_id, rows, end)
        if fast is not None:
            return fast, []
        try:
            return parse_receipt(receipt_id, rows, end, self.program, self.now), []
        except ValidationError as e:
            # a file line, or (from the Basket's own checks) a line id: then the receipt's
            line = e.details.get("line")
            return None, [RowError.of(line if type(line) is int else rows[0][0], receipt_id, e)]


def receipts_of(source: Source, start: int, program: Program, now: datetime) -> Iterator[Item]:
    """``(end, receipt or None, errors)`` per receipt, in file order."""
    parse = Parser(program, now)
    for end, receipt_id, rows, errors in receipt_groups(source, start):
        if rows is None:
            yield end, None, errors
        else:
            yield (end, *parse(receipt_id, rows, end))


def batches_of(items: Iterable[Item], size: int, rows_done: int) -> Iterator[Batch]:
    """The receipts in batches of ``size``, each with the rows it covers from ``rows_done``."""
    for chunk in batched(items, size):
        end = chunk[-1][0]
        receipts = [r for _, r, _ in chunk if r is not None]
        yield end, end - rows_done, receipts, [e for _, _, errs in chunk for e in errs]
        rows_done = end


def load_rulesets(uow: UnitOfWork, program: Program) -> list[tuple[datetime, int, RuleSet]]:
    """Every rule set version of the program: ``(effective_at, version, ruleset)``."""
    return [
        (s.effective_at, s.version, parse_ruleset(s.document, fmt=s.format, version=s.version))
        for s in RuleSetRepo(uow.conn).list(program.id)
    ]


class Members:
    """Who each receipt names, looked up per batch and remembered for the run."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.ids: dict[tuple[str, str], int | None] = {}

    def lookup(self, uow: UnitOfWork, refs: Iterable[tuple[str, str]]) -> None:
        """Find the member ids of the refs not seen yet (None: no such member)."""
        wanted = {ref for ref in refs if ref not in self.ids}
        named = [ref for ref in wanted if ref[0] != "id"]
        found = find_identifiers(uow.conn, self.program.id, named)
        for ref in named:
            self.ids[ref] = found.get(ref)
        direct = [int(ref[1]) for ref in wanted if ref[0] == "id"]
        exists = existing_member_ids(uow.conn, self.program.id, direct)
        for ref in wanted:
            if ref[0] == "id":
                self.ids[ref] = int(ref[1]) if int(ref[1]) in exists else None

    def resolve(self, uow: UnitOfWork, receipts: Sequence[Receipt]) -> list[RowError]:
        """Set ``member_id`` on each receipt; errors for unknown members."""
        self.lookup(uow, (r.ref for r in receipts))
        errors = []
        for r in receipts:
            member_id = self.ids[r.ref]
            if member_id is None:
                errors.append(unknown_member(r))
            else:
                r.member_id = member_id
        return errors


def unknown_member(r: Receipt) -> RowError:
    """The error of a receipt naming no member of the program."""
    kind = "member_id" if r.ref[0] == "id" else f"member_{r.ref[0]}"
    return RowError(r.line, r.receipt_id, "not_found", kind, f"no member with this {kind}")


Refuse = Callable[[list[RowError]], Exception]
AfterBatch = Callable[[int, list[RowError], int], None]


def book_batches(
    ctx: ServiceContext,
    program: Program,
    source: Source,
    kind: str,
    mode: OnError,
    batches: Iterable[Batch],
    members: Members | None,
    now: datetime,
    rows_done: int,
    refuse: Refuse,
    after: AfterBatch,
    before_commit: BatchHook | None,
) -> None:
    """Book each batch in one transaction that also moves the ``kind`` checkpoint from
    ``rows_done`` to the batch's end. ``members`` resolves who each receipt names (None:
    the receipts come with their member ids); in ``reject`` mode the first bad receipt
    raises ``refuse(errors)``; ``after(rows, errors, booked)`` runs after each commit."""
    for number, (end, rows, receipts, parse_errors) in enumerate(batches, 1):
        if parse_errors and mode == "reject":
            raise refuse(parse_errors)
        skip: dict[int, RowError] = {}
        while True:
            try:
                with ctx.uow() as uow:
                    writer = BulkWriter(uow.conn)
                    unknown = members.resolve(uow, receipts) if members else []
                    valid = [r for r in receipts if r.member_id]
                    result = book_batch(
                        writer,
                        program,
                        valid,
                        load_rulesets(uow, program),
                        frozenset(skip),
                        now,
                    )
                    errors = parse_errors + unknown + list(skip.values()) + result.rejected
                    if errors and mode == "reject":
                        raise refuse(errors)
                    counts: Counts = {
                        "rows": rows,
                        "imported": result.booked,
                        "already": result.already,
                        "rejected": len(errors),
                        "points_earned": result.points_earned,
                        "points_redeemed": result.points_redeemed,
                    }
                    advance(uow, program, kind, source, rows_done, end, counts, now)
                    if before_commit:
                        before_commit(number)
                    uow.commit()
                break
            except Redo as redo:
                if mode == "reject":
                    raise refuse([redo.error]) from None
                skip[redo.index] = redo.error
        rows_done = end
        after(rows, errors, result.booked)
        gc.collect(1)


class AfterEachBatch:
    """What the importing process does once a batch has committed, wherever it was booked:
    list its bad rows, move the progress bar, count it, refresh statistics as it grows."""

    def __init__(
        self, ctx: ServiceContext, rejects: Rejects, report: ImportReport, progress: Progress | None
    ) -> None:
        self.rejects = rejects
        self.report = report
        self.progress = progress
        self.statistics = GrowingStatistics(ctx, PURCHASE_TABLES)

    def __call__(self, rows: int, errors: list[RowError], booked: int) -> None:
        self.rejects.add(errors)
        if self.progress:
            self.progress(rows)
        self.report.batches += 1
        self.statistics.after_batch(booked)
