"""``kopilka import``: members and purchases from CSV or Parquet, resumable, in bulk.

The file formats are documented in :mod:`kopilka.services.imports.rows`.

How an import runs:

* The file is read in batches (``batch_size`` receipts or members). Each batch is ONE
  transaction that writes its rows with one bulk statement per table and advances the
  file's checkpoint (``kopilka.store.bulk.lookup``). An interrupted import
  therefore resumes after the last committed batch; no batch is written twice or by half.
* Rows become receipts through :class:`~kopilka.services.imports.rows.FastReceipts`
  when it can vouch for them, otherwise through ``parse_receipt`` (the API's checks and
  messages), which reports every bad row exactly as before.
* Re-running a finished file does nothing. Purchases are also idempotent on the receipt
  id (a receipt already booked, by an import or through the API, is counted as
  ``already`` and left alone), and members on their identifiers.
* ``jobs`` > 1 books the file with that many processes split by member, each in file
  order with its own checkpoint (PostgreSQL, no campaign budgets):
  :mod:`kopilka.services.imports.parallel`.
* Bad rows are reported with their CSV line number (or Parquet row index):
  ``on_error="skip"`` books the rest and lists the bad rows in a rejects file beside
  the input (``<file>.rejects.csv``); ``on_error="reject"`` first checks the whole file
  and writes nothing if any row is bad. A refusal only the ledger can see (paying with
  more points than the member has at that time) then stops the import at that batch,
  with the batches before it committed.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from kopilka.domain.errors import ValidationError
from kopilka.domain.member import MemberStatus
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.imports import parallel
from kopilka.services.imports.batches import (
    AfterBatch,
    AfterEachBatch,
    Members,
    batches_of,
    book_batches,
    receipts_of,
)
from kopilka.services.imports.files import Source, check_columns, open_source
from kopilka.services.imports.rows import PURCHASE_COLUMNS, PURCHASE_REQUIRED, RowError
from kopilka.services.imports.run import (
    BATCH,
    BatchHook,
    ImportReport,
    OnError,
    Progress,
    Rejects,
    batched,
    check_on_error,
    collect_per_batch,
    finish,
    new_report,
    open_run,
    refresh_statistics,
    rejected_error,
)
from kopilka.store.bulk.lookup import load_members


def _check_file(
    ctx: ServiceContext, program: Program, source: Source, start: int, batch_size: int
) -> list[RowError]:
    """Everything knowable without booking: rows, members, blocked members."""
    now = ctx.now()
    members = Members(program)
    errors: list[RowError] = []
    for chunk in batched(receipts_of(source, start, program, now), batch_size):
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
        batches_of(receipts_of(source, rows_done, program, now), batch_size, rows_done),
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
    :mod:`kopilka.services.imports.parallel`). An interrupted import resumes with the
    number of jobs it started with. ``before_commit(batch_number)`` runs inside each
    batch's transaction just before it commits (tests use it to simulate a crash; with
    jobs it must be a module-level function, as it runs in the booking processes).
    """
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
    with collect_per_batch():
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
