"""One import run, whatever it imports: the report, the rejects file, the checkpoint that
makes it resumable, and the statistics and garbage collection around its batches.

Used by the purchases import (:mod:`.purchases`, :mod:`.batches`, :mod:`.parallel`) and
the members import (:mod:`.members`).
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, TypeVar

from kopilka.domain.errors import ConflictError, ValidationError
from kopilka.domain.program import Program
from kopilka.services import outbox
from kopilka.services.context import ServiceContext
from kopilka.services.imports.files import Source
from kopilka.services.imports.rows import RowError
from kopilka.store.bulk.lookup import Checkpoint, read_checkpoint, save_checkpoint
from kopilka.store.uow import UnitOfWork

OnError = Literal["skip", "reject"]
Progress = Callable[[int], None]
BatchHook = Callable[[int], None]
BATCH = 5000
T = TypeVar("T")
# what the report counts; a checkpoint stores the same keys (summed over batches and runs)
CountKey = Literal["rows", "imported", "already", "rejected", "points_earned", "points_redeemed"]
COUNT_KEYS: tuple[CountKey, ...] = (
    "rows",
    "imported",
    "already",
    "rejected",
    "points_earned",
    "points_redeemed",
)


class Counts(TypedDict):
    """What one batch did (a checkpoint adds these up); members earn and spend nothing."""

    rows: int
    imported: int
    already: int
    rejected: int
    points_earned: NotRequired[int]
    points_redeemed: NotRequired[int]


# one bad row as the report lists it: ``line`` (CSV) or ``row`` (Parquet) first, then
# the fields of :class:`RowError`
FirstError = dict[str, int | str]


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
    first_errors: list[FirstError] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (the CLI prints it)."""
        return asdict(self)


def check_on_error(on_error: str) -> OnError:
    """``on_error`` as given by a caller, checked."""
    if on_error not in ("skip", "reject"):
        raise ValidationError("on_error must be skip or reject", field="on_error")
    return on_error  # type: ignore[return-value]


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
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
        self.first: list[FirstError] = []
        if fresh and path.exists():
            path.unlink()

    def add(self, errors: Sequence[RowError]) -> None:
        """Append ``errors`` to the file (header first), in line order."""
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
                    self.first.append(
                        {
                            self.where: e.line,
                            "line": e.line,
                            "key": e.key,
                            "code": e.code,
                            "field": e.field,
                            "message": e.message,
                        }
                    )
        self.count += len(errors)


def open_run(ctx: ServiceContext, program: Program, kind: str, source: Source) -> Checkpoint:
    """The file's checkpoint for ``kind`` as it stands (a new one if never imported)."""
    with ctx.uow(read_only=True) as uow:
        return read_checkpoint(uow.conn, program.id, kind, source.sha256)


def advance(
    uow: UnitOfWork,
    program: Program,
    kind: str,
    source: Source,
    expected_rows: int,
    rows_done: int,
    counts: Counts,
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
    for k in COUNT_KEYS:
        if k in counts:  # the keys the checkpoint stored before, no more
            cp.counts[k] = cp.counts.get(k, 0) + counts[k]
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
        now = ctx.now()
        save_checkpoint(uow.conn, program.id, cp, source.path.name, now)
        outbox.record_program_event(
            uow,
            program,
            "import.finished",
            {
                "kind": kind,
                "file": source.path.name,
                "sha256": source.sha256,
                "counts": {k: int(v) for k, v in cp.counts.items()},
            },
            now,
        )
        uow.commit()
    for k in COUNT_KEYS:
        setattr(report, k, cp.counts.get(k, 0))


def new_report(kind: str, source: Source, cp: Checkpoint) -> ImportReport:
    """The report of a run starting from ``cp`` (the totals so far if the file is done)."""
    report = ImportReport(kind, str(source.path), source.fmt, resumed_from_row=cp.rows_done)
    if cp.done:
        report.status = "already_done"
        for k in COUNT_KEYS:
            setattr(report, k, cp.counts.get(k, 0))
    return report


def rejected_error(rejects: Rejects, errors: Sequence[RowError], what: str) -> ValidationError:
    """List ``errors`` in the rejects file; the error that stops an ``on_error="reject"`` run."""
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
        """Count a committed batch's ``booked`` rows; ANALYZE once they have doubled."""
        self.booked += booked
        if not self.on or self.booked < self.next_at:
            return
        with self.ctx.engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {self.tables}")
        self.next_at = 2 * self.booked


@contextmanager
def collect_per_batch() -> Iterator[None]:
    """No automatic garbage collection while the batches are booked: a batch allocates
    hundreds of thousands of small objects that live until it commits, and the collector
    kept walking them (a tenth of the CPU). The young objects are collected after each
    batch instead (see :func:`.batches.book_batches`); the previous setting comes back at
    the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
