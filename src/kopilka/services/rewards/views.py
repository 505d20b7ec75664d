"""The results of the rewards use cases: JSON objects (TypedDicts), as every service
answers (docs/architecture.md, "Commands and results"), and how they are made."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from kopilka.domain.rewards import CouponTerms, IssuedReward, Reward, grouped
from kopilka.store.repos.rewards import RewardFigures


class Names(TypedDict):
    """A text in both languages."""

    en: str
    ru: str


class CouponView(TypedDict):
    """A coupon's or voucher's terms."""

    kind: str
    amount: int
    min_basket_minor: int
    categories: list[str]


class LimitsView(TypedDict):
    """A reward's limits (None: none)."""

    per_member: int | None
    per_period: int | None
    period: str | None
    total: int | None


class EarlyView(TypedDict):
    """Early access: the tier (and higher) and from when."""

    tier: str
    opens_at: str


class AudienceView(TypedDict):
    """Who sees a reward (all empty: everybody)."""

    tiers: list[str]
    members: list[int]
    segments: list[str]


class ValidityView(TypedDict):
    """How long an issued reward is good for."""

    activation_delay_s: int
    valid_days: int | None
    valid_until: str | None


class FiguresView(TypedDict):
    """What was issued of a reward, and what its pool holds."""

    issued: int
    active: int
    used: int
    pool_total: int
    pool_free: int


class RewardView(TypedDict):
    """A catalog row as the back office reads it."""

    id: int
    code: str
    kind: str
    name: Names
    description: Names
    points: int
    tier_points: dict[str, int]
    coupon: CouponView | None
    fulfilment: str | None
    stock: int | None
    limits: LimitsView
    starts_at: str | None
    ends_at: str | None
    early: EarlyView | None
    audience: AudienceView
    validity: ValidityView
    active: bool
    has_image: bool
    figures: FiguresView
    requires_activation: bool


class CatalogItem(TypedDict):
    """A reward as a member sees it: the price for their tier, whether (and if not, why
    not: a ``reward_unavailable`` reason, or ``not_activated``) they can redeem it now, and
    for a reward offer its offer id and whether the member activated it."""

    id: int
    code: str
    kind: str
    name: Names
    description: Names
    points: int
    coupon: CouponView | None
    fulfilment: str | None
    stock: int | None
    available: bool
    reason: str | None
    opens_at: str | None
    ends_at: str | None
    has_image: bool
    requires_activation: bool
    offer_id: str | None
    activated: bool


class IssuedView(TypedDict):
    """An issued reward."""

    id: int
    reward_id: int
    reward_code: str
    name: Names
    member_id: int
    code: str
    display_code: str
    kind: str
    points: int
    entry_id: int
    issued_at: str
    valid_from: str
    expires_at: str | None
    status: str
    coupon: CouponView | None
    refund_entry_id: int | None
    ended_at: str | None


class Balances(TypedDict):
    """A member's points after the operation."""

    available: int
    pending: int
    held: int


class RewardIssued(TypedDict):
    """What a redemption did: the issued reward and the member's balances after it."""

    issued: IssuedView
    balance: Balances


class HistoryLine(TypedDict):
    """One line of an issued reward's history."""

    at: str
    status: str
    actor: str | None
    reason: str | None
    detail: dict[str, object] | None


class IssuedDetail(TypedDict):
    """An issued reward with its history."""

    issued: IssuedView
    history: list[HistoryLine]


class IssuedEnded(TypedDict):
    """What a cancellation did: the reward as it is now, the refund entry (if any) and the
    member's balances after it."""

    issued: IssuedView
    refunded: int
    refund_entry_id: int | None
    balance: Balances


class PoolLoaded(TypedDict):
    """What a pool load did."""

    added: int
    duplicates: int
    free: int


def iso(at: datetime | None) -> str | None:
    """A moment as ISO 8601 (None stays None)."""
    return at.isoformat() if at is not None else None


def names(text_en: str, text_ru: str) -> Names:
    """Both languages' texts."""
    return {"en": text_en, "ru": text_ru}


def coupon_view(reward_coupon: CouponTerms | None) -> CouponView | None:
    """A coupon's terms as JSON."""
    if reward_coupon is None:
        return None
    return {
        "kind": str(reward_coupon.kind),
        "amount": reward_coupon.amount,
        "min_basket_minor": reward_coupon.min_basket_minor,
        "categories": list(reward_coupon.categories),
    }


def reward_view(r: Reward, figures: RewardFigures | None, has_image: bool) -> RewardView:
    """A catalog row with its figures."""
    f = figures or RewardFigures(0, 0, 0, 0, 0)
    return {
        "id": r.id,
        "code": r.code,
        "kind": str(r.kind),
        "name": names(r.name.en, r.name.ru),
        "description": names(r.description.en, r.description.ru),
        "points": r.points,
        "tier_points": dict(r.tier_points),
        "coupon": coupon_view(r.coupon),
        "fulfilment": str(r.fulfilment) if r.fulfilment else None,
        "stock": r.stock,
        "limits": {
            "per_member": r.limits.per_member,
            "per_period": r.limits.per_period,
            "period": str(r.limits.period) if r.limits.period else None,
            "total": r.limits.total,
        },
        "starts_at": iso(r.starts_at),
        "ends_at": iso(r.ends_at),
        "early": (
            {"tier": r.early.tier, "opens_at": r.early.opens_at.isoformat()} if r.early else None
        ),
        "audience": {
            "tiers": list(r.audience.tiers),
            "members": list(r.audience.members),
            "segments": list(r.audience.segments),
        },
        "validity": {
            "activation_delay_s": int(r.validity.activation_delay.total_seconds()),
            "valid_days": r.validity.valid_days,
            "valid_until": iso(r.validity.valid_until),
        },
        "active": r.active,
        "has_image": has_image,
        "figures": {
            "issued": f.issued,
            "active": f.active,
            "used": f.used,
            "pool_total": f.pool_total,
            "pool_free": f.pool_free,
        },
        "requires_activation": r.requires_activation,
    }


def issued_view(i: IssuedReward, reward: Reward | None) -> IssuedView:
    """An issued reward, with its catalog row's code and names."""
    return {
        "id": i.id,
        "reward_id": i.reward_id,
        "reward_code": reward.code if reward else "",
        "name": names(reward.name.en, reward.name.ru) if reward else names("", ""),
        "member_id": i.member_id,
        "code": i.code,
        "display_code": grouped(i.code),
        "kind": str(i.kind),
        "points": i.points,
        "entry_id": i.entry_id,
        "issued_at": i.issued_at.isoformat(),
        "valid_from": i.valid_from.isoformat(),
        "expires_at": iso(i.expires_at),
        "status": str(i.status),
        "coupon": coupon_view(i.coupon),
        "refund_entry_id": i.refund_entry_id,
        "ended_at": iso(i.ended_at),
    }
