"""Issued rewards after their redemption: cancelling, expiring (the worker's ``rewards``
job), the lists, and what the till needs to use a coupon (``coupon_for_use``,
``mark_used``, ``give_back_use``: they run inside the caller's unit of work).

An unused reward that is cancelled or expires gives its points back when the program's
settings say so (``reward_settings``): a ``reward_refund`` entry that references the
``reward`` entry that took them. A cancelled reward's unit of stock returns to the catalog;
a partner's code does not return to its pool (the member may have seen it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime

from kopilka.domain.errors import (
    IssuedRewardNotActive,
    NotFoundError,
    RewardCodeInvalid,
)
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rewards import (
    IssuedReward,
    IssuedStatus,
    RewardKind,
    check_code,
    check_partner_code,
    normalize_code,
)
from kopilka.ledger.ledger import Ledger
from kopilka.services import outbox
from kopilka.services.context import ServiceContext
from kopilka.services.rewards.views import (
    HistoryLine,
    IssuedDetail,
    IssuedEnded,
    IssuedView,
    issued_view,
)
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.rewards import IssuedRewardRepo, RewardRepo
from kopilka.store.uow import UnitOfWork

EXPIRY_BATCH = 200
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class CancelIssued:
    """Cancel an unused issued reward, saying who and why (``key``: idempotency)."""

    issued_id: int
    _: KW_ONLY
    key: str
    actor: str
    reason: str

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {"issued_id": self.issued_id, "actor": self.actor, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class IssuedQuery:
    """A page of issued rewards, newest first (``code``: a prefix of the code)."""

    member_id: int | None = None
    reward_id: int | None = None
    status: IssuedStatus | None = None
    code: str | None = None
    before_id: int | None = None
    limit: int = 50


def _end(
    uow: UnitOfWork,
    ledger: Ledger,
    issued: IssuedReward,
    status: IssuedStatus,
    now: datetime,
    *,
    refund: bool,
    actor: str | None,
    reason: str,
) -> int | None:
    """End an issued reward (cancelled or expired), refunding its points if asked, and
    write its ``reward.cancelled`` or ``reward.expired`` event; the refund entry's id or
    None."""
    refund_id = None
    if refund:
        result = ledger.refund_reward(
            issued.entry_id,
            now,
            reason=reason,
            actor=actor,
            meta={"issued_reward_id": issued.id, "status": str(status)},
        )
        refund_id = result.entry_id
    repo = IssuedRewardRepo(uow.conn)
    if not repo.set_status(issued.id, status, now, refund_entry_id=refund_id):
        raise IssuedRewardNotActive(  # the row is locked: only a bug gets here
            msg("the issued reward is %(status)s", status=issued.status),
            status=str(issued.status),
        )
    repo.add_event(
        issued.id,
        status,
        now,
        actor=actor,
        reason=reason,
        detail={"refund_entry_id": refund_id, "points": issued.points if refund_id else 0},
    )
    bal = ledger.balance(issued.member_id)
    outbox.record(
        uow,
        ledger.program,
        issued.member_id,
        "reward.cancelled" if status == IssuedStatus.CANCELLED else "reward.expired",
        {
            "member_id": issued.member_id,
            "issued_id": issued.id,
            "reward_id": issued.reward_id,
            "points_refunded": issued.points if refund_id else 0,
            "refund_entry_id": refund_id,
            "reason": reason,
            "balance": {"available": bal.available, "pending": bal.pending, "held": bal.held},
        },
        now,
    )
    return refund_id


def _require(
    repo: IssuedRewardRepo, program: Program, issued_id: int, *, lock: bool = False
) -> IssuedReward:
    found = repo.get(program.id, issued_id, lock=lock)
    if found is None:
        raise NotFoundError(
            msg("issued reward %(id)s not found", id=issued_id), issued_id=issued_id
        )
    return found


def _not_active(issued: IssuedReward) -> IssuedRewardNotActive:
    return IssuedRewardNotActive(
        msg("the issued reward is %(status)s", status=str(issued.status)),
        status=str(issued.status),
        reason=str(issued.status),
    )


def cancel_issued(ctx: ServiceContext, program: Program, cmd: CancelIssued) -> IssuedEnded:
    """Cancel an unused reward: its points back if the program's settings say so, its
    unit back to the stock; audited."""

    def effect(uow: UnitOfWork) -> IssuedEnded:
        now = ctx.now()
        repo = IssuedRewardRepo(uow.conn)
        probe = _require(repo, program, cmd.issued_id)
        ledger = Ledger(uow.ledger, program)
        ledger.lock(probe.member_id)  # the member first, as a redemption locks
        issued = _require(repo, program, cmd.issued_id, lock=True)
        if issued.status != IssuedStatus.ISSUED:
            raise _not_active(issued)
        rewards = RewardRepo(uow.conn)
        settings = rewards.settings(program.id)
        refund_id = _end(
            uow,
            ledger,
            issued,
            IssuedStatus.CANCELLED,
            now,
            refund=settings.on_cancel,
            actor=cmd.actor,
            reason=cmd.reason,
        )
        rewards.put_back_one(issued.reward_id)
        after = _require(repo, program, issued.id)
        view = issued_view(after, rewards.get(program.id, issued.reward_id))
        AuditLogRepo(uow.conn).add(
            program.id,
            cmd.actor,
            "reward.cancel",
            f"issued_reward:{issued.id}",
            {"status": str(issued.status)},
            {"status": "cancelled", "refund_entry_id": refund_id, "reason": cmd.reason},
            now,
        )
        bal = ledger.balance(issued.member_id)
        return {
            "issued": view,
            "refunded": issued.points if refund_id else 0,
            "refund_entry_id": refund_id,
            "balance": {"available": bal.available, "pending": bal.pending, "held": bal.held},
        }

    return ctx.idempotent(program.id, cmd.key, "reward.cancel", cmd.fingerprint(), effect)


def expire_due(
    ctx: ServiceContext,
    program: Program,
    at: datetime | None = None,
    *,
    batch: int = EXPIRY_BATCH,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """End every issued reward whose expiry has passed as of ``at`` (default now), batch by
    batch, each batch its own transaction; refunded by the program's setting. Answers
    (expired, refunded points)."""
    now = at or ctx.now()
    expired = refunded = 0
    while True:
        with ctx.uow() as uow:
            repo = IssuedRewardRepo(uow.conn)
            ids = repo.due_to_expire(program.id, now, batch)
            if not ids:
                break
            settings = RewardRepo(uow.conn).settings(program.id)
            done = 0
            for issued_id in ids:
                probe = _require(repo, program, issued_id)
                ledger = Ledger(uow.ledger, program)
                ledger.lock(probe.member_id)
                issued = _require(repo, program, issued_id, lock=True)
                if not issued.due_to_expire(now):
                    continue  # used or cancelled meanwhile
                refund_id = _end(
                    uow,
                    ledger,
                    issued,
                    IssuedStatus.EXPIRED,
                    now,
                    refund=settings.on_expiry,
                    actor="system",
                    reason="expired",
                )
                done += 1
                refunded += issued.points if refund_id else 0
            uow.commit()
        expired += done
        if progress is not None:
            progress(done)
        if len(ids) < batch:
            break
    return expired, refunded


def member_rewards(ctx: ServiceContext, program: Program, member_id: int) -> list[IssuedView]:
    """A member's issued rewards, newest first (at most 200)."""
    return issued_page(ctx, program, IssuedQuery(member_id=member_id, limit=MAX_PAGE))


def _prefixes(text: str | None) -> tuple[str, ...]:
    """What a code search matches: the text as typed (a partner's code keeps its case) and
    as a Kopilka code is stored (upper case, without the groups' dashes)."""
    if not text or not text.strip():
        return ()
    typed = text.strip()
    return tuple(dict.fromkeys((typed, normalize_code(typed))))


def issued_page(ctx: ServiceContext, program: Program, query: IssuedQuery) -> list[IssuedView]:
    """A page of the program's issued rewards (the console's and the CLI's list)."""
    limit = max(1, min(query.limit, MAX_PAGE))
    with ctx.uow(read_only=True) as uow:
        rewards = RewardRepo(uow.conn)
        catalog = {r.id: r for r in rewards.all(program.id)}
        found = IssuedRewardRepo(uow.conn).search(
            program.id,
            member_id=query.member_id,
            reward_id=query.reward_id,
            status=query.status,
            code=_prefixes(query.code),
            before_id=query.before_id,
            limit=limit,
        )
        return [issued_view(i, catalog.get(i.reward_id)) for i in found]


def issued_detail(ctx: ServiceContext, program: Program, issued_id: int) -> IssuedDetail:
    """An issued reward and its history."""
    with ctx.uow(read_only=True) as uow:
        repo = IssuedRewardRepo(uow.conn)
        issued = _require(repo, program, issued_id)
        reward = RewardRepo(uow.conn).get(program.id, issued.reward_id)
        history: list[HistoryLine] = [
            {
                "at": h.at.isoformat(),
                "status": str(h.status),
                "actor": h.actor,
                "reason": h.reason,
                "detail": h.detail,
            }
            for h in repo.history(issued.id)
        ]
        return {"issued": issued_view(issued, reward), "history": history}


# -- at the till (inside the purchase's unit of work) ----------------------------------------
def coupon_for_use(
    uow: UnitOfWork, program: Program, code: str, member_id: int, now: datetime
) -> IssuedReward:
    """The issued coupon or voucher ``code`` (as typed) that ``member_id`` may use now,
    locked for the caller's transaction; else ``RewardCodeInvalid``, ``NotFoundError`` or
    ``IssuedRewardNotActive`` (``details.reason``: ``used``, ``expired``, ``cancelled``,
    ``not_yet_valid``, ``other_member``, ``not_a_coupon``)."""
    repo = IssuedRewardRepo(uow.conn)
    try:
        normalized = check_code(code)
    except RewardCodeInvalid as err:
        if err.details.get("reason") != "format":
            raise
        normalized = check_partner_code(code)  # a partner's code has no check character
    issued = repo.by_code(program.id, normalized, lock=True)
    if issued is None:
        raise NotFoundError(msg("no reward has this code"), field="code")
    if issued.member_id != member_id:
        raise IssuedRewardNotActive(
            msg("the coupon belongs to another member"),
            status=str(issued.status),
            reason="other_member",
        )
    if issued.kind not in (RewardKind.COUPON, RewardKind.VOUCHER) or issued.coupon is None:
        raise IssuedRewardNotActive(
            msg("this reward is not a coupon"), status=str(issued.status), reason="not_a_coupon"
        )
    if issued.status != IssuedStatus.ISSUED:
        raise _not_active(issued)
    if issued.due_to_expire(now):
        raise IssuedRewardNotActive(
            msg("the coupon has expired"), status="expired", reason="expired"
        )
    if now < issued.valid_from:
        raise IssuedRewardNotActive(
            msg("the coupon is not valid yet"), status=str(issued.status), reason="not_yet_valid"
        )
    return issued


def mark_used(uow: UnitOfWork, issued: IssuedReward, now: datetime, *, reference: str) -> None:
    """A coupon used by a purchase (``reference``: the purchase)."""
    repo = IssuedRewardRepo(uow.conn)
    if not repo.set_status(issued.id, IssuedStatus.USED, now):
        raise _not_active(issued)
    repo.add_event(issued.id, IssuedStatus.USED, now, detail={"reference": reference})


def give_back_use(uow: UnitOfWork, issued: IssuedReward, now: datetime, *, reference: str) -> None:
    """A return gives a used coupon back (when the program says so): issued again."""
    repo = IssuedRewardRepo(uow.conn)
    if repo.reopen(issued.id):
        repo.add_event(
            issued.id, IssuedStatus.ISSUED, now, reason="return", detail={"reference": reference}
        )
