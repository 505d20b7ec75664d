"""Rewards: a member's catalog, redeeming and rewards (``rewards:read``, ``rewards:redeem``),
and the back office's catalog, stock, pools, images, refund settings (``rewards:manage``)
and issued rewards (``rewards:read``, ``rewards:cancel``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, IdempotencyKey, ProgramMember, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.rewards import (
    CancelIn,
    CatalogItemOut,
    IssuedDetailOut,
    IssuedEndedOut,
    IssuedOut,
    PoolIn,
    PoolLoadedOut,
    RedeemIn,
    RewardIn,
    RewardIssuedOut,
    RewardOut,
    SettingsIn,
    SettingsOut,
    StockIn,
)
from kopilka.domain.rewards import IssuedStatus
from kopilka.services import rewards as rewards_svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.rewards import (
    IssuedQuery,
    LoadPool,
    RedeemReward,
    SaveReward,
    SetImage,
    SetRefundSettings,
)
from kopilka.services.rewards.views import (
    CatalogItem,
    IssuedDetail,
    IssuedEnded,
    IssuedView,
    PoolLoaded,
    RewardIssued,
    RewardView,
)

members = APIRouter(prefix=f"{V1}/members/{{member_id:int}}", tags=["rewards"])
catalog = APIRouter(prefix=f"{V1}/rewards", tags=["rewards"])
issued = APIRouter(prefix=f"{V1}/issued-rewards", tags=["rewards"])
READ = responses("unauthorized", "forbidden", "not_found")
MANAGE = responses("unauthorized", "forbidden", "not_found", "conflict", "payload_too_large")
CODE_QUERY = r"^[A-Za-z0-9_.-]+$"
RewardId = Annotated[int, Path(ge=1, le=2**53 - 1)]
IssuedId = Annotated[int, Path(ge=1, le=2**53 - 1)]


# -- members ------------------------------------------------------------------------------
@members.get(
    "/rewards/catalog",
    response_model=list[CatalogItemOut],
    dependencies=[permit(P.REWARDS_READ)],
    responses=READ,
)
def member_catalog(
    member_id: ProgramMember, ctx: Ctx, program: CurrentProgram
) -> list[CatalogItem]:
    """The rewards this member may see now (their tier's audience, the window, early
    access), with the price for their tier and whether they can redeem each now."""
    return rewards_svc.visible_catalog(ctx, program, member_id)


@members.post(
    "/rewards",
    status_code=201,
    response_model=RewardIssuedOut,
    dependencies=[permit(P.REWARDS_REDEEM)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "not_found",
        "member_blocked",
        "insufficient_points",
        "reward_unavailable",
        "offer_not_activated",
        "idempotency_conflict",
    ),
)
def redeem(
    member_id: ProgramMember,
    body: RedeemIn,
    ctx: Ctx,
    program: CurrentProgram,
    idempotency_key: IdempotencyKey,
) -> RewardIssued:
    """Redeem a reward: its price is debited (a ``reward`` entry) and the reward issued
    with its code. Refused (409 ``reward_unavailable``, ``details.reason``) when the member
    may not have it now: not visible, not yet or no longer available, out of stock, the
    pool empty, a limit reached. A reward offered as a personal offer
    (``requires_activation``) the member has not activated yet is ``409
    offer_not_activated`` (``details.offer_id``: what to activate, through
    ``POST /v1/members/{id}/offers/{offer_id}/activate``); nothing is written."""
    return rewards_svc.redeem_reward(
        ctx, program, RedeemReward(member_id, body.reward_id, key=idempotency_key)
    )


@members.get(
    "/rewards",
    response_model=list[IssuedOut],
    dependencies=[permit(P.REWARDS_READ)],
    responses=READ,
)
def member_rewards(member_id: ProgramMember, ctx: Ctx, program: CurrentProgram) -> list[IssuedView]:
    """The member's issued rewards and coupons, newest first."""
    return rewards_svc.member_rewards(ctx, program, member_id)


# -- the catalog --------------------------------------------------------------------------
@catalog.get(
    "", response_model=list[RewardOut], dependencies=[permit(P.REWARDS_READ)], responses=READ
)
def list_rewards(ctx: Ctx, program: CurrentProgram) -> list[RewardView]:
    """The whole catalog with stock, issue and pool figures."""
    return rewards_svc.catalog(ctx, program)


@catalog.post(
    "",
    status_code=201,
    response_model=RewardOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=MANAGE,
)
def create_reward(body: RewardIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey) -> RewardView:
    """Add a reward (its ``code`` unique in the program: 409 otherwise). Audited."""
    reward = body.to_reward(program.currency)
    return rewards_svc.save_reward(ctx, program, SaveReward(reward, key.actor))


@catalog.get(
    "/settings",
    response_model=SettingsOut,
    dependencies=[permit(P.REWARDS_READ)],
    responses=READ,
)
def get_settings(ctx: Ctx, program: CurrentProgram) -> SettingsOut:
    """Whether cancelled and expired rewards give their points back."""
    found = rewards_svc.refund_settings(ctx, program)
    return SettingsOut(refund_on_cancel=found.on_cancel, refund_on_expiry=found.on_expiry)


@catalog.put(
    "/settings",
    response_model=SettingsOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=MANAGE,
)
def put_settings(
    body: SettingsIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> SettingsOut:
    """Set whether an unused reward's points come back when cancelled, when expired."""
    saved = rewards_svc.set_refund_settings(
        ctx, program, SetRefundSettings(body.refund_on_cancel, body.refund_on_expiry, key.actor)
    )
    return SettingsOut(refund_on_cancel=saved.on_cancel, refund_on_expiry=saved.on_expiry)


@catalog.get(
    "/{reward_id:int}",
    response_model=RewardOut,
    dependencies=[permit(P.REWARDS_READ)],
    responses=READ,
)
def get_reward(reward_id: RewardId, ctx: Ctx, program: CurrentProgram) -> RewardView:
    """One catalog row with its figures."""
    return rewards_svc.reward(ctx, program, reward_id)


@catalog.put(
    "/{reward_id:int}",
    response_model=RewardOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=MANAGE,
)
def update_reward(
    reward_id: RewardId, body: RewardIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> RewardView:
    """Change a reward (its stock stays: see ``/stock``). Audited."""
    reward = body.to_reward(program.currency, reward_id)
    return rewards_svc.save_reward(ctx, program, SaveReward(reward, key.actor))


@catalog.post(
    "/{reward_id:int}/stock",
    response_model=RewardOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=MANAGE,
)
def set_stock(
    reward_id: RewardId, body: StockIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> RewardView:
    """Set the stock, make it unlimited, or add (or remove) units in one statement."""
    return rewards_svc.set_stock(ctx, program, body.to_command(reward_id, key.actor))


@catalog.post(
    "/{reward_id:int}/pool",
    response_model=PoolLoadedOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=MANAGE,
)
def load_pool(
    reward_id: RewardId, body: PoolIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> PoolLoaded:
    """Add partner codes to a partner reward's pool (codes it has already are counted as
    duplicates). ``kopilka rewards pool-load`` sends a CSV file this way in batches."""
    return rewards_svc.load_pool(ctx, program, LoadPool(reward_id, body.codes, key.actor))


@catalog.put(
    "/{reward_id:int}/image",
    response_model=RewardOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=MANAGE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/png", "image/jpeg", "image/webp")
            },
        }
    },
)
async def put_image(
    reward_id: RewardId, request: Request, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> RewardView:
    """Store the reward's image: the body is the file, PNG, JPEG or WebP (told by its
    bytes, not the header) of at most 512 KB."""
    data = await request.body()
    return await run_in_threadpool(
        rewards_svc.set_image, ctx, program, SetImage(reward_id, data, key.actor)
    )


@catalog.get(
    "/{reward_id:int}/image",
    dependencies=[permit(P.REWARDS_READ)],
    responses={**READ, 200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
    response_class=Response,
)
def get_image(reward_id: RewardId, ctx: Ctx, program: CurrentProgram) -> Response:
    """The reward's image as stored."""
    content_type, data, digest = rewards_svc.image(ctx, program, reward_id)
    return Response(
        data,
        media_type=content_type,
        headers={"ETag": f'"{digest}"', "X-Content-Type-Options": "nosniff"},
    )


# -- issued rewards -----------------------------------------------------------------------
@issued.get(
    "",
    response_model=list[IssuedOut],
    dependencies=[permit(P.REWARDS_READ)],
    responses=READ,
)
def list_issued(
    ctx: Ctx,
    program: CurrentProgram,
    member_id: Annotated[int | None, Query(ge=1, le=2**53 - 1)] = None,
    reward_id: Annotated[int | None, Query(ge=1, le=2**53 - 1)] = None,
    status: Literal["issued", "used", "expired", "cancelled"] | None = None,
    code: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=2**53 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[IssuedView]:
    """Issued rewards, newest first: by member, reward, status or a code's beginning;
    ``before``: the last id of the previous page."""
    query = IssuedQuery(
        member_id, reward_id, IssuedStatus(status) if status else None, code, before, limit
    )
    return rewards_svc.issued_page(ctx, program, query)


@issued.get(
    "/{issued_id:int}",
    response_model=IssuedDetailOut,
    dependencies=[permit(P.REWARDS_READ)],
    responses=READ,
)
def get_issued(issued_id: IssuedId, ctx: Ctx, program: CurrentProgram) -> IssuedDetail:
    """An issued reward with its history."""
    return rewards_svc.issued_detail(ctx, program, issued_id)


@issued.post(
    "/{issued_id:int}/cancel",
    response_model=IssuedEndedOut,
    dependencies=[permit(P.REWARDS_CANCEL)],
    responses=responses(
        "unauthorized", "forbidden", "not_found", "issued_reward_not_active", "idempotency_conflict"
    ),
)
def cancel(
    issued_id: IssuedId,
    body: CancelIn,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
) -> IssuedEnded:
    """Cancel an unused reward: its points come back (a ``reward_refund`` entry
    referencing the ``reward`` entry) when the program's settings say so. Audited."""
    return rewards_svc.cancel_issued(
        ctx, program, body.to_command(issued_id, idempotency_key, key.actor)
    )
