"""``kopilka import``: members and purchases from CSV or Parquet, resumable, in bulk.

The file formats are documented in :mod:`kopilka.services.importer_rows`.

How an import runs:

* The file is read in batches (``batch_size`` receipts or members). Each batch is ONE
  transaction that writes its rows with one bulk statement per table and advances the
  file's checkpoint (``kopilka.store.repos.importer_lookup``). An interrupted import
  therefore resumes after the last committed batch; no batch is written twice or by half.
* Rows become receipts through :class:`~kopilka.services.importer_rows.FastReceipts`
  when it can vouch for them, otherwise through ``parse_receipt`` (the API's validation),
  which reports every bad row exactly as before.
* Re-running a finished file does nothing. Purchases are also idempotent on the receipt
  id (a receipt already booked, by an import or through the API, is counted as
  ``already`` and left alone), and members on their identifiers.
* ``jobs`` > 1 books the file with that many processes split by member, each in file
  order with its own checkpoint (PostgreSQL, no campaign budgets):
  :mod:`kopilka.services.importer_parallel`.
* Bad rows are reported with their CSV line number (or Parquet row index):
  ``on_error="skip"`` books the rest and lists the bad rows in a rejects file beside
  the input (``<file>.rejects.csv``); ``on_error="reject"`` first checks the whole file
  and writes nothing if any row is bad. A refusal only the ledger can see (paying with
  more points than the member has at that time) then stops the import at that batch,
  with the batches before it committed.
"""

from __future__ import annotations

import csv
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from kopilka.domain.errors import ConflictError, ValidationError
from kopilka.domain.member import MemberStatus
from kopilka.domain.program import Program
from kopilka.domain.rules import RuleSet, parse_ruleset
from kopilka.services.context import ServiceContext
from kopilka.services.importer_files import Source, check_columns, open_source, read_rows
from kopilka.services.importer_purchases import Redo, book_batch
from kopilka.services.importer_rows import (
    PURCHASE_COLUMNS,
    PURCHASE_REQUIRED,
    FastReceipts,
    Receipt,
    RowError,
    parse_receipt,
)
from kopilka.store.repos.bulk_writer import BulkWriter
from kopilka.store.repos.importer_lookup import (
    Checkpoint,
    existing_member_ids,
    find_identifiers,
    load_members,
    read_checkpoint,
    save_checkpoint,
)
from kopilka.store.repos.rules import RuleSetRepo
from kopilka.store.uow import UnitOfWork

OnError = Literal["skip", "reject"]
Progress = Callable[[int], None]
BatchHook = Callable[[int], None]
BATCH = 5000
T = TypeVar("T")


@dataclass(slots=True)
class ImportReport:
    """What an import did, over all its runs (a resumed import adds up)."""

    kind: str
    file: str
    format: str
    status: str = "done"  # done | already_done
    rows: int = 0
    imported: int = 0
    already: int = 0
    rejected: int = 0
    points_earned: int = 0
    points_redeemed: int = 0
    batches: int = 0
    jobs: int = 1
    resumed_from_row: int = 0
    seconds: float = 0.0
    rejects_file: str | None = None
    first_errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_on_error(on_error: str) -> OnError:
    if on_error not in ("skip", "reject"):
        raise ValidationError("on_error must be skip or reject", field="on_error")
    return on_error  # type: ignore[return-value]


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Rejects:
    """The rejects file: one CSV line per bad row, appended batch by batch."""

    def __init__(self, path: Path, source: Source, fresh: bool) -> None:
        self.path = path
        self.where = "line" if source.fmt == "csv" else "row"
        self.count = 0
        self.first: list[dict[str, Any]] = []
        if fresh and path.exists():
            path.unlink()

    def add(self, errors: Sequence[RowError]) -> None:
        if not errors:
            return
        new = not self.path.exists()
        with self.path.open("a", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            if new:
                out.writerow([self.where, "key", "code", "field", "message"])
            for e in sorted(errors, key=lambda e: e.line):
                out.writerow([e.line, e.key, e.code, e.field, e.message])
                if len(self.first) < 20:
                    self.first.append({self.where: e.line, **asdict(e)})
        self.count += len(errors)


# -- shared run loop --------------------------------------------------------------------------
def open_run(ctx: ServiceContext, program: Program, kind: str, source: Source) -> Checkpoint:
    with ctx.uow(read_only=True) as uow:
        return read_checkpoint(uow.conn, program.id, kind, source.sha256)


def advance(
    uow: UnitOfWork,
    program: Program,
    kind: str,
    source: Source,
    expected_rows: int,
    rows_done: int,
    counts: dict[str, int],
    at: datetime,
) -> None:
    """Move the checkpoint in the batch's transaction; refuse if another run moved it."""
    cp = read_checkpoint(uow.conn, program.id, kind, source.sha256, lock=True)
    if cp.rows_done != expected_rows or cp.done:
        raise ConflictError(
            f"another import of {source.path.name} is running (or ran) at the same time",
            field="file",
        )
    cp.rows_done = rows_done
    for k, v in counts.items():
        cp.counts[k] = cp.counts.get(k, 0) + v
    save_checkpoint(uow.conn, program.id, cp, source.path.name, at)


def finish(
    ctx: ServiceContext,
    program: Program,
    kind: str,
    source: Source,
    report: ImportReport,
    counts: dict[str, int] | None = None,
) -> None:
    """Mark the file done (with ``counts``, the sum of the jobs' own, if given)."""
    with ctx.uow() as uow:
        cp = read_checkpoint(uow.conn, program.id, kind, source.sha256, lock=True)
        cp.done = True
        if counts is not None:
            cp.counts = counts
        save_checkpoint(uow.conn, program.id, cp, source.path.name, ctx.now())
        uow.commit()
    for k in ("rows", "imported", "already", "rejected", "points_earned", "points_redeemed"):
        setattr(report, k, cp.counts.get(k, 0))


def new_report(kind: str, source: Source, cp: Checkpoint) -> ImportReport:
    report = ImportReport(kind, str(source.path), source.fmt, resumed_from_row=cp.rows_done)
    if cp.done:
        report.status = "already_done"
        for k in ("rows", "imported", "already", "rejected", "points_earned", "points_redeemed"):
            setattr(report, k, cp.counts.get(k, 0))
    return report


def rejected_error(rejects: Rejects, errors: Sequence[RowError], what: str) -> ValidationError:
    rejects.add(errors)
    first = min(errors, key=lambda e: e.line)
    return ValidationError(
        f"{len(errors)} bad {what} in the file, nothing of it imported; first at "
        f"{rejects.where} {first.line}: {first.message} (all in {rejects.path})",
        field=first.field or "file",
        line=first.line,
        rejected=len(errors),
        rejects_file=str(rejects.path),
    )


# -- purchases --------------------------------------------------------------------------------
Item = tuple[int, Receipt | None, list[RowError]]
# ``(end, receipt_id, rows, errors)``: one receipt's rows, or (``rows`` None) bad rows only
Group = tuple[int, str, list[tuple[int, tuple[Any, ...]]] | None, list[RowError]]
# what one transaction books: ``(end, rows, receipts, errors found before booking)``
Batch = tuple[int, int, list[Receipt], list[RowError]]


def receipt_groups(
    source: Source, start: int, wanted: Sequence[str] = PURCHASE_COLUMNS
) -> Iterator[Group]:
    """The file's rows from ``start`` on, grouped by receipt, in file order; a row without
    a receipt and a receipt whose lines are not consecutive come back as errors. The rows
    hold the ``wanted`` columns, a prefix of :data:`PURCHASE_COLUMNS` (the receipt id first)."""
    seen: set[str] = set()
    group: list[tuple[int, tuple[Any, ...]]] = []
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
        self, receipt_id: str, rows: list[tuple[int, tuple[Any, ...]]], end: int
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


def _receipts(source: Source, start: int, program: Program, now: datetime) -> Iterator[Item]:
    """``(end, receipt or None, errors)`` per receipt, in file order."""
    parse = Parser(program, now)
    for end, receipt_id, rows, errors in receipt_groups(source, start):
        if rows is None:
            yield end, None, errors
        else:
            yield (end, *parse(receipt_id, rows, end))


def _batches(items: Iterable[Item], size: int, rows_done: int) -> Iterator[Batch]:
    for chunk in batched(items, size):
        end = chunk[-1][0]
        receipts = [r for _, r, _ in chunk if r is not None]
        yield end, end - rows_done, receipts, [e for _, _, errs in chunk for e in errs]
        rows_done = end


def load_rulesets(uow: UnitOfWork, program: Program) -> list[tuple[datetime, int, RuleSet]]:
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
    kind = "member_id" if r.ref[0] == "id" else f"member_{r.ref[0]}"
    return RowError(r.line, r.receipt_id, "not_found", kind, f"no member with this {kind}")


def _check_file(
    ctx: ServiceContext, program: Program, source: Source, start: int, batch_size: int
) -> list[RowError]:
    """Everything knowable without booking: rows, members, blocked members."""
    now = ctx.now()
    members = Members(program)
    errors: list[RowError] = []
    for chunk in batched(_receipts(source, start, program, now), batch_size):
        receipts = [r for _, r, _ in chunk if r is not None]
        errors.extend(e for _, _, errs in chunk for e in errs)
        with ctx.uow(read_only=True) as uow:
            errors.extend(members.resolve(uow, receipts))
            people = load_members(
                uow.conn, program.id, {r.member_id for r in receipts if r.member_id}
            )
        for r in receipts:
            m = people.get(r.member_id)
            if m is not None and m.status != MemberStatus.ACTIVE:
                errors.append(
                    RowError(
                        r.line,
                        r.receipt_id,
                        "member_blocked",
                        "member",
                        f"member {m.id} is blocked and can neither earn nor spend",
                    )
                )
    return errors


def refresh_statistics(ctx: ServiceContext) -> None:
    """ANALYZE after a bulk load, so the next sweep's plans see the new rows (on PostgreSQL
    a stale estimate made the expiry sweep scan every due lot once per batch)."""
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


# the tables whose growth during an import changes the plans of the import's own reads
PURCHASE_TABLES = "purchases, lots, journal_entries, member_balances, idempotency_keys"


class GrowingStatistics:
    """ANALYZE the tables an import fills whenever the rows it booked have doubled since
    the last time (PostgreSQL only; a handful of times per file).

    Without it, PostgreSQL plans each batch's reads with the statistics of the tables as
    they were before the import (or none, with autovacuum off or behind): the receipt
    check of a batch then scanned every purchase of the program with a linear IN-list
    filter, and a 1,000,000-purchase import slowed down batch after batch (10 s and more
    per batch past 350,000 purchases); the members import's identifier check likewise."""

    FIRST = 5_000

    def __init__(self, ctx: ServiceContext, tables: str) -> None:
        self.ctx = ctx
        self.tables = tables
        self.on = ctx.engine.dialect.name == "postgresql"
        self.booked = 0
        self.next_at = self.FIRST

    def after_batch(self, booked: int) -> None:
        self.booked += booked
        if not self.on or self.booked < self.next_at:
            return
        with self.ctx.engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {self.tables}")
        self.next_at = 2 * self.booked


@contextmanager
def _collect_per_batch() -> Iterator[None]:
    """No automatic garbage collection while the batches are booked: a batch allocates
    hundreds of thousands of small objects that live until it commits, and the collector
    kept walking them (a tenth of the CPU). The young objects are collected after each
    batch instead (see :func:`_book_file`); the previous setting comes back at the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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
                    counts = {
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


def _book_file(
    ctx: ServiceContext,
    program: Program,
    source: Source,
    mode: OnError,
    batch_size: int,
    rejects: Rejects,
    now: datetime,
    rows_done: int,
    after: AfterBatch,
    before_commit: BatchHook | None,
) -> None:
    """Book the file's receipts from row ``rows_done`` on, in this process."""
    book_batches(
        ctx,
        program,
        source,
        "purchases",
        mode,
        _batches(_receipts(source, rows_done, program, now), batch_size, rows_done),
        Members(program),
        now,
        rows_done,
        lambda errors: rejected_error(rejects, errors, "receipts"),
        after,
        before_commit,
    )


def import_purchases(
    ctx: ServiceContext,
    program: Program,
    path: Path,
    *,
    fmt: str | None = None,
    on_error: str = "skip",
    batch_size: int = BATCH,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    before_commit: BatchHook | None = None,
    jobs: int = 1,
) -> ImportReport:
    """Book the purchases of a file with retroactive accrual; resumable and idempotent.

    ``jobs`` > 1 books with that many processes, split by member (PostgreSQL only; see
    :mod:`kopilka.services.importer_parallel`). An interrupted import resumes with the
    number of jobs it started with. ``before_commit(batch_number)`` runs inside each
    batch's transaction just before it commits (tests use it to simulate a crash; with
    jobs it must be a module-level function, as it runs in the booking processes).
    """
    from kopilka.services import importer_parallel as parallel  # it builds on this module

    mode = check_on_error(on_error)
    if batch_size < 1:
        raise ValidationError("batch size must be positive", field="batch_size")
    if jobs < 1:
        raise ValidationError("jobs must be at least 1", field="jobs")
    started = time.perf_counter()
    source = open_source(path, fmt)
    check_columns(source, PURCHASE_COLUMNS, PURCHASE_REQUIRED)
    cp = open_run(ctx, program, "purchases", source)
    report = new_report("purchases", source, cp)
    if cp.done:
        return report
    jobs = cp.jobs if cp.stored else jobs
    report.jobs = jobs
    if jobs > 1:
        parallel.check(ctx, program)
        start = parallel.resume_row(ctx, program, source, jobs)
        report.resumed_from_row = start
    else:
        start = cp.rows_done
    rejects = Rejects(
        rejects_path or path.with_name(path.name + ".rejects.csv"), source, not cp.stored
    )
    report.rejects_file = str(rejects.path)
    if mode == "reject":
        errors = _check_file(ctx, program, source, start, batch_size)
        if errors:
            raise rejected_error(rejects, errors, "receipts")
    now = ctx.now()
    counts = None
    after = AfterEachBatch(ctx, rejects, report, progress)
    with _collect_per_batch():
        if jobs > 1:
            counts = parallel.book_file(
                ctx, program, source, mode, batch_size, rejects, now, jobs, after, before_commit
            )
        else:
            _book_file(
                ctx, program, source, mode, batch_size, rejects, now, start, after, before_commit
            )
    finish(ctx, program, "purchases", source, report, counts)
    refresh_statistics(ctx)
    report.first_errors = rejects.first
    report.seconds = round(time.perf_counter() - started, 3)
    return report
