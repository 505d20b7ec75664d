"""``kopilka import purchases --jobs N``: one file booked by N processes, split by member.

A member's points never depend on another member's purchases (campaign budgets aside, see
below), so the receipts of different members can be booked at the same time:

* This process reads the file in order and groups its rows by receipt exactly as a
  one-process import does (:func:`kopilka.services.imports.batches.receipt_groups`), reads who each
  receipt names (:func:`~kopilka.services.imports.rows.receipt_ref`), looks the members
  up, and hands each receipt to the booking process that owns its member (member id
  modulo N), in batches of ``batch_size`` receipts. Rows that name no known member, or
  that are not a receipt at all, go to process 0, which reports them.
* Each booking process parses its receipts and books them batch by batch, in file order,
  with the same code as a one-process import; each batch is one transaction that also
  moves that process's own checkpoint (``purchases#s/N``).
* Hence per member everything is as with one process: the same receipts booked or
  rejected with the same errors, the same points, in the same order. An interrupted import
  resumes every process after its last committed batch, with the N it started with.
* A refusal that stops a one-process import (``on_error="reject"``, or an unexpected
  error) stops all processes after the batch each has under way, and the import raises it.

Where it does not apply, the import refuses ``jobs`` > 1 (``--jobs 1`` always works):

* SQLite has one writer at a time: more processes would only queue for it.
* A rule with a campaign budget is spent in file order across all members, which
  processes booking side by side cannot keep.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Literal, TypeAlias

from kopilka.domain.clock import FrozenClock
from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.imports.batches import (
    AfterBatch,
    Batch,
    Members,
    Parser,
    book_batches,
    load_rulesets,
    receipt_groups,
    unknown_member,
)
from kopilka.services.imports.files import PARQUET, ParquetRowsAt, Source
from kopilka.services.imports.rows import (
    MEMBER_REF_COLUMNS,
    PURCHASE_COLUMNS,
    Receipt,
    RowError,
    Rows,
    receipt_ref,
)
from kopilka.services.imports.run import BatchHook, OnError, Rejects, rejected_error
from kopilka.store.bulk.lookup import read_checkpoint, save_checkpoint
from kopilka.store.db import make_engine

# where a receipt's rows are: its file rows (CSV), their indexes (Parquet, read again by
# the booking process), or None (bad rows only)
Where = Rows | range | None
# one receipt as the reader reads it: (end, rows, receipt_id, where, errors, ref)
Read = tuple[int, int, str, Where, list[RowError], tuple[str, str] | None]
# ... and as it hands it over, with the member id (None: no such member)
Handed = tuple[int, int, str, Where, list[RowError], tuple[str, str] | None, int | None]
# what a booking process reports: a batch committed (rows, errors, booked), it is done,
# or why it stopped (the errors of a refusal, a KopilkaError as data, a traceback)
Failure = tuple[
    Literal["refused", "error", "failed"], int, list[RowError] | dict[str, object] | str
]
Message = (
    tuple[Literal["batch"], int, int, list[RowError], int] | tuple[Literal["done"], int] | Failure
)
Inbox: TypeAlias = "Queue[list[Handed] | None]"  # not subscriptable at run time
# what the reader reads of a Parquet file: the receipt id and the member columns
HEAD = PURCHASE_COLUMNS[: 1 + len(MEMBER_REF_COLUMNS)]
QUEUED_BATCHES = 2  # per booking process: what the reader may run ahead of it
POLL_S = 0.2


def shard_kind(shard: int, jobs: int) -> str:
    """The checkpoint kind of booking process ``shard`` of ``jobs``."""
    return f"purchases#{shard}/{jobs}"


def check(ctx: ServiceContext, program: Program) -> None:
    """Refuse what N processes cannot book as one would (see the module's doc)."""
    if ctx.engine.dialect.name != "postgresql":
        raise ValidationError(
            "importing with more than one job needs PostgreSQL: SQLite has one writer at "
            "a time, so more processes would only queue; import with --jobs 1",
            field="jobs",
        )
    with ctx.uow(read_only=True) as uow:
        rulesets = load_rulesets(uow, program)
    for _, version, ruleset in rulesets:
        for rule in ruleset.rules:
            if rule.budget is not None:
                raise ValidationError(
                    f"rule {rule.id} (rule set version {version}) has a campaign budget, "
                    "which is spent in file order across all members; import with --jobs 1",
                    field="jobs",
                )


def _done_rows(ctx: ServiceContext, program: Program, source: Source, jobs: int) -> list[int]:
    with ctx.uow(read_only=True) as uow:
        return [
            read_checkpoint(uow.conn, program.id, shard_kind(s, jobs), source.sha256).rows_done
            for s in range(jobs)
        ]


def resume_row(ctx: ServiceContext, program: Program, source: Source, jobs: int) -> int:
    """The first row some booking process has still to book."""
    return min(_done_rows(ctx, program, source, jobs))


def _sum_counts(ctx: ServiceContext, program: Program, source: Source, jobs: int) -> dict[str, int]:
    total: dict[str, int] = {}
    with ctx.uow(read_only=True) as uow:
        for s in range(jobs):
            cp = read_checkpoint(uow.conn, program.id, shard_kind(s, jobs), source.sha256)
            for k, v in cp.counts.items():
                total[k] = total.get(k, 0) + v
    return total


def _start(ctx: ServiceContext, program: Program, source: Source, jobs: int) -> None:
    """Record in the file's own checkpoint that it is booked by ``jobs`` processes."""
    with ctx.uow() as uow:
        cp = read_checkpoint(uow.conn, program.id, "purchases", source.sha256, lock=True)
        if not cp.stored:
            cp.jobs = jobs
            save_checkpoint(uow.conn, program.id, cp, source.path.name, ctx.now())
            uow.commit()


# -- the booking processes --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Task:
    """What a booking process needs; sent to it once, when it starts."""

    url: str
    program: Program
    source: Source
    shard: int
    jobs: int
    mode: OnError
    now: datetime
    rows_done: int
    before_commit: BatchHook | None


class Refused(Exception):
    """``on_error="reject"`` met bad receipts in a booking process."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad receipts")
        self.errors = errors


class MemberMismatch(RuntimeError):
    """The reader and the parser read a receipt's member differently (a bug: never
    book a member's receipts in two processes)."""


def _parsed(parse: Parser, handed: list[Handed], file: ParquetRowsAt | None) -> Batch:
    if file is not None:  # the Parquet rows of this batch's receipts, in one read
        at = [i for h in handed if isinstance(h[3], range) for i in h[3]]
        full = dict(zip(at, file.take(at), strict=True))
    receipts: list[Receipt] = []
    errors: list[RowError] = []
    rows = 0
    for end, n, receipt_id, where, errs, ref, member_id in handed:
        rows += n
        errors += errs
        if where is None:
            continue
        group = [(i, full[i]) for i in where] if type(where) is range else where
        receipt, bad = parse(receipt_id, group, end)
        errors += bad
        if receipt is None:
            continue
        if receipt.ref != ref:
            raise MemberMismatch(f"receipt {receipt_id}: {receipt.ref} read as {ref}")
        if member_id is None:
            errors.append(unknown_member(receipt))
        else:
            receipt.member_id = member_id
            receipts.append(receipt)
    return handed[-1][0], rows, receipts, errors


def work(task: Task, inbox: Inbox, results: Queue[Message], stop: Event) -> None:
    """A booking process: book the batches the reader sends until it sends None."""
    engine = make_engine(task.url, pool_size=1)
    ctx = ServiceContext(engine, FrozenClock(task.now))
    parse = Parser(task.program, task.now)
    file = ParquetRowsAt(task.source, PURCHASE_COLUMNS) if task.source.fmt == PARQUET else None

    def batches() -> Iterator[Batch]:
        while not stop.is_set():
            try:
                handed = inbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if handed is None:
                return
            yield _parsed(parse, handed, file)

    def after(rows: int, errors: list[RowError], booked: int) -> None:
        results.put(("batch", task.shard, rows, errors, booked))

    def refuse(errors: list[RowError]) -> Exception:
        return Refused(errors)

    try:
        gc.disable()  # collected after each batch, as in one process
        book_batches(
            ctx,
            task.program,
            task.source,
            shard_kind(task.shard, task.jobs),
            task.mode,
            batches(),
            None,
            task.now,
            task.rows_done,
            refuse,
            after,
            task.before_commit,
        )
        results.put(("done", task.shard))
    except Refused as r:
        results.put(("refused", task.shard, r.errors))
    except KopilkaError as e:
        results.put(("error", task.shard, e.to_dict()))
    except BaseException:
        results.put(("failed", task.shard, traceback.format_exc()))
    finally:
        engine.dispose()


# -- the reader -------------------------------------------------------------------------------
class _Jobs:
    """The booking processes, their inboxes, and what they report back."""

    def __init__(self, tasks: list[Task], on_batch: AfterBatch) -> None:
        mp = multiprocessing.get_context("spawn")  # never fork a process holding connections
        self.results: Queue[Message] = mp.Queue()
        self.stop = mp.Event()
        self.inboxes: list[Inbox] = [mp.Queue(maxsize=QUEUED_BATCHES) for _ in tasks]
        self.procs: list[SpawnProcess] = [
            mp.Process(
                target=work,
                args=(t, self.inboxes[t.shard], self.results, self.stop),
                name=f"kopilka-import-{t.shard}",
                daemon=True,
            )
            for t in tasks
        ]
        self.on_batch = on_batch
        self.finished: set[int] = set()
        self.failure: Failure | None = None
        for p in self.procs:
            p.start()

    def _take(self, message: Message) -> None:
        if message[0] == "batch":
            self.on_batch(message[2], message[3], message[4])
        elif message[0] == "done":
            self.finished.add(message[1])
        elif self.failure is None:
            self.failure = message

    def drain(self, wait: float = 0.0) -> None:
        """Take what the processes reported; notice one that died without a word."""
        try:
            self._take(self.results.get(timeout=wait) if wait else self.results.get_nowait())
            while True:
                self._take(self.results.get_nowait())
        except queue.Empty:
            pass
        for shard, p in enumerate(self.procs):
            if self.failure is None and shard not in self.finished and p.exitcode is not None:
                try:  # its last word may still be on the way
                    while True:
                        self._take(self.results.get(timeout=POLL_S))
                except queue.Empty:
                    pass
                if self.failure is None and shard not in self.finished:
                    self.failure = ("failed", shard, f"exited with code {p.exitcode}")

    def send(self, shard: int, handed: list[Handed] | None) -> None:
        while self.failure is None:
            try:
                self.inboxes[shard].put(handed, timeout=POLL_S)
                self.drain()
                return
            except queue.Full:
                self.drain()
        self.raise_failure()

    def wait(self) -> None:
        while self.failure is None and len(self.finished) < len(self.procs):
            self.drain(POLL_S)
        if self.failure is not None:
            self.raise_failure()

    def raise_failure(self) -> None:
        self.stop.set()
        self.close()
        assert self.failure is not None
        raise _Failure(self.failure)

    def close(self) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(timeout=30)
            if p.exitcode is None:  # mid-transaction: its connection closes, nothing commits
                p.terminate()
                p.join()
        for q in self.inboxes:
            q.cancel_join_thread()
            q.close()
        self.results.cancel_join_thread()
        self.results.close()


class _Failure(Exception):
    def __init__(self, message: Failure) -> None:
        super().__init__(message[0])
        self.message = message


def book_file(
    ctx: ServiceContext,
    program: Program,
    source: Source,
    mode: OnError,
    batch_size: int,
    rejects: Rejects,
    now: datetime,
    jobs: int,
    after: AfterBatch,
    before_commit: BatchHook | None,
) -> dict[str, int]:
    """Book the file with ``jobs`` processes (``after`` runs here as each of their batches
    commits); the counts of all its runs, summed."""
    _start(ctx, program, source, jobs)
    done = _done_rows(ctx, program, source, jobs)
    start = min(done)
    url = ctx.engine.url.render_as_string(hide_password=False)
    tasks = [
        Task(url, program, source, s, jobs, mode, now, done[s], before_commit) for s in range(jobs)
    ]
    pool = _Jobs(tasks, after)
    try:
        _read(ctx, program, source, batch_size, start, done, pool)
        for shard in range(jobs):
            pool.send(shard, None)
        pool.wait()
    except _Failure as f:
        kind, shard, detail = f.message
        if kind == "refused" and isinstance(detail, list):
            raise rejected_error(rejects, detail, "receipts") from None
        if kind == "error" and isinstance(detail, dict):
            raise KopilkaError.from_dict(detail) from None
        raise RuntimeError(f"import job {shard} of {jobs} failed:\n{detail}") from None
    except BaseException:
        pool.close()
        raise
    pool.close()
    return _sum_counts(ctx, program, source, jobs)


def _read(
    ctx: ServiceContext,
    program: Program,
    source: Source,
    batch_size: int,
    start: int,
    done: list[int],
    pool: _Jobs,
) -> None:
    """Hand every receipt from row ``start`` on to the process owning its member."""
    jobs = len(done)
    members = Members(program)
    pending: list[list[Handed]] = [[] for _ in range(jobs)]
    window: list[Read] = []
    previous = start

    def hand_over() -> None:
        refs = [w[5] for w in window if w[5] is not None]
        with ctx.uow(read_only=True) as uow:
            members.lookup(uow, refs)
        for end, rows, receipt_id, group, errors, ref in window:
            member_id = members.ids[ref] if ref is not None else None
            shard = member_id % jobs if member_id is not None else 0
            if end <= done[shard]:
                continue  # booked by an earlier run
            mine = pending[shard]
            mine.append((end, rows, receipt_id, group, errors, ref, member_id))
            if len(mine) >= batch_size:
                pool.send(shard, mine)
                pending[shard] = []
        window.clear()

    parquet = source.fmt == PARQUET
    for end, receipt_id, group, errors in receipt_groups(
        source, start, HEAD if parquet else PURCHASE_COLUMNS
    ):
        ref = receipt_ref(group) if group is not None else None
        where: Where = group
        if parquet and group is not None:
            where = range(group[0][0], group[-1][0] + 1)  # a receipt's rows are consecutive
        window.append((end, end - previous, receipt_id, where, errors, ref))
        previous = end
        if len(window) >= batch_size:
            hand_over()
    hand_over()
    for shard, mine in enumerate(pending):
        if mine:
            pool.send(shard, mine)
