"""Recorded writes: idempotent under a caller's key and, for back-office actions, audited.

Enrolling, changing a profile, blocking, adjusting, running a sweep: each runs under an
idempotency key (one key, at most one effect; same key and request → the stored
response; another request → :class:`IdempotencyConflict`; a failure stays a failure),
and a back-office action writes an ``audit_log`` row (who, what, when, before, after)
in the same transaction as its effect.

The use cases in ``kopilka.services`` open their own units of work. To run one inside
the idempotency transaction, :func:`enlisted` gives a service context whose units of
work are savepoints of that transaction: the use case runs unchanged, and the key, the
effect and the audit row commit (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TypedDict, TypeVar, cast

from sqlalchemy import RootTransaction

from kopilka.domain.errors import ValidationError
from kopilka.ledger.idempotency import StoredOutcome, check_key, replay, request_hash
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo, AuditRecord
from kopilka.store.uow import UnitOfWork

# a back-office action's state before and after it (free-form: what the audit log keeps)
Snapshot = Callable[[ServiceContext], Mapping[str, object] | None]
# a result: a JSON object, stored as the key's outcome (a TypedDict of the use case)
R = TypeVar("R", bound=Mapping[str, object])
MAX_PAGE = 200


class AuditPage(TypedDict):
    """A page of the audit log, newest first; ``next_cursor`` is the next page's ``before``."""

    items: list[AuditRecord]
    next_cursor: int | None


class _Savepoint(UnitOfWork):
    """A unit of work that is a savepoint inside an open one."""

    def __init__(self, outer: UnitOfWork) -> None:
        super().__init__(outer._engine, lock_rows=outer._lock_rows)
        self._outer = outer

    def __enter__(self) -> _Savepoint:
        # the outer unit's connection and every repository bound to it
        self.__dict__.update({k: v for k, v in vars(self._outer).items() if not k.startswith("_")})
        # a savepoint stands where the base class keeps its root transaction
        # (a nested transaction, committed and rolled back as the root one is)
        self._tx = cast(RootTransaction, self.conn.begin_nested())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.rollback()


@dataclass
class _Enlisted(ServiceContext):
    outer: UnitOfWork | None = None

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        assert self.outer is not None
        return _Savepoint(self.outer)


def enlisted(ctx: ServiceContext, uow: UnitOfWork) -> ServiceContext:
    """A context whose units of work are savepoints of ``uow`` (same clock)."""
    return _Enlisted(ctx.engine, ctx.clock, ctx.lock_rows, outer=uow)


@dataclass(frozen=True, slots=True)
class Audit:
    """How a back-office action is recorded: by whom, what, on what, and its state."""

    actor: str
    action: str
    target: str
    snapshot: Snapshot = lambda _ctx: None
    # what the action says beside the state it changed (a reason code, an internal note)
    details: Mapping[str, object] | None = None

    def record(
        self,
        ctx: ServiceContext,
        uow: UnitOfWork,
        program_id: int,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
    ) -> None:
        """Write the audit row (in ``uow``, the transaction of the action's effect); the
        ``details`` are added to the state after."""
        if self.details:
            after = {**(after or {}), **self.details}
        AuditLogRepo(uow.conn).add(
            program_id,
            self.actor,
            self.action,
            self.target,
            None if before is None else dict(before),
            None if after is None else dict(after),
            ctx.now(),
        )


def recorded_write(
    ctx: ServiceContext,
    program_id: int,
    *,
    key: str,
    operation: str,
    request: Mapping[str, object],
    effect: Callable[[ServiceContext], R],
    audit: Audit | None = None,
) -> R:
    """Run ``effect`` once under ``key``, auditing it if ``audit`` is given; returns the
    (stored) result. The effect is given a context enlisted in the key's transaction."""

    def in_transaction(uow: UnitOfWork) -> R:
        inner = enlisted(ctx, uow)
        before = audit.snapshot(inner) if audit else None
        result = effect(inner)
        if audit:
            audit.record(ctx, uow, program_id, before, audit.snapshot(inner) or result)
        return result

    return ctx.idempotent(program_id, key, operation, request, in_transaction)


def recorded_job(
    ctx: ServiceContext,
    program_id: int,
    *,
    key: str,
    operation: str,
    request: Mapping[str, object],
    job: Callable[[], R],
    audit: Audit,
) -> R:
    """A batch job (its own transactions, safe to repeat) under an idempotency key:
    a repeated key replays the stored outcome without running the job again."""
    check_key(key)
    with ctx.uow(read_only=True) as uow:
        stored = uow.idempotency.get(program_id, key)
        if stored is not None:
            # the stored row is frozen; replay only reads it. The stored outcome is the
            # job's result format (R), written by the store() below
            digest = request_hash(operation, dict(request))
            return cast(R, replay(cast(StoredOutcome, stored), operation, digest))
    outcome = job()

    def store(uow: UnitOfWork) -> R:
        audit.record(ctx, uow, program_id, None, outcome)
        return outcome

    # a concurrent request with the same key may have won: then its outcome is returned
    return ctx.idempotent(program_id, key, operation, request, store)


def audit_page(
    ctx: ServiceContext,
    program_id: int,
    *,
    limit: int = 50,
    before: int | None = None,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """The program's audit log, newest first; pass ``next_cursor`` back as ``before``.
    Each filter given narrows it: exact ``target``, ``actor`` and ``action``, and the
    moments ``since`` (included) to ``until`` (excluded)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1-{MAX_PAGE}", field="limit")
    with ctx.uow(read_only=True) as uow:
        rows = AuditLogRepo(uow.conn).page(
            program_id,
            limit + 1,
            before,
            target,
            actor=actor,
            action=action,
            since=since,
            until=until,
        )
    page: list[AuditRecord] = rows[:limit]
    return {
        "items": page,
        "next_cursor": page[-1].id if len(rows) > limit else None,
    }
