"""The program's setting for coupons used at the till: whether a return of a coupon's
lines gives the coupon back (``reward_settings.coupon_back_on_return``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from kopilka.store.tables import reward_settings


class CouponPolicyRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def back_on_return(self, program_id: int) -> bool:
        """Whether a return gives a coupon back (False when nothing is stored)."""
        value = self.conn.execute(
            select(reward_settings.c.coupon_back_on_return).where(
                reward_settings.c.program_id == program_id
            )
        ).scalar()
        return bool(value)

    def set_back_on_return(self, program_id: int, give_back: bool, now: datetime) -> None:
        """Store the setting (the refund settings keep their values or defaults)."""
        done = self.conn.execute(
            update(reward_settings)
            .where(reward_settings.c.program_id == program_id)
            .values(coupon_back_on_return=give_back, updated_at=now)
        )
        if done.rowcount == 0:
            self.conn.execute(
                insert(reward_settings).values(
                    program_id=program_id, coupon_back_on_return=give_back, updated_at=now
                )
            )
