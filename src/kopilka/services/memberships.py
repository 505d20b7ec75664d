"""Paid membership: start, renew, cancel and refund a member's purchase of a paid plan
(the ``paid:`` plans of the rules document's ``tiers:`` section, ``domain/memberships.py``).

A start, a renewal and a refund are sales, each idempotent on its receipt id (the same
receipt id and body answer the same result; another body is a 409) and recorded with its
money in ``membership_sales``, never as points. While a membership's term runs, the
member's effective tier is at least its plan's tier: the floor is kept in the member's
tier standing (``member_tiers.paid_tier``, ``paid_until``) and applied by
``services/tiers.py`` like a manual floor; the stored tier's lapse (``members.tier_until``)
lets a purchase, the API and the tiers job see the term's end without anyone writing then.
Every change is a line of the tier history (reason ``paid``) and an audit entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TypedDict

from kopilka.domain.errors import ConflictError, NotFoundError, ValidationError
from kopilka.domain.memberships import (
    MembershipStatus,
    Plan,
    SaleKind,
    add_term,
    is_active,
    renewal_start,
)
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money, to_decimal
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.tiers import ProgramTiers, apply_paid, tiers_at
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.memberships import MembershipRepo, StoredMembership, StoredSale
from kopilka.store.repos.tiers import TierRepo
from kopilka.store.uow import UnitOfWork

# ---- commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartMembership:
    """Sell ``plan`` to the member under the sale's ``receipt_id``, for ``amount_minor``
    (None: the plan's price) in ``currency`` (None: the program's)."""

    member_id: int
    plan: str
    receipt_id: str
    amount_minor: int | None = None
    currency: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """What the idempotency store hashes: the whole request."""
        return {
            "member_id": self.member_id,
            "plan": self.plan,
            "receipt_id": self.receipt_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class RenewMembership:
    """Sell one more term of the membership's plan under ``receipt_id``: the term runs on
    from the current end (or from now when it has ended)."""

    member_id: int
    membership_id: int
    receipt_id: str
    amount_minor: int | None = None
    currency: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """What the idempotency store hashes: the whole request."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RefundMembership:
    """Refund the membership under ``receipt_id`` (the refund's receipt): it ends at once;
    ``amount_minor`` (None: all it took) goes back to the member, as money."""

    member_id: int
    membership_id: int
    receipt_id: str
    amount_minor: int | None = None
    currency: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """What the idempotency store hashes: the whole request."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CancelMembership:
    """Stop renewing: the membership runs to its term's end, then the member falls back."""

    member_id: int
    membership_id: int


# ---- results ---------------------------------------------------------------------------


class SaleView(TypedDict):
    receipt_id: str
    kind: str  # start | renew | refund
    amount: str  # decimal, in the currency's major units; a refund's negative
    currency: str
    at: str
    term_start: str | None
    term_end: str | None


class MembershipView(TypedDict):
    """A membership as the API, the console and the portal show it."""

    id: int
    member_id: int
    plan: str
    plan_name_ru: str
    plan_name_en: str
    tier_code: str
    status: str  # active | cancelled | refunded
    active: bool  # its term runs now (as of the answer)
    renews: bool
    started_at: str
    ends_at: str
    paid: str  # what it took, less refunds (decimal)
    currency: str
    sales: list[SaleView]


# ---- use cases ---------------------------------------------------------------------------


def start_membership(
    ctx: ServiceContext, program: Program, cmd: StartMembership, *, actor: str
) -> MembershipView:
    """Sell a plan: the membership starts now for one term, the member's effective tier is
    at least the plan's tier until its end. A member has one running membership at a time
    (another is a 409: renew it instead)."""

    def effect(uow: UnitOfWork) -> MembershipView:
        now = ctx.now()
        tiers, plan = _plan(uow, program, cmd.plan, now)
        amount = _amount(program, cmd.amount_minor, cmd.currency, plan.price_minor)
        _member(uow, program, cmd.member_id)
        repo = MembershipRepo(uow.conn)
        for held in repo.of_member(cmd.member_id, 5):
            if is_active(MembershipStatus(held.status), held.ends_at, now):
                raise ConflictError(
                    msg(
                        "member %(id)s already has a running membership %(membership)s; "
                        "renew it instead",
                        id=cmd.member_id,
                        membership=held.id,
                    )
                )
        _receipt_free(repo, program, cmd.receipt_id)
        ends = add_term(now, plan)
        membership_id = repo.add(program.id, cmd.member_id, plan.code, plan.tier, now, ends, now)
        repo.add_sale(
            program.id,
            cmd.member_id,
            membership_id,
            StoredSale(cmd.receipt_id, SaleKind.START, amount, program.currency, now, now, ends),
        )
        _set_floor(uow, program, tiers, cmd.member_id, plan.tier, ends, now, actor, "start", plan)
        _audit(uow, program, actor, "membership.start", cmd.member_id, None, membership_id, now)
        return _view(uow, program, tiers, repo.get(cmd.member_id, membership_id), now)

    key = f"membership:{cmd.receipt_id}"
    return ctx.idempotent(program.id, key, "membership.start", cmd.fingerprint(), effect)


def renew_membership(
    ctx: ServiceContext, program: Program, cmd: RenewMembership, *, actor: str
) -> MembershipView:
    """Sell one more term: the term runs on from its current end (from now when it has
    ended); a cancelled membership renews again. A refunded one cannot be renewed."""

    def effect(uow: UnitOfWork) -> MembershipView:
        now = ctx.now()
        _member(uow, program, cmd.member_id)
        repo = MembershipRepo(uow.conn)
        held = _membership(repo, cmd.member_id, cmd.membership_id)
        if held.status == MembershipStatus.REFUNDED:
            raise ConflictError(msg("membership %(id)s was refunded; start a new one", id=held.id))
        tiers, plan = _plan(uow, program, held.plan_code, now)
        amount = _amount(program, cmd.amount_minor, cmd.currency, plan.price_minor)
        _receipt_free(repo, program, cmd.receipt_id)
        begins = renewal_start(held.ends_at, now)
        ends = add_term(begins, plan)
        before = _state(held)
        repo.update(held.id, MembershipStatus.ACTIVE, ends, now)
        repo.add_sale(
            program.id,
            cmd.member_id,
            held.id,
            StoredSale(cmd.receipt_id, SaleKind.RENEW, amount, program.currency, now, begins, ends),
        )
        _set_floor(uow, program, tiers, cmd.member_id, plan.tier, ends, now, actor, "renew", plan)
        _audit(uow, program, actor, "membership.renew", cmd.member_id, before, held.id, now)
        return _view(uow, program, tiers, repo.get(cmd.member_id, held.id), now)

    key = f"membership:{cmd.receipt_id}"
    return ctx.idempotent(program.id, key, "membership.renew", cmd.fingerprint(), effect)


def refund_membership(
    ctx: ServiceContext, program: Program, cmd: RefundMembership, *, actor: str
) -> MembershipView:
    """Refund a membership: it ends at once (the member falls back to the tier they earned
    now), and the refund is a sale line of negative money, at most what it took."""

    def effect(uow: UnitOfWork) -> MembershipView:
        now = ctx.now()
        _member(uow, program, cmd.member_id)
        repo = MembershipRepo(uow.conn)
        held = _membership(repo, cmd.member_id, cmd.membership_id)
        if held.status == MembershipStatus.REFUNDED:
            raise ConflictError(msg("membership %(id)s was refunded already", id=held.id))
        taken = repo.paid_total(held.id)
        amount = _amount(program, cmd.amount_minor, cmd.currency, taken)
        if amount > taken:
            raise ValidationError(
                msg(
                    "a refund of at most %(most)s",
                    most=format_money(taken, program.currency),
                ),
                field="amount",
            )
        _receipt_free(repo, program, cmd.receipt_id)
        before = _state(held)
        ends = min(held.ends_at, now)
        repo.update(held.id, MembershipStatus.REFUNDED, ends, now)
        repo.add_sale(
            program.id,
            cmd.member_id,
            held.id,
            StoredSale(cmd.receipt_id, SaleKind.REFUND, -amount, program.currency, now, None, None),
        )
        tiers = tiers_at(uow, program, now)
        _clear_floor(uow, program, tiers, cmd.member_id, held, now, actor, "refund")
        _audit(uow, program, actor, "membership.refund", cmd.member_id, before, held.id, now)
        return _view(uow, program, tiers, repo.get(cmd.member_id, held.id), now)

    key = f"membership:{cmd.receipt_id}"
    return ctx.idempotent(program.id, key, "membership.refund", cmd.fingerprint(), effect)


def cancel_membership(
    ctx: ServiceContext, program: Program, cmd: CancelMembership, *, actor: str
) -> MembershipView:
    """Stop renewing: the membership keeps its tier to the end of the term already paid.
    Cancelling a cancelled membership answers it as it is (nothing written again)."""
    with ctx.uow() as uow:
        now = ctx.now()
        _member(uow, program, cmd.member_id)
        repo = MembershipRepo(uow.conn)
        held = _membership(repo, cmd.member_id, cmd.membership_id)
        tiers = tiers_at(uow, program, now)
        if held.status == MembershipStatus.REFUNDED:
            raise ConflictError(msg("membership %(id)s was refunded already", id=held.id))
        if held.status == MembershipStatus.ACTIVE:
            before = _state(held)
            repo.update(held.id, MembershipStatus.CANCELLED, held.ends_at, now)
            uow.ledger.lock_balances(program.id, [cmd.member_id])
            standing = TierRepo(uow.conn).standing(cmd.member_id)
            apply_paid(
                uow,
                program,
                tiers,
                standing,
                now,
                actor=actor,
                note=f"cancel {held.plan_code}: ends {held.ends_at.isoformat()}",
            )
            _audit(uow, program, actor, "membership.cancel", cmd.member_id, before, held.id, now)
        view = _view(uow, program, tiers, repo.get(cmd.member_id, held.id), now)
        uow.commit()
    return view


def memberships_of(ctx: ServiceContext, program: Program, member_id: int) -> list[MembershipView]:
    """The member's memberships, newest first, as of now."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        _member(uow, program, member_id)
        tiers = tiers_at(uow, program, now)
        repo = MembershipRepo(uow.conn)
        return [_view(uow, program, tiers, m, now) for m in repo.of_member(member_id)]


def plans_of(ctx: ServiceContext, program: Program) -> list[Plan]:
    """The plans the rules in force sell (none without a ``tiers:`` section)."""
    with ctx.uow(read_only=True) as uow:
        tiers = tiers_at(uow, program, ctx.now())
    return list(tiers.policy.plans) if tiers else []


# ---- helpers ------------------------------------------------------------------------------


def _member(uow: UnitOfWork, program: Program, member_id: int) -> None:
    uow.members.get(program.id, member_id, identifiers=False)  # not_found otherwise


def _plan(uow: UnitOfWork, program: Program, code: str, now: datetime) -> tuple[ProgramTiers, Plan]:
    tiers = tiers_at(uow, program, now)
    plan = tiers.policy.plan(code) if tiers else None
    if tiers is None or plan is None:
        codes = ", ".join(p.code for p in tiers.policy.plans) if tiers else ""
        raise ValidationError(
            msg("unknown plan %(plan)s; expected one of %(codes)s", plan=repr(code), codes=codes),
            field="plan",
        )
    return tiers, plan


def _amount(program: Program, amount: int | None, currency: str | None, default: int) -> int:
    if currency is not None and currency != program.currency:
        raise ValidationError(
            msg(
                "currency %(given)s; the program's is %(currency)s",
                given=currency,
                currency=program.currency,
            ),
            field="currency",
        )
    return default if amount is None else amount


def _receipt_free(repo: MembershipRepo, program: Program, receipt_id: str) -> None:
    # the idempotency key answers a retry; this catches a receipt id another kind of sale
    # used (a renewal under the start's receipt id, say)
    if repo.receipt_used(program.id, receipt_id):
        raise ConflictError(
            msg("receipt %(receipt)s was used by another sale", receipt=repr(receipt_id))
        )


def _membership(repo: MembershipRepo, member_id: int, membership_id: int) -> StoredMembership:
    held = repo.get(member_id, membership_id)
    if held is None:
        raise NotFoundError(msg("membership %(id)s not found", id=membership_id))
    return held


def _set_floor(
    uow: UnitOfWork,
    program: Program,
    tiers: ProgramTiers,
    member_id: int,
    tier: str,
    until: datetime,
    now: datetime,
    actor: str,
    what: str,
    plan: Plan,
) -> None:
    # the member's balance row locked as a purchase and a review lock it: one writer of
    # the member's standing at a time
    uow.ledger.lock_balances(program.id, [member_id])
    standing = TierRepo(uow.conn).standing(member_id)
    standing.paid_tier = tier
    standing.paid_until = until
    note = f"{what} {plan.code}: until {until.isoformat()}"
    apply_paid(uow, program, tiers, standing, now, actor=actor, note=note)


def _clear_floor(
    uow: UnitOfWork,
    program: Program,
    tiers: ProgramTiers | None,
    member_id: int,
    held: StoredMembership,
    now: datetime,
    actor: str,
    what: str,
) -> None:
    uow.ledger.lock_balances(program.id, [member_id])
    standing = TierRepo(uow.conn).standing(member_id)
    standing.paid_tier = None
    standing.paid_until = None
    apply_paid(uow, program, tiers, standing, now, actor=actor, note=f"{what} {held.plan_code}")


def _state(held: StoredMembership) -> dict[str, object]:
    return {"status": held.status, "ends_at": held.ends_at.isoformat()}


def _audit(
    uow: UnitOfWork,
    program: Program,
    actor: str,
    action: str,
    member_id: int,
    before: dict[str, object] | None,
    membership_id: int,
    now: datetime,
) -> None:
    held = MembershipRepo(uow.conn).get(member_id, membership_id)
    assert held is not None
    AuditLogRepo(uow.conn).add(
        program.id,
        actor,
        action,
        f"member:{member_id}",
        before,
        {"membership_id": membership_id, **_state(held)},
        now,
    )


def _view(
    uow: UnitOfWork,
    program: Program,
    tiers: ProgramTiers | None,
    held: StoredMembership | None,
    now: datetime,
) -> MembershipView:
    assert held is not None
    repo = MembershipRepo(uow.conn)
    plan = tiers.policy.plan(held.plan_code) if tiers else None
    status = MembershipStatus(held.status)
    sales = repo.sales(held.id)
    return {
        "id": held.id,
        "member_id": held.member_id,
        "plan": held.plan_code,
        "plan_name_ru": plan.name_ru if plan else held.plan_code,
        "plan_name_en": plan.name_en if plan else held.plan_code,
        "tier_code": held.tier_code,
        "status": str(status),
        "active": is_active(status, held.ends_at, now),
        "renews": status is MembershipStatus.ACTIVE and now < held.ends_at,
        "started_at": held.started_at.isoformat(),
        "ends_at": held.ends_at.isoformat(),
        "paid": str(to_decimal(sum(s.amount_minor for s in sales), program.currency)),
        "currency": program.currency,
        "sales": [
            {
                "receipt_id": s.receipt_id,
                "kind": s.kind,
                "amount": str(to_decimal(s.amount_minor, s.currency)),
                "currency": s.currency,
                "at": s.at.isoformat(),
                "term_start": s.term_start.isoformat() if s.term_start else None,
                "term_end": s.term_end.isoformat() if s.term_end else None,
            }
            for s in sales
        ],
    }
