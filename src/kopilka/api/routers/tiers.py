"""A member's tier: read it with progress and history; support sets or lifts a manual tier."""

from __future__ import annotations

from fastapi import APIRouter

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, ProgramMember, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.tiers import ManualTierRequest, MemberTierOut
from kopilka.services import tiers as tiers_svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.tiers import MemberTier

router = APIRouter(prefix=f"{V1}/members", tags=["tiers"])


@router.get(
    "/{member_id:int}/tier",
    response_model=MemberTierOut,
    dependencies=[permit(P.MEMBERS_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def get_tier(member_id: ProgramMember, ctx: Ctx, program: CurrentProgram) -> MemberTier:
    """The member's tier, what the next one still needs and what keeps this one (as of
    now, by the end of the calendar window), and the tier history with what decided each
    change."""
    return tiers_svc.member_tier(ctx, program, member_id)


@router.post(
    "/{member_id:int}/tier",
    response_model=MemberTierOut,
    dependencies=[permit(P.MEMBERS_BLOCK)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def set_tier(
    member_id: ProgramMember,
    body: ManualTierRequest,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> MemberTier:
    """Support or admin (``members:block``: a member's standing) sets a manual tier (a
    floor until ``until`` or for good) or lifts it (``tier_code: null``), with a reason.
    Audited as ``member.tier``."""
    return tiers_svc.set_manual_tier(ctx, program, body.to_command(member_id), actor=key.actor)
