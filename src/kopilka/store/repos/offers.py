"""Rows of personal offers and favourite categories: the members listed for an offer, the
members' activations, their choices of favourite categories, and what offers awarded
(read from the stored per-line awards)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kopilka.store.tables import (
    favourite_choices,
    line_awards,
    offer_activations,
    offer_audiences,
    purchases,
)

BATCH = 500  # members written per statement when a list is uploaded


@dataclass(frozen=True, slots=True)
class OfferUse:
    """What one offer awarded: purchases and members it earned on, and its points."""

    purchases: int
    members: int
    points: int


class OfferRepo:
    """The offer and favourite categories tables of one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._pg = conn.dialect.name == "postgresql"

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self._pg else sqlite_insert(table)

    # --- the purchase path: what a member has -------------------------------------------

    def listed_for(self, program_id: int, member_id: int) -> set[str]:
        """The offers whose uploaded list has the member."""
        a = offer_audiences.c
        rows = self.conn.execute(
            select(a.offer_id).where(a.member_id == member_id, a.program_id == program_id)
        )
        return {r[0] for r in rows}

    def activated_by(self, program_id: int, member_id: int) -> dict[str, datetime]:
        """The offers the member activated, with when."""
        a = offer_activations.c
        rows = self.conn.execute(
            select(a.offer_id, a.activated_at).where(
                a.member_id == member_id, a.program_id == program_id
            )
        )
        return {r[0]: r[1] for r in rows}

    def is_activated(self, program_id: int, offer_id: str, member_id: int) -> bool:
        """Whether the member activated the offer (a redemption of a reward offer asks)."""
        a = offer_activations.c
        row = self.conn.execute(
            select(a.activated_at).where(
                a.program_id == program_id, a.offer_id == offer_id, a.member_id == member_id
            )
        ).first()
        return row is not None

    def choices_of(
        self, program_id: int, member_id: int
    ) -> dict[str, list[tuple[date, tuple[str, ...]]]]:
        """The member's choices of favourite categories by rule: (period start, categories)."""
        c = favourite_choices.c
        rows = self.conn.execute(
            select(c.rule_id, c.period_start, c.categories).where(
                c.member_id == member_id, c.program_id == program_id
            )
        )
        out: dict[str, list[tuple[date, tuple[str, ...]]]] = {}
        for rule_id, start, categories in rows:
            out.setdefault(rule_id, []).append((start, tuple(str(x) for x in categories)))
        return out

    # --- writes -------------------------------------------------------------------------

    def add_to_audience(
        self, program_id: int, offer_id: str, member_ids: Sequence[int], now: datetime
    ) -> None:
        """Put members on an offer's list (those already on it stay as they are)."""
        for start in range(0, len(member_ids), BATCH):
            rows = [
                {"program_id": program_id, "offer_id": offer_id, "member_id": m, "added_at": now}
                for m in member_ids[start : start + BATCH]
            ]
            self.conn.execute(self._insert(offer_audiences).on_conflict_do_nothing(), rows)

    def clear_audience(self, program_id: int, offer_id: str) -> int:
        """Take everyone off an offer's list; how many were on it."""
        a = offer_audiences.c
        result = self.conn.execute(
            delete(offer_audiences).where(a.program_id == program_id, a.offer_id == offer_id)
        )
        return int(result.rowcount or 0)

    def activate(
        self, program_id: int, offer_id: str, member_id: int, now: datetime, channel: str | None
    ) -> datetime:
        """Record the member's activation (once: a second one keeps the first); when the
        offer was activated."""
        self.conn.execute(
            self._insert(offer_activations).on_conflict_do_nothing(),
            {
                "program_id": program_id,
                "offer_id": offer_id,
                "member_id": member_id,
                "activated_at": now,
                "channel": channel,
            },
        )
        a = offer_activations.c
        at: datetime = self.conn.execute(
            select(a.activated_at).where(
                a.program_id == program_id, a.offer_id == offer_id, a.member_id == member_id
            )
        ).scalar_one()
        return at

    def add_choice(
        self,
        program_id: int,
        rule_id: str,
        member_id: int,
        period_start: date,
        categories: Sequence[str],
        now: datetime,
    ) -> bool:
        """Store a choice for a period; False when the member already chose in it (a
        concurrent second choice loses on the primary key)."""
        result = self.conn.execute(
            self._insert(favourite_choices).on_conflict_do_nothing(),
            {
                "program_id": program_id,
                "rule_id": rule_id,
                "member_id": member_id,
                "period_start": period_start,
                "categories": list(categories),
                "chosen_at": now,
            },
        )
        return bool(result.rowcount)

    # --- the back office's figures ------------------------------------------------------

    def audience_sizes(self, program_id: int) -> dict[str, int]:
        """How many members each offer's list has."""
        a = offer_audiences.c
        rows = self.conn.execute(
            select(a.offer_id, func.count()).where(a.program_id == program_id).group_by(a.offer_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    def audience_of(self, program_id: int, offer_id: str, limit: int) -> list[int]:
        """The first ``limit`` member ids of an offer's list, ascending."""
        a = offer_audiences.c
        rows = self.conn.execute(
            select(a.member_id)
            .where(a.program_id == program_id, a.offer_id == offer_id)
            .order_by(a.member_id)
            .limit(limit)
        )
        return [int(r[0]) for r in rows]

    def activation_counts(self, program_id: int) -> dict[str, int]:
        """How many members activated each offer."""
        a = offer_activations.c
        rows = self.conn.execute(
            select(a.offer_id, func.count()).where(a.program_id == program_id).group_by(a.offer_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    def uses(self, program_id: int, offer_ids: Iterable[str]) -> dict[str, OfferUse]:
        """What each offer awarded, from the stored per-line awards (docs/architecture.md,
        invariant 9): the purchases and members it earned on and its points as awarded (a
        return's claw-back is not taken off)."""
        ids = sorted(set(offer_ids))
        if not ids:
            return {}
        la, p = line_awards.c, purchases.c
        rows = self.conn.execute(
            select(
                la.rule_id,
                func.count(func.distinct(la.purchase_id)),
                func.count(func.distinct(p.member_id)),
                func.coalesce(func.sum(la.points), 0),
            )
            .select_from(line_awards.join(purchases, p.id == la.purchase_id))
            .where(p.program_id == program_id, la.rule_id.in_(ids))
            .group_by(la.rule_id)
        )
        return {r[0]: OfferUse(int(r[1]), int(r[2]), int(r[3])) for r in rows}
