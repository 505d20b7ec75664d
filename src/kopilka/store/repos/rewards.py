"""Reward rows: the catalog (``rewards``), its stock, the partner code pools, the program's
refund settings, and issued rewards with their history.

Stock and the total limit change in one conditional ``UPDATE`` (:meth:`RewardRepo.take_one`):
on PostgreSQL the row lock it takes makes concurrent redemptions queue on the reward's row
and each sees the previous one's result, so the last unit is taken exactly once; SQLite
runs one writer at a time (``store/db.py``'s writer lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from kopilka.domain.rewards import (
    Audience,
    CouponTerms,
    EarlyAccess,
    Fulfilment,
    IssuedReward,
    IssuedStatus,
    Limits,
    Period,
    Reward,
    RewardKind,
    Text,
    Validity,
)
from kopilka.store.repos import new_id
from kopilka.store.tables import (
    issued_reward_events,
    issued_rewards,
    reward_images,
    reward_pool_codes,
    reward_settings,
    rewards,
)


def reward_of(row: Any) -> Reward:
    """A catalog row as the domain's :class:`Reward`."""
    m = row._mapping
    early = (
        EarlyAccess(m["early_tier"], m["early_opens_at"])
        if m["early_tier"] and m["early_opens_at"]
        else None
    )
    return Reward(
        id=m["id"],
        program_id=m["program_id"],
        code=m["code"],
        kind=RewardKind(m["kind"]),
        name=Text.of(m["name"]),
        description=Text.of(m["description"]),
        points=m["points"],
        tier_points={str(k): int(v) for k, v in (m["tier_points"] or {}).items()},
        coupon=CouponTerms.of(m["coupon"]),
        fulfilment=Fulfilment(m["fulfilment"]) if m["fulfilment"] else None,
        stock=m["stock"],
        limits=Limits(
            per_member=m["limit_per_member"],
            per_period=m["limit_per_period"],
            period=Period(m["limit_period"]) if m["limit_period"] else None,
            total=m["limit_total"],
        ),
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        early=early,
        audience=Audience(
            tuple(str(t) for t in m["audience_tiers"] or ()),
            tuple(int(x) for x in m["audience_members"] or ()),
            tuple(str(s) for s in m["audience_segments"] or ()),
        ),
        validity=Validity(
            timedelta(seconds=m["activation_delay_s"]), m["valid_days"], m["valid_until"]
        ),
        active=bool(m["active"]),
        image=m["image"],
        requires_activation=bool(m["requires_activation"]),
    )


def reward_values(r: Reward) -> dict[str, Any]:
    """The columns a :class:`Reward` writes (the id, stock and counts aside)."""
    return {
        "program_id": r.program_id,
        "code": r.code,
        "kind": str(r.kind),
        "name": r.name.as_dict(),
        "description": r.description.as_dict(),
        "points": r.points,
        "tier_points": dict(r.tier_points) or None,
        "coupon": r.coupon.as_dict() if r.coupon else None,
        "fulfilment": str(r.fulfilment) if r.fulfilment else None,
        "limit_per_member": r.limits.per_member,
        "limit_per_period": r.limits.per_period,
        "limit_period": str(r.limits.period) if r.limits.period else None,
        "limit_total": r.limits.total,
        "starts_at": r.starts_at,
        "ends_at": r.ends_at,
        "early_tier": r.early.tier if r.early else None,
        "early_opens_at": r.early.opens_at if r.early else None,
        "audience_tiers": list(r.audience.tiers) or None,
        "audience_members": list(r.audience.members) or None,
        "audience_segments": list(r.audience.segments) or None,
        "activation_delay_s": int(r.validity.activation_delay.total_seconds()),
        "valid_days": r.validity.valid_days,
        "valid_until": r.validity.valid_until,
        "active": r.active,
        "image": r.image,
        "requires_activation": r.requires_activation,
    }


def issued_of(row: Any) -> IssuedReward:
    """An ``issued_rewards`` row as the domain's :class:`IssuedReward`."""
    m = row._mapping
    return IssuedReward(
        id=m["id"],
        program_id=m["program_id"],
        reward_id=m["reward_id"],
        member_id=m["member_id"],
        code=m["code"],
        kind=RewardKind(m["kind"]),
        points=m["points"],
        entry_id=m["entry_id"],
        issued_at=m["issued_at"],
        valid_from=m["valid_from"],
        expires_at=m["expires_at"],
        status=IssuedStatus(m["status"]),
        coupon=CouponTerms.of(m["coupon"]),
        refund_entry_id=m["refund_entry_id"],
        ended_at=m["ended_at"],
    )


@dataclass(frozen=True, slots=True)
class RefundSettings:
    """Whether an unused reward's points come back when it is cancelled, when it expires."""

    on_cancel: bool = True
    on_expiry: bool = False


@dataclass(frozen=True, slots=True)
class RewardFigures:
    """A catalog row's figures for the console: issued in all, still issued (unused), used,
    and the partner pool's codes in all and left."""

    issued: int
    active: int
    used: int
    pool_total: int
    pool_free: int


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of an issued reward's history."""

    at: datetime
    status: IssuedStatus
    actor: str | None
    reason: str | None
    detail: dict[str, Any] | None


class RewardRepo:
    """The catalog, its stock and pools, and the refund settings."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- catalog ----------------------------------------------------------------------------
    def insert(self, reward: Reward, now: datetime) -> int:
        """A new catalog row with ``reward.stock`` left; its id."""
        values = {**reward_values(reward), "stock": reward.stock, "issued_count": 0}
        return new_id(
            self.conn.execute(insert(rewards).values(**values, created_at=now, updated_at=now))
        )

    def update(self, reward: Reward, now: datetime) -> None:
        """Store a changed catalog row (stock and counts are changed on their own)."""
        self.conn.execute(
            update(rewards)
            .where(rewards.c.id == reward.id)
            .values(**reward_values(reward), updated_at=now)
        )

    def get(self, program_id: int, reward_id: int) -> Reward | None:
        """The program's reward ``reward_id``, or None."""
        row = self.conn.execute(
            select(rewards).where(rewards.c.id == reward_id, rewards.c.program_id == program_id)
        ).first()
        return reward_of(row) if row is not None else None

    def by_code(self, program_id: int, code: str) -> Reward | None:
        """The program's reward with the back office's ``code``, or None."""
        row = self.conn.execute(
            select(rewards).where(rewards.c.code == code, rewards.c.program_id == program_id)
        ).first()
        return reward_of(row) if row is not None else None

    def all(self, program_id: int, *, active_only: bool = False) -> list[Reward]:
        """The program's catalog, by code."""
        q = select(rewards).where(rewards.c.program_id == program_id)
        if active_only:
            q = q.where(rewards.c.active.is_(True))
        return [reward_of(r) for r in self.conn.execute(q.order_by(rewards.c.code))]

    def issued_count(self, reward_id: int) -> int:
        """Every issue of the reward so far (what the total limit counts)."""
        return int(
            self.conn.execute(
                select(rewards.c.issued_count).where(rewards.c.id == reward_id)
            ).scalar_one()
        )

    def figures(self, program_id: int) -> dict[int, RewardFigures]:
        """Issue and pool figures of every reward of the program, by reward id."""
        i = issued_rewards.c
        counts = {
            int(r[0]): (int(r[1]), int(r[2] or 0), int(r[3] or 0))
            for r in self.conn.execute(
                select(
                    i.reward_id,
                    func.count(),
                    func.sum(case((i.status == "issued", 1), else_=0)),
                    func.sum(case((i.status == "used", 1), else_=0)),
                )
                .where(i.program_id == program_id)
                .group_by(i.reward_id)
            )
        }
        p = reward_pool_codes.c
        pools = {
            int(r[0]): (int(r[1]), int(r[2] or 0))
            for r in self.conn.execute(
                select(
                    p.reward_id,
                    func.count(),
                    func.sum(case((p.issued_id.is_(None), 1), else_=0)),
                )
                .where(
                    p.reward_id.in_(select(rewards.c.id).where(rewards.c.program_id == program_id))
                )
                .group_by(p.reward_id)
            )
        }
        out: dict[int, RewardFigures] = {}
        for rid in set(counts) | set(pools) | {r.id for r in self.all(program_id)}:
            c = counts.get(rid, (0, 0, 0))
            pl = pools.get(rid, (0, 0))
            out[rid] = RewardFigures(c[0], c[1], c[2], pl[0], pl[1])
        return out

    # -- stock ------------------------------------------------------------------------------
    def take_one(self, reward_id: int) -> bool:
        """Take one unit of stock and count one issue, if stock and the total limit allow:
        one conditional UPDATE (the row lock serializes concurrent takers on PostgreSQL)."""
        r = rewards.c
        result = self.conn.execute(
            update(rewards)
            .where(
                r.id == reward_id,
                or_(r.stock.is_(None), r.stock > 0),
                or_(r.limit_total.is_(None), r.issued_count < r.limit_total),
            )
            .values(
                stock=case((r.stock.is_(None), None), else_=r.stock - 1),
                issued_count=r.issued_count + 1,
            )
        )
        return result.rowcount == 1

    def put_back_one(self, reward_id: int) -> None:
        """A cancelled, unused reward's unit goes back to the stock (unlimited stays so)."""
        r = rewards.c
        self.conn.execute(
            update(rewards).where(r.id == reward_id, r.stock.is_not(None)).values(stock=r.stock + 1)
        )

    def set_stock(self, reward_id: int, stock: int | None, now: datetime) -> None:
        """Set what is left to issue (None: unlimited)."""
        self.conn.execute(
            update(rewards).where(rewards.c.id == reward_id).values(stock=stock, updated_at=now)
        )

    def add_stock(self, reward_id: int, delta: int, now: datetime) -> bool:
        """Add ``delta`` units (negative: remove) in one statement, never below zero;
        False when the stock is unlimited or would go negative."""
        r = rewards.c
        result = self.conn.execute(
            update(rewards)
            .where(r.id == reward_id, r.stock.is_not(None), r.stock + delta >= 0)
            .values(stock=r.stock + delta, updated_at=now)
        )
        return result.rowcount == 1

    # -- pools ------------------------------------------------------------------------------
    def pool_codes_present(self, reward_id: int, codes: Sequence[str]) -> set[str]:
        """Which of ``codes`` the reward's pool has already."""
        if not codes:
            return set()
        p = reward_pool_codes.c
        return {
            str(r[0])
            for r in self.conn.execute(
                select(p.code).where(p.reward_id == reward_id, p.code.in_(list(codes)))
            )
        }

    def add_pool_codes(self, reward_id: int, codes: Iterable[str], now: datetime) -> int:
        """Add codes to the pool (the caller left out those present); how many."""
        rows = [{"reward_id": reward_id, "code": c, "loaded_at": now} for c in codes]
        if rows:
            self.conn.execute(insert(reward_pool_codes), rows)
        return len(rows)

    def take_pool_code(self, reward_id: int) -> tuple[int, str] | None:
        """The oldest free code of the pool, locked for this transaction (others skip it);
        None when the pool is empty."""
        p = reward_pool_codes.c
        row = self.conn.execute(
            select(p.id, p.code)
            .where(p.reward_id == reward_id, p.issued_id.is_(None))
            .order_by(p.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        return (int(row[0]), str(row[1])) if row is not None else None

    def mark_pool_code(self, code_id: int, issued_id: int) -> None:
        """The pool code ``code_id`` went to the issued reward ``issued_id``."""
        self.conn.execute(
            update(reward_pool_codes)
            .where(reward_pool_codes.c.id == code_id)
            .values(issued_id=issued_id)
        )

    def pool_free(self, reward_id: int) -> int:
        """Codes of the pool not handed out yet."""
        p = reward_pool_codes.c
        return int(
            self.conn.execute(
                select(func.count()).where(p.reward_id == reward_id, p.issued_id.is_(None))
            ).scalar_one()
        )

    # -- images -----------------------------------------------------------------------------
    def save_image(
        self, reward_id: int, content_type: str, data: bytes, sha256: str, now: datetime
    ) -> None:
        """Store (or replace) the reward's image."""
        values = {"content_type": content_type, "data": data, "sha256": sha256, "updated_at": now}
        done = self.conn.execute(
            update(reward_images).where(reward_images.c.reward_id == reward_id).values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(insert(reward_images).values(reward_id=reward_id, **values))

    def image(self, reward_id: int) -> tuple[str, bytes, str] | None:
        """The reward's image: content type, bytes and SHA-256 (the ETag), or None."""
        i = reward_images.c
        row = self.conn.execute(
            select(i.content_type, i.data, i.sha256).where(i.reward_id == reward_id)
        ).first()
        return (str(row[0]), bytes(row[1]), str(row[2])) if row is not None else None

    # -- settings ---------------------------------------------------------------------------
    def settings(self, program_id: int) -> RefundSettings:
        """The program's refund settings (the defaults when none are stored)."""
        row = self.conn.execute(
            select(reward_settings).where(reward_settings.c.program_id == program_id)
        ).first()
        if row is None:
            return RefundSettings()
        return RefundSettings(bool(row.refund_on_cancel), bool(row.refund_on_expiry))

    def save_settings(self, program_id: int, settings: RefundSettings, now: datetime) -> None:
        """Store the program's refund settings."""
        values = {
            "refund_on_cancel": settings.on_cancel,
            "refund_on_expiry": settings.on_expiry,
            "updated_at": now,
        }
        done = self.conn.execute(
            update(reward_settings)
            .where(reward_settings.c.program_id == program_id)
            .values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(insert(reward_settings).values(program_id=program_id, **values))


class IssuedRewardRepo:
    """Issued rewards and their history."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, issued: IssuedReward) -> int:
        """Store a newly issued reward; its id."""
        return new_id(
            self.conn.execute(
                insert(issued_rewards).values(
                    program_id=issued.program_id,
                    reward_id=issued.reward_id,
                    member_id=issued.member_id,
                    code=issued.code,
                    kind=str(issued.kind),
                    points=issued.points,
                    entry_id=issued.entry_id,
                    issued_at=issued.issued_at,
                    valid_from=issued.valid_from,
                    expires_at=issued.expires_at,
                    status=str(issued.status),
                    coupon=issued.coupon.as_dict() if issued.coupon else None,
                )
            )
        )

    def code_taken(self, program_id: int, code: str) -> bool:
        """Whether an issued reward of the program has ``code`` already."""
        c = issued_rewards.c
        return (
            self.conn.execute(
                select(c.id).where(c.program_id == program_id, c.code == code)
            ).first()
            is not None
        )

    def get(self, program_id: int, issued_id: int, *, lock: bool = False) -> IssuedReward | None:
        """The program's issued reward ``issued_id`` (``lock``: FOR UPDATE), or None."""
        c = issued_rewards.c
        q = select(issued_rewards).where(c.id == issued_id, c.program_id == program_id)
        if lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        return issued_of(row) if row is not None else None

    def by_code(self, program_id: int, code: str, *, lock: bool = False) -> IssuedReward | None:
        """The program's issued reward with ``code`` (``lock``: FOR UPDATE), or None."""
        c = issued_rewards.c
        q = select(issued_rewards).where(c.code == code, c.program_id == program_id)
        if lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        return issued_of(row) if row is not None else None

    def counts(self, member_id: int, reward_id: int, since: datetime | None) -> tuple[int, int]:
        """The member's issues of the reward that count towards limits (all but the
        cancelled ones): in all, and since ``since`` (None: 0)."""
        c = issued_rewards.c
        row = self.conn.execute(
            select(
                func.count(),
                func.sum(case((c.issued_at >= since, 1), else_=0)) if since else func.count(),
            ).where(c.member_id == member_id, c.reward_id == reward_id, c.status != "cancelled")
        ).one()
        return int(row[0]), int(row[1] or 0) if since else 0

    def set_status(
        self,
        issued_id: int,
        status: IssuedStatus,
        at: datetime,
        *,
        refund_entry_id: int | None = None,
    ) -> bool:
        """End an issued reward (from ``issued`` only); False when it was no longer issued."""
        c = issued_rewards.c
        done = self.conn.execute(
            update(issued_rewards)
            .where(c.id == issued_id, c.status == "issued")
            .values(status=str(status), ended_at=at, refund_entry_id=refund_entry_id)
        )
        return done.rowcount == 1

    def reopen(self, issued_id: int) -> bool:
        """A used coupon given back by a return: ``used`` becomes ``issued`` again (its
        expiry unchanged); False when it was not used."""
        c = issued_rewards.c
        done = self.conn.execute(
            update(issued_rewards)
            .where(c.id == issued_id, c.status == "used")
            .values(status="issued", ended_at=None)
        )
        return done.rowcount == 1

    def add_event(
        self,
        issued_id: int,
        status: IssuedStatus,
        at: datetime,
        *,
        actor: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """One line of history."""
        self.conn.execute(
            insert(issued_reward_events).values(
                issued_id=issued_id,
                status=str(status),
                at=at,
                actor=actor,
                reason=reason,
                detail=detail,
            )
        )

    def history(self, issued_id: int) -> list[HistoryEvent]:
        """The issued reward's history, oldest first."""
        e = issued_reward_events.c
        return [
            HistoryEvent(r.at, IssuedStatus(r.status), r.actor, r.reason, r.detail)
            for r in self.conn.execute(
                select(issued_reward_events).where(e.issued_id == issued_id).order_by(e.id)
            )
        ]

    def search(
        self,
        program_id: int,
        *,
        member_id: int | None = None,
        reward_id: int | None = None,
        status: IssuedStatus | None = None,
        code: Sequence[str] = (),
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[IssuedReward]:
        """Issued rewards, newest first, filtered; ``code``: prefixes, any may match;
        ``before_id``: the next page after the last id seen."""
        c = issued_rewards.c
        conds = [c.program_id == program_id]
        if member_id is not None:
            conds.append(c.member_id == member_id)
        if reward_id is not None:
            conds.append(c.reward_id == reward_id)
        if status is not None:
            conds.append(c.status == str(status))
        if code:
            conds.append(or_(*(c.code.startswith(p, autoescape=True) for p in code)))
        if before_id is not None:
            conds.append(c.id < before_id)
        q = select(issued_rewards).where(and_(*conds)).order_by(c.id.desc()).limit(limit)
        return [issued_of(r) for r in self.conn.execute(q)]

    def due_to_expire(self, program_id: int, now: datetime, limit: int) -> list[int]:
        """Ids of issued rewards past their expiry, oldest expiry first."""
        c = issued_rewards.c
        q = (
            select(c.id)
            .where(
                c.program_id == program_id,
                c.status == "issued",
                c.expires_at.is_not(None),
                c.expires_at <= now,
            )
            .order_by(c.expires_at, c.id)
            .limit(limit)
        )
        return [int(r[0]) for r in self.conn.execute(q)]
