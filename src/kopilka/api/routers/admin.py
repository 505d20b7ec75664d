"""Back office: manual adjustments, program settings, sweeps, verify, the audit log.

Every write here is audited (who, what, when, before and after) in the transaction of
its effect; sweeps, which commit batch by batch, are audited when they finish.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from kopilka.api.deps import (
    AppMetrics,
    Ctx,
    CurrentKey,
    CurrentProgram,
    IdempotencyKey,
    ProgramMember,
    permit,
)
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.admin import (
    AuditEntry,
    AuditPage,
    JobRequest,
    JobResult,
    ProgramPublic,
    VerifyPublic,
)
from kopilka.api.schemas.common import MAX_ID, Code
from kopilka.api.schemas.points import AdjustmentCreate, LedgerResult
from kopilka.domain.errors import ValidationError
from kopilka.services import audit as audit_svc
from kopilka.services import back_office
from kopilka.services.apikeys import Permission as P
from kopilka.services.audit_log import audit_page
from kopilka.services.back_office import JobDone
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust, LedgerOutcome

router = APIRouter(prefix=f"{V1}/admin", tags=["back office"])
READ = responses("unauthorized", "forbidden")
JOB = responses("unauthorized", "forbidden", "idempotency_conflict", "payload_too_large")


@router.post(
    "/members/{member_id:int}/adjustments",
    status_code=201,
    response_model=LedgerResult,
    dependencies=[permit(P.POINTS_ADJUST)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "not_found",
        "insufficient_points",
        "idempotency_conflict",
        "payload_too_large",
    ),
)
def adjust(
    member_id: ProgramMember,
    body: AdjustmentCreate,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> LedgerOutcome:
    """Add or deduct points by hand, with a reason. Audited.

    ``reason`` is internal: support and the audit log read it, the member never does.
    ``reason_code`` (optional) files the adjustment under one of the fixed reasons, and
    ``member_text`` (optional) is what the member reads in their history; without it the
    member reads a plain sentence ("25 points added by customer service")."""
    result = back_office.adjust(
        ctx,
        key.program,
        Adjust(
            member_id,
            body.delta,
            key=idempotency_key,
            reason=body.reason,
            actor=key.actor,
            meta=body.meta(),
        ),
    )
    metrics.moved("adjusted", abs(body.delta))
    return result


@router.get(
    "/program", response_model=ProgramPublic, dependencies=[permit(P.PROGRAM_READ)], responses=READ
)
def program_settings(program: CurrentProgram) -> ProgramPublic:
    """The settings of the caller's program."""
    return ProgramPublic.of(program)


Job = Literal["expire", "activate", "expire-holds"]


def _run_job(
    name: str, body: JobRequest | None, ctx: ServiceContext, key: CurrentKey, idem: str
) -> JobDone:
    as_of = body.as_of if body and body.as_of else None
    if as_of is not None and as_of > ctx.now():
        raise ValidationError("as_of must not be in the future", field="as_of")
    return back_office.run_job(ctx, key.program, name, as_of, key=idem, actor=key.actor)


@router.post(
    "/jobs/{job}", response_model=JobResult, dependencies=[permit(P.JOBS_RUN)], responses=JOB
)
def run_job(
    job: Job,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    body: JobRequest | None = None,
) -> JobDone:
    """Run a sweep as of ``as_of`` (default and latest: now): ``expire`` due lots,
    ``activate`` due pending lots, or ``expire-holds`` that timed out. Audited."""
    return _run_job(job, body, ctx, key, idempotency_key)


@router.get(
    "/verify", response_model=VerifyPublic, dependencies=[permit(P.LEDGER_VERIFY)], responses=READ
)
def verify(ctx: Ctx, program: CurrentProgram) -> dict[str, Any]:
    """Recompute the program's balances from the journal and check every ledger invariant."""
    return audit_svc.verify_ledger(ctx, program.id).to_dict()


@router.get("/audit", response_model=AuditPage, dependencies=[permit(P.AUDIT_READ)], responses=READ)
def audit_log(
    ctx: Ctx,
    program: CurrentProgram,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    target: Annotated[Code | None, Query(description="e.g. member:42")] = None,
) -> AuditPage:
    """Back-office actions, newest first: who, what, when, before and after."""
    page = audit_page(ctx, program.id, limit=limit, before=before, target=target)
    return AuditPage(
        items=[
            AuditEntry(
                id=r.id,
                actor=r.actor,
                action=r.action,
                target=r.target,
                before=r.before,
                after=r.after,
                at=r.at,
            )
            for r in page["items"]
        ],
        next_cursor=page["next_cursor"],
    )
