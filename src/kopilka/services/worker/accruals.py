"""Scheduled accruals: "500 points to these members on 1 March", booked by the worker.

An operator schedules one (the members by id or by an identifier, looked up as at the
till, all checked when it is scheduled: an unknown one refuses the whole schedule and
writes nothing). When its time has come, the worker's ``accruals`` job credits each member
under the idempotency key ``accrual:<id>:<member id>``, so a member is credited once
however often the job runs, is interrupted or is taken over by another worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ConflictError, KopilkaError, NotFoundError, ValidationError
from kopilka.domain.program import Program
from kopilka.services import outbox
from kopilka.services import points as points_svc
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef, resolve_member
from kopilka.services.worker.registry import Counts, JobRun
from kopilka.store.repos.jobs import AccrualRow, JobRepo

MAX_MEMBERS = 100_000
MAX_POINTS = 10**9
MAX_REASON = 200
BATCH = 500
ACCRUALS_JOB = "accruals"
# how far back an accrual may be scheduled (a typo of the year is refused, a run_at of a
# minute ago is "now")
_PAST = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ScheduleAccrual:
    """Credit ``points`` to each of ``members`` at ``run_at``, for ``reason``, scheduled by
    ``created_by`` (``cli:<name>``, ``apikey:<id>:<name>``)."""

    members: tuple[MemberRef, ...]
    points: int
    reason: str
    run_at: datetime
    created_by: str


class ScheduledAccrual(TypedDict):
    """A scheduled accrual as the CLI and the console show it."""

    id: int
    points: int
    reason: str
    run_at: str
    status: str
    members: int
    created_by: str
    created_at: str
    ended_at: str | None
    counts: dict[str, int]


def _view(row: AccrualRow) -> ScheduledAccrual:
    return {
        "id": row.id,
        "points": row.points,
        "reason": row.reason,
        "run_at": row.run_at.isoformat(),
        "status": row.status,
        "members": row.members,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "counts": row.counts,
    }


def _check(cmd: ScheduleAccrual, now: datetime) -> datetime:
    if not cmd.members:
        raise ValidationError("name at least one member", field="members")
    if len(cmd.members) > MAX_MEMBERS:
        raise ValidationError(f"at most {MAX_MEMBERS:,} members at once", field="members")
    if isinstance(cmd.points, bool) or not 1 <= cmd.points <= MAX_POINTS:
        raise ValidationError(f"points must be between 1 and {MAX_POINTS:,}", field="points")
    if not cmd.reason.strip() or len(cmd.reason) > MAX_REASON:
        raise ValidationError(f"a reason of 1 to {MAX_REASON} characters", field="reason")
    try:
        run_at = ensure_utc(cmd.run_at)
    except ValueError:
        raise ValidationError("run_at must carry a time zone", field="run_at") from None
    if run_at < now - _PAST:
        raise ValidationError("run_at is more than a day in the past", field="run_at")
    return run_at


def schedule_accrual(
    ctx: ServiceContext, program: Program, cmd: ScheduleAccrual
) -> ScheduledAccrual:
    """Store the accrual and its members (each one checked: an unknown member, named by
    its position in the list, refuses the whole schedule and nothing is written); the
    program's ``accruals`` job is made due at ``run_at`` at the latest."""
    now = ctx.now()
    run_at = _check(cmd, now)
    with ctx.uow() as uow:
        ids: list[int] = []
        seen: set[int] = set()
        for n, ref in enumerate(cmd.members, start=1):
            try:
                member_id = resolve_member(uow, program, ref)
                uow.members.get(program.id, member_id, identifiers=False)
            except NotFoundError:
                # by position only: an identifier is personal data, and errors get logged
                raise NotFoundError(
                    f"member number {n} of the list is not a member of the program",
                    field="members",
                    position=n,
                ) from None
            except ValidationError as e:  # a malformed card, say (its message has no value)
                raise ValidationError(
                    f"member number {n} of the list: {e.message}", field="members", position=n
                ) from None
            if member_id not in seen:
                seen.add(member_id)
                ids.append(member_id)
        repo = JobRepo(uow.conn)
        accrual_id = repo.add_accrual(
            program.id, cmd.points, cmd.reason.strip(), run_at, sorted(ids), cmd.created_by, now
        )
        repo.bring_forward(program.id, ACCRUALS_JOB, run_at, now)
        row = repo.accrual(program.id, accrual_id)
        uow.commit()
    assert row is not None
    return _view(row)


def list_accruals(ctx: ServiceContext, program: Program, limit: int = 50) -> list[ScheduledAccrual]:
    """The program's scheduled accruals, newest first."""
    with ctx.uow(read_only=True) as uow:
        return [_view(r) for r in JobRepo(uow.conn).accruals(program.id, limit)]


def cancel_accrual(ctx: ServiceContext, program: Program, accrual_id: int) -> ScheduledAccrual:
    """Cancel an accrual that has not run yet (one that is running stops before its next
    batch of members); a done or cancelled one is a conflict."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = JobRepo(uow.conn)
        row = repo.accrual(program.id, accrual_id, lock=True)
        if row is None:
            raise NotFoundError(f"scheduled accrual {accrual_id} not found", accrual_id=accrual_id)
        if not repo.end_accrual(accrual_id, "cancelled", None, now):
            raise ConflictError(
                f"scheduled accrual {accrual_id} is {row.status}, not scheduled",
                accrual_id=accrual_id,
                status=row.status,
            )
        ended = repo.accrual(program.id, accrual_id)
        uow.commit()
    assert ended is not None
    return _view(ended)


def accrual_key(accrual_id: int, member_id: int) -> str:
    """The idempotency key a scheduled accrual credits one member under."""
    return f"accrual:{accrual_id}:{member_id}"


def _book(ctx: ServiceContext, program: Program, row: AccrualRow, run: JobRun) -> Counts:
    counts = {"credited": 0, "refused": 0}
    after = 0
    while True:
        with ctx.uow(read_only=True) as uow:
            repo = JobRepo(uow.conn)
            current = repo.accrual(program.id, row.id)
            members = repo.accrual_members(row.id, after, BATCH)
        if current is None or current.status != "scheduled":
            counts["cancelled"] = 1
            return counts
        if not members:
            return counts
        for member_id in members:
            earn = points_svc.Earn(
                member_id,
                row.points,
                key=accrual_key(row.id, member_id),
                reason=row.reason,
                reference=f"accrual:{row.id}",
                source="accrual",
            )
            try:
                points_svc.earn(ctx, program, earn)
                counts["credited"] += 1
            except KopilkaError:
                # a blocked member, say: stored under the key as refused, counted here
                counts["refused"] += 1
        after = members[-1]
        run.checkpoint(len(members))


def run_due_accruals(ctx: ServiceContext, program: Program, run: JobRun) -> Counts:
    """The ``accruals`` job: book every accrual of the program whose time has come, each
    member once (see :func:`accrual_key`), then mark it done with its counts."""
    with ctx.uow(read_only=True) as uow:
        due = JobRepo(uow.conn).due_accruals(program.id, run.as_of)
    total = {"accruals": 0, "credited": 0, "refused": 0}
    for row in due:
        counts = _book(ctx, program, row, run)
        if counts.get("cancelled"):
            continue
        with ctx.uow() as uow:
            now = ctx.now()
            JobRepo(uow.conn).end_accrual(row.id, "done", dict(counts), now)
            outbox.record_program_event(
                uow,
                program,
                "accrual.done",
                {
                    "accrual_id": row.id,
                    "points": row.points,
                    "reason": row.reason,
                    "credited": counts["credited"],
                    "refused": counts["refused"],
                },
                now,
            )
            uow.commit()
        total["accruals"] += 1
        total["credited"] += counts["credited"]
        total["refused"] += counts["refused"]
    return total
