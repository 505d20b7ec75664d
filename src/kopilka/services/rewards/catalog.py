"""The back office's catalog: rewards, their stock, partner code pools, images, and the
program's refund settings. Every change is audited in its own transaction."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from kopilka.domain.errors import ConflictError, NotFoundError, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rewards import (
    CouponKind,
    Reward,
    RewardKind,
    check_partner_code,
    image_type,
)
from kopilka.services.context import ServiceContext
from kopilka.services.rewards.views import PoolLoaded, RewardView, reward_view
from kopilka.services.tiers import tiers_at
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.rewards import RefundSettings, RewardRepo
from kopilka.store.uow import UnitOfWork

MAX_POOL_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class SaveReward:
    """Add a reward to the catalog (``reward.id == 0``; ``reward.stock`` is the stock it
    starts with) or change one (its stock is then left as it is: see :class:`SetStock`)."""

    reward: Reward
    actor: str


@dataclass(frozen=True, slots=True)
class SetStock:
    """Set what is left to issue (``stock``; None: unlimited), or add ``add`` units
    (negative: remove) to a limited stock in one statement."""

    reward_id: int
    actor: str
    stock: int | None = None
    add: int | None = None


@dataclass(frozen=True, slots=True)
class LoadPool:
    """Add a partner's codes to a partner reward's pool (codes it has are skipped)."""

    reward_id: int
    codes: Sequence[str]
    actor: str


@dataclass(frozen=True, slots=True)
class SetImage:
    """Store a reward's image (checked: PNG, JPEG or WebP, at most 512 KB)."""

    reward_id: int
    data: bytes
    actor: str


@dataclass(frozen=True, slots=True)
class SetRefundSettings:
    """Whether an unused reward's points come back when cancelled, when expired."""

    on_cancel: bool
    on_expiry: bool
    actor: str


def _require(repo: RewardRepo, program: Program, reward_id: int) -> Reward:
    reward = repo.get(program.id, reward_id)
    if reward is None:
        raise NotFoundError(msg("reward %(id)s not found", id=reward_id), reward_id=reward_id)
    return reward


def _audit(
    uow: UnitOfWork,
    ctx: ServiceContext,
    program: Program,
    actor: str,
    action: str,
    target: str,
    after: dict[str, object],
) -> None:
    AuditLogRepo(uow.conn).add(program.id, actor, action, target, None, after, ctx.now())


def _check_business(uow: UnitOfWork, ctx: ServiceContext, program: Program, r: Reward) -> None:
    """What only the program can tell: the tiers named exist, the kind has what it needs."""
    if r.kind in (RewardKind.COUPON, RewardKind.VOUCHER) and r.coupon is None:
        raise ValidationError(msg("a coupon or voucher needs its discount terms"), field="coupon")
    if r.kind == RewardKind.VOUCHER and r.coupon and r.coupon.kind != CouponKind.FIXED:
        raise ValidationError(msg("a money voucher is a fixed amount"), field="coupon.kind")
    if r.kind not in (RewardKind.COUPON, RewardKind.VOUCHER) and r.coupon is not None:
        raise ValidationError(msg("only coupons and vouchers have discount terms"), field="coupon")
    if r.kind != RewardKind.GIFT and r.fulfilment is not None:
        raise ValidationError(msg("only a gift is picked up or delivered"), field="fulfilment")
    named = set(r.tier_points) | set(r.audience.tiers) | ({r.early.tier} if r.early else set())
    if named:
        found = tiers_at(uow, program, ctx.now())
        known = {t.code for t in found.policy.tiers} if found else set()
        unknown = sorted(named - known)
        if unknown:
            raise ValidationError(
                msg("the program has no tier %(tier)s", tier=unknown[0]), field="tier"
            )


def save_reward(ctx: ServiceContext, program: Program, cmd: SaveReward) -> RewardView:
    """Add or change a catalog row; its code is unique in the program."""
    with ctx.uow() as uow:
        repo = RewardRepo(uow.conn)
        reward = dataclasses.replace(cmd.reward, program_id=program.id)
        _check_business(uow, ctx, program, reward)
        same_code = repo.by_code(program.id, reward.code)
        if same_code is not None and same_code.id != reward.id:
            raise ConflictError(
                msg("a reward with code %(code)s exists already", code=reward.code),
                field="code",
            )
        if reward.id == 0:
            reward_id = repo.insert(reward, ctx.now())
            action = "reward.create"
        else:
            old = _require(repo, program, reward.id)
            repo.update(dataclasses.replace(reward, image=old.image), ctx.now())
            reward_id, action = reward.id, "reward.update"
        stored = _require(repo, program, reward_id)
        view = reward_view(stored, None, repo.image(reward_id) is not None)
        _audit(uow, ctx, program, cmd.actor, action, f"reward:{stored.code}", dict(view))
        uow.commit()
    return view


def set_stock(ctx: ServiceContext, program: Program, cmd: SetStock) -> RewardView:
    """Set or add to a reward's stock."""
    if cmd.stock is not None and cmd.stock < 0:
        raise ValidationError(msg("stock cannot be negative"), field="stock")
    with ctx.uow() as uow:
        repo = RewardRepo(uow.conn)
        reward = _require(repo, program, cmd.reward_id)
        if cmd.add is not None:
            if not repo.add_stock(reward.id, cmd.add, ctx.now()):
                raise ConflictError(
                    msg(
                        "the stock of reward %(code)s cannot change by %(n)s",
                        code=reward.code,
                        n=cmd.add,
                    ),
                    field="add",
                )
        else:
            repo.set_stock(reward.id, cmd.stock, ctx.now())
        stored = _require(repo, program, reward.id)
        view = reward_view(
            stored, repo.figures(program.id).get(reward.id), repo.image(reward.id) is not None
        )
        _audit(
            uow,
            ctx,
            program,
            cmd.actor,
            "reward.stock",
            f"reward:{reward.code}",
            {"stock": stored.stock, "was": reward.stock},
        )
        uow.commit()
    return view


def load_pool(ctx: ServiceContext, program: Program, cmd: LoadPool) -> PoolLoaded:
    """Add a batch of partner codes (at most 10,000; the CLI sends a big file in batches,
    showing progress between them). A code in the pool already, or twice in the batch, is
    counted as a duplicate, not an error; a malformed code refuses the batch."""
    if len(cmd.codes) > MAX_POOL_BATCH:
        raise ValidationError(msg("at most %(n)s codes per batch", n=MAX_POOL_BATCH), field="codes")
    codes = [check_partner_code(c) for c in cmd.codes]
    with ctx.uow() as uow:
        repo = RewardRepo(uow.conn)
        reward = _require(repo, program, cmd.reward_id)
        if reward.kind != RewardKind.PARTNER:
            raise ValidationError(msg("only a partner reward has a pool of codes"), field="reward")
        present = repo.pool_codes_present(reward.id, codes)
        fresh = list(dict.fromkeys(c for c in codes if c not in present))
        added = repo.add_pool_codes(reward.id, fresh, ctx.now())
        result: PoolLoaded = {
            "added": added,
            "duplicates": len(codes) - added,
            "free": repo.pool_free(reward.id),
        }
        _audit(
            uow,
            ctx,
            program,
            cmd.actor,
            "reward.pool_load",
            f"reward:{reward.code}",
            dict(result),
        )
        uow.commit()
    return result


def set_image(ctx: ServiceContext, program: Program, cmd: SetImage) -> RewardView:
    """Store a reward's image (its type told by its bytes)."""
    content_type = image_type(cmd.data)
    digest = hashlib.sha256(cmd.data).hexdigest()
    with ctx.uow() as uow:
        repo = RewardRepo(uow.conn)
        reward = _require(repo, program, cmd.reward_id)
        repo.save_image(reward.id, content_type, cmd.data, digest, ctx.now())
        repo.update(dataclasses.replace(reward, image=digest[:16]), ctx.now())
        view = reward_view(_require(repo, program, reward.id), None, True)
        _audit(
            uow,
            ctx,
            program,
            cmd.actor,
            "reward.image",
            f"reward:{reward.code}",
            {"content_type": content_type, "bytes": len(cmd.data), "sha256": digest},
        )
        uow.commit()
    return view


def image(ctx: ServiceContext, program: Program, reward_id: int) -> tuple[str, bytes, str]:
    """A reward's image: content type, bytes and its SHA-256 (an ETag)."""
    with ctx.uow(read_only=True) as uow:
        repo = RewardRepo(uow.conn)
        _require(repo, program, reward_id)
        found = repo.image(reward_id)
    if found is None:
        raise NotFoundError(msg("reward %(id)s has no image", id=reward_id), reward_id=reward_id)
    return found


def set_refund_settings(
    ctx: ServiceContext, program: Program, cmd: SetRefundSettings
) -> RefundSettings:
    """Store whether cancelled and expired rewards give their points back."""
    settings = RefundSettings(cmd.on_cancel, cmd.on_expiry)
    with ctx.uow() as uow:
        RewardRepo(uow.conn).save_settings(program.id, settings, ctx.now())
        _audit(
            uow,
            ctx,
            program,
            cmd.actor,
            "reward.settings",
            f"program:{program.code}",
            {"refund_on_cancel": cmd.on_cancel, "refund_on_expiry": cmd.on_expiry},
        )
        uow.commit()
    return settings


def refund_settings(ctx: ServiceContext, program: Program) -> RefundSettings:
    """The program's refund settings."""
    with ctx.uow(read_only=True) as uow:
        return RewardRepo(uow.conn).settings(program.id)


def catalog(ctx: ServiceContext, program: Program) -> list[RewardView]:
    """The whole catalog with its figures, by code."""
    with ctx.uow(read_only=True) as uow:
        repo = RewardRepo(uow.conn)
        figures = repo.figures(program.id)
        return [
            reward_view(r, figures.get(r.id), r.image is not None) for r in repo.all(program.id)
        ]


def reward(ctx: ServiceContext, program: Program, reward_id: int) -> RewardView:
    """One catalog row with its figures."""
    with ctx.uow(read_only=True) as uow:
        repo = RewardRepo(uow.conn)
        found = _require(repo, program, reward_id)
        return reward_view(found, repo.figures(program.id).get(found.id), found.image is not None)


def reward_by_code(ctx: ServiceContext, program: Program, code: str) -> Reward:
    """The catalog row with the back office's ``code`` (the CLI names rewards by it)."""
    with ctx.uow(read_only=True) as uow:
        found = RewardRepo(uow.conn).by_code(program.id, code)
    if found is None:
        raise NotFoundError(msg("reward %(code)s not found", code=code), reward=code)
    return found
