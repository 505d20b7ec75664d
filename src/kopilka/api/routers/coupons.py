"""Coupons at the till: the program's setting whether a return gives a coupon back (the
coupons themselves ride on the purchase request: ``coupons`` in /v1/purchases)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.common import Flag, Input
from kopilka.services import till_coupons
from kopilka.services.apikeys import Permission as P
from kopilka.services.till_coupons import CouponReturnSetting, SetCouponReturn

router = APIRouter(prefix=f"{V1}/rewards", tags=["rewards"])


class CouponReturnOut(BaseModel):
    give_back_on_return: bool


class CouponReturnIn(Input):
    give_back_on_return: Flag


@router.get(
    "/coupon-return",
    response_model=CouponReturnOut,
    dependencies=[permit(P.REWARDS_READ)],
    responses=responses("unauthorized", "forbidden"),
)
def get_coupon_return(ctx: Ctx, program: CurrentProgram) -> CouponReturnSetting:
    """Whether a return of all the lines a coupon discounted gives the coupon back."""
    return till_coupons.coupon_return(ctx, program)


@router.put(
    "/coupon-return",
    response_model=CouponReturnOut,
    dependencies=[permit(P.REWARDS_MANAGE)],
    responses=responses("unauthorized", "forbidden"),
)
def put_coupon_return(
    body: CouponReturnIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> CouponReturnSetting:
    """Set it (audited as ``coupon.return_setting``)."""
    cmd = SetCouponReturn(body.give_back_on_return, key.actor)
    return till_coupons.set_coupon_return(ctx, program, cmd)
