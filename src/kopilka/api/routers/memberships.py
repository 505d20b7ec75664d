"""Paid membership: a member's memberships; sale, renewal, cancel and refund."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, ProgramMember, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.common import MAX_ID
from kopilka.api.schemas.memberships import (
    MembershipOut,
    RefundRequest,
    RenewRequest,
    StartRequest,
)
from kopilka.services import memberships as svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.memberships import CancelMembership, MembershipView

router = APIRouter(prefix=f"{V1}/members", tags=["memberships"])

MembershipId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get(
    "/{member_id:int}/memberships",
    response_model=list[MembershipOut],
    dependencies=[permit(P.MEMBERS_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def list_memberships(
    member_id: ProgramMember, ctx: Ctx, program: CurrentProgram
) -> list[MembershipView]:
    """The member's paid memberships, newest first, with their sales."""
    return svc.memberships_of(ctx, program, member_id)


@router.post(
    "/{member_id:int}/memberships",
    response_model=MembershipOut,
    status_code=201,
    dependencies=[permit(P.PURCHASES_COMMIT)],
    responses=responses("unauthorized", "forbidden", "not_found", "conflict"),
)
def start(
    member_id: ProgramMember,
    body: StartRequest,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> MembershipView:
    """Sell a paid plan: the member is at least at its tier for one term from now. 409 when
    the member has a running membership (renew it) or the receipt id carries another sale."""
    return svc.start_membership(ctx, program, body.to_command(member_id, program), actor=key.actor)


@router.post(
    "/{member_id:int}/memberships/{membership_id:int}/renew",
    response_model=MembershipOut,
    dependencies=[permit(P.PURCHASES_COMMIT)],
    responses=responses("unauthorized", "forbidden", "not_found", "conflict"),
)
def renew(
    member_id: ProgramMember,
    membership_id: MembershipId,
    body: RenewRequest,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> MembershipView:
    """Sell one more term: it runs on from the current end (from now once ended)."""
    cmd = body.to_command(member_id, membership_id, program)
    return svc.renew_membership(ctx, program, cmd, actor=key.actor)


@router.post(
    "/{member_id:int}/memberships/{membership_id:int}/cancel",
    response_model=MembershipOut,
    dependencies=[permit(P.PURCHASES_RETURN)],
    responses=responses("unauthorized", "forbidden", "not_found", "conflict"),
)
def cancel(
    member_id: ProgramMember,
    membership_id: MembershipId,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> MembershipView:
    """Stop renewing: the tier stays to the end of the term paid, then the member falls
    back to the tier they earned. Cancelling again answers the same."""
    cmd = CancelMembership(member_id, membership_id)
    return svc.cancel_membership(ctx, program, cmd, actor=key.actor)


@router.post(
    "/{member_id:int}/memberships/{membership_id:int}/refund",
    response_model=MembershipOut,
    dependencies=[permit(P.PURCHASES_RETURN)],
    responses=responses("unauthorized", "forbidden", "not_found", "conflict"),
)
def refund(
    member_id: ProgramMember,
    membership_id: MembershipId,
    body: RefundRequest,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> MembershipView:
    """Refund: the membership ends at once, the money (at most what it took) goes back."""
    cmd = body.to_command(member_id, membership_id, program)
    return svc.refund_membership(ctx, program, cmd, actor=key.actor)
