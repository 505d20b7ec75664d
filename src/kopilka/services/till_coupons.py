"""The program's setting for coupons used at the till: whether a return of all a coupon's
lines gives the coupon back (the use itself is part of a purchase: services/purchases.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.coupon_policy import CouponPolicyRepo


class CouponReturnSetting(TypedDict):
    give_back_on_return: bool


@dataclass(frozen=True, slots=True)
class SetCouponReturn:
    """Whether a return of all a coupon's lines gives the coupon back; ``actor`` audits it."""

    give_back_on_return: bool
    actor: str


def coupon_return(ctx: ServiceContext, program: Program) -> CouponReturnSetting:
    """The program's setting (off unless set)."""
    with ctx.uow(read_only=True) as uow:
        return {"give_back_on_return": CouponPolicyRepo(uow.conn).back_on_return(program.id)}


def set_coupon_return(
    ctx: ServiceContext, program: Program, cmd: SetCouponReturn
) -> CouponReturnSetting:
    """Store the setting; audited as ``coupon.return_setting``."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = CouponPolicyRepo(uow.conn)
        before = repo.back_on_return(program.id)
        repo.set_back_on_return(program.id, cmd.give_back_on_return, now)
        AuditLogRepo(uow.conn).add(
            program.id,
            cmd.actor,
            "coupon.return_setting",
            f"program:{program.code}",
            {"give_back_on_return": before},
            {"give_back_on_return": cmd.give_back_on_return},
            now,
        )
        uow.commit()
    return {"give_back_on_return": cmd.give_back_on_return}
