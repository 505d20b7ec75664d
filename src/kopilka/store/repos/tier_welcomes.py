"""Tier welcomes (``tier_welcomes``): which members were given a tier's welcome bonus
(the ``tier_reached`` event), once per member and tier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from kopilka.store.tables import tier_welcomes


class TierWelcomeRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def welcomed(self, member_id: int, tier_code: str) -> bool:
        """Whether the member was given this tier's welcome bonus already."""
        w = tier_welcomes.c
        found = self.conn.execute(
            select(w.member_id).where(w.member_id == member_id, w.tier_code == tier_code)
        ).first()
        return found is not None

    def add(
        self,
        program_id: int,
        member_id: int,
        tier_code: str,
        change_id: int,
        points: int,
        at: datetime,
    ) -> None:
        """Record the welcome (the key, member and tier, refuses a second one)."""
        self.conn.execute(
            insert(tier_welcomes).values(
                program_id=program_id,
                member_id=member_id,
                tier_code=tier_code,
                change_id=change_id,
                points=points,
                at=at,
            )
        )
