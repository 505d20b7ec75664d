"""Members and their rewards: the catalog a member sees, and redeeming a reward.

A redemption runs in one unit of work under its idempotency key: the member's balance row
is locked first (as every ledger operation does, so a member's limits are counted with no
other redemption of theirs in between), then the rules are checked, one unit of stock is
taken by a conditional UPDATE of the reward's row (exact under concurrency: see
``store/repos/rewards.py``), a partner code is taken from the pool if it is a partner's,
the price is debited (the ledger's ``reward`` entry) and the reward is issued. Any refusal
rolls all of it back. A reward offered as a personal offer (``requires_activation``) is
refused ``offer_not_activated`` until the member has activated it
(``services/offers.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kopilka.domain.errors import NotFoundError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rewards import (
    CODE_ALPHABET,
    CODE_BODY,
    IssuedReward,
    IssuedStatus,
    MemberStanding,
    Reward,
    RewardKind,
    make_code,
    period_start,
    refusal,
    reward_offer_id,
    unavailable,
)
from kopilka.ledger.ledger import Ledger
from kopilka.services import outbox
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import member_context
from kopilka.services.rewards.views import (
    Balances,
    CatalogItem,
    RewardIssued,
    coupon_view,
    iso,
    issued_view,
    names,
)
from kopilka.services.tiers import tiers_at
from kopilka.store.repos.offers import OfferRepo
from kopilka.store.repos.rewards import IssuedRewardRepo, RewardRepo
from kopilka.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class RedeemReward:
    """A member redeems a reward of the catalog (``key``: the idempotency key)."""

    member_id: int
    reward_id: int
    _: KW_ONLY
    key: str

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {"member_id": self.member_id, "reward_id": self.reward_id}


def new_code() -> str:
    """A fresh code: 11 characters from ``secrets`` and the check character."""
    return make_code("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_BODY)))


def tier_ranks(uow: UnitOfWork, program: Program, now: datetime) -> dict[str, int]:
    """The rank of each tier of the program's rules at ``now`` (0: the lowest)."""
    found = tiers_at(uow, program, now)
    return {t.code: i for i, t in enumerate(found.policy.tiers)} if found else {}


def _standing(
    issued: IssuedRewardRepo,
    program: Program,
    reward: Reward,
    member_id: int,
    tier: str | None,
    ranks: dict[str, int],
    now: datetime,
    segments: frozenset[str],
    activated: bool = False,
) -> MemberStanding:
    since = None
    if reward.limits.period is not None:
        since = period_start(reward.limits.period, now, ZoneInfo(program.timezone))
    total, in_period = issued.counts(member_id, reward.id, since)
    return MemberStanding(
        member_id,
        tier,
        ranks.get(tier or "", -1),
        total,
        in_period,
        segments=segments,
        activated=activated,
    )


def visible_catalog(ctx: ServiceContext, program: Program, member_id: int) -> list[CatalogItem]:
    """The rewards this member may see now (audience, window, early access), each with its
    price for the member's tier and whether it can be redeemed now (activation of a reward
    offer, stock, limits)."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id, identifiers=False)
        ranks = tier_ranks(uow, program, now)
        segments = member_context(member).segments  # as offers and rules read them
        repo, issued = RewardRepo(uow.conn), IssuedRewardRepo(uow.conn)
        figures = repo.figures(program.id)
        activated = OfferRepo(uow.conn).activated_by(program.id, member_id)
        items: list[CatalogItem] = []
        for reward in repo.all(program.id, active_only=True):
            offer_id = reward_offer_id(reward.id) if reward.requires_activation else None
            who = _standing(
                issued,
                program,
                reward,
                member_id,
                member.tier_code,
                ranks,
                now,
                segments,
                offer_id in activated,
            )
            total = repo.issued_count(reward.id)
            if refusal(reward, who, now, ranks, issued_total=total, listing=True) is not None:
                continue
            reason = refusal(reward, who, now, ranks, issued_total=total)
            if reason is None and reward.kind == RewardKind.PARTNER:
                reason = None if figures[reward.id].pool_free > 0 else "pool_empty"
            items.append(
                {
                    "id": reward.id,
                    "code": reward.code,
                    "kind": str(reward.kind),
                    "name": names(reward.name.en, reward.name.ru),
                    "description": names(reward.description.en, reward.description.ru),
                    "points": reward.price(member.tier_code),
                    "coupon": coupon_view(reward.coupon),
                    "fulfilment": str(reward.fulfilment) if reward.fulfilment else None,
                    "stock": reward.stock,
                    "available": reason is None,
                    "reason": reason,
                    "opens_at": iso(reward.opens_for(who.tier_rank, ranks)),
                    "ends_at": iso(reward.ends_at),
                    "has_image": reward.image is not None,
                    "requires_activation": reward.requires_activation,
                    "offer_id": offer_id,
                    "activated": offer_id is not None and offer_id in activated,
                }
            )
        return items


def redeem_reward(ctx: ServiceContext, program: Program, cmd: RedeemReward) -> RewardIssued:
    """Debit the reward's price and issue it (once per key; a replay answers the same)."""

    def effect(uow: UnitOfWork) -> RewardIssued:
        now = ctx.now()
        ledger = Ledger(uow.ledger, program)
        ledger.require_active(cmd.member_id)  # locks the member's balance row first
        member = uow.members.get(program.id, cmd.member_id, identifiers=False)
        repo, issued = RewardRepo(uow.conn), IssuedRewardRepo(uow.conn)
        reward = repo.get(program.id, cmd.reward_id)
        if reward is None:
            raise NotFoundError(
                msg("reward %(id)s not found", id=cmd.reward_id), reward_id=cmd.reward_id
            )
        ranks = tier_ranks(uow, program, now)
        segments = member_context(member).segments
        activated = reward.requires_activation and OfferRepo(uow.conn).is_activated(
            program.id, reward_offer_id(reward.id), cmd.member_id
        )
        who = _standing(
            issued,
            program,
            reward,
            cmd.member_id,
            member.tier_code,
            ranks,
            now,
            segments,
            activated,
        )
        reason = refusal(reward, who, now, ranks, issued_total=repo.issued_count(reward.id))
        if reason is not None:
            raise unavailable(reason, reward)
        if not repo.take_one(reward.id):  # another redemption took the last unit meanwhile
            fresh = repo.get(program.id, reward.id)
            assert fresh is not None
            gone = fresh.stock is not None and fresh.stock <= 0
            raise unavailable("out_of_stock" if gone else "total_limit", reward)
        pool_code = repo.take_pool_code(reward.id) if reward.kind == RewardKind.PARTNER else None
        if reward.kind == RewardKind.PARTNER and pool_code is None:
            raise unavailable("pool_empty", reward)
        price = reward.price(member.tier_code)
        spent = ledger.spend_on_reward(
            cmd.member_id, price, now, reference=reward.code, meta={"reward_id": reward.id}
        )
        assert spent.entry_id is not None
        if pool_code is not None:
            code = pool_code[1]
        else:
            code = new_code()
            while issued.code_taken(program.id, code):  # about 1 in 10^17: try again
                code = new_code()
        valid_from, expires_at = reward.validity.window(now)
        draft = IssuedReward(
            id=0,
            program_id=program.id,
            reward_id=reward.id,
            member_id=cmd.member_id,
            code=code,
            kind=reward.kind,
            points=price,
            entry_id=spent.entry_id,
            issued_at=now,
            valid_from=valid_from,
            expires_at=expires_at,
            status=IssuedStatus.ISSUED,
            coupon=reward.coupon,
        )
        issued_id = issued.insert(draft)
        if pool_code is not None:
            repo.mark_pool_code(pool_code[0], issued_id)
        issued.add_event(issued_id, IssuedStatus.ISSUED, now, detail={"entry_id": spent.entry_id})
        stored = issued.get(program.id, issued_id)
        assert stored is not None
        balance: Balances = {
            "available": spent.available,
            "pending": spent.pending,
            "held": spent.held,
        }
        outbox.record(
            uow,
            program,
            cmd.member_id,
            "reward.issued",
            {
                "member_id": cmd.member_id,
                "issued_id": issued_id,
                "reward_id": reward.id,
                "reward_code": reward.code,
                "kind": str(reward.kind),
                "points": price,
                "entry_id": spent.entry_id,
                "valid_from": valid_from.isoformat(),
                "expires_at": None if expires_at is None else expires_at.isoformat(),
                "balance": balance,
            },
            now,
        )
        return {"issued": issued_view(stored, reward), "balance": balance}

    return ctx.idempotent(program.id, cmd.key, "reward.redeem", cmd.fingerprint(), effect)
