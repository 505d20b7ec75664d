"""Purchases: quote (writes nothing), commit (earn and redeem in one transaction,
idempotent on the receipt id), return (full or by line), and the stored breakdown.

A return claws back exactly the points stored as awarded to the returned lines and
restores the points spent on them (docs/architecture.md, invariant 9): never a recomputation
under today's rules. Partial quantities are handled cumulatively, so several partial
returns of a line add up exactly to its full return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from functools import partial
from typing import NotRequired, TypedDict, cast
from zoneinfo import ZoneInfo

from kopilka.domain.basket import Basket
from kopilka.domain.coupons import CouponUse, apply_coupons
from kopilka.domain.errors import (
    CouponInvalid,
    InsufficientPoints,
    IssuedRewardNotActive,
    NotFoundError,
    RedemptionNotAllowed,
    ReversalExceeded,
    RewardCodeInvalid,
)
from kopilka.domain.member import Member
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money
from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason
from kopilka.domain.rewards import IssuedReward
from kopilka.domain.rules import (
    EarnResult,
    RuleSet,
    allocate,
    check_balance,
    evaluate_purchase,
    max_redeemable,
    points_for_amount,
    spread_discount,
)
from kopilka.domain.rules.earning import content_key
from kopilka.domain.rules.lot_expiry import split_by_expiry
from kopilka.domain.rules.model import PromoCodeSpec
from kopilka.domain.rules.payments import (
    check_payments,
    check_promo_codes,
    effective_basket,
    order_discount_by_line,
)
from kopilka.ledger.idempotency import request_hash
from kopilka.ledger.ledger import Ledger
from kopilka.services import outbox, promo_codes, tiers, usage
from kopilka.services.balance_view import settled_balance
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef, lock_member, member_context, resolve_member
from kopilka.services.offer_facts import with_offers
from kopilka.services.rewards.issued import coupon_for_use, give_back_use, mark_used
from kopilka.services.rules import ruleset_by_id
from kopilka.services.scope import StoreScope
from kopilka.store.repos.coupon_policy import CouponPolicyRepo
from kopilka.store.repos.purchases import (
    PurchaseRepo,
    StoredAward,
    StoredLine,
    StoredPurchase,
    StoredReturn,
)
from kopilka.store.repos.rewards import IssuedRewardRepo
from kopilka.store.repos.rules import UsageRepo
from kopilka.store.uow import UnitOfWork

# ---- commands ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsWritten:
    """What a purchase body said where :class:`Basket` keeps a canonical form: each line's
    amount as the decimal the caller wrote (``12.5``, not 1250 minor units), each line's
    tags in the caller's order, and whether the body stamped ``occurred_at``. The
    purchase's fingerprint hashes these, so a retry of a request booked before commands
    existed still replays instead of conflicting (docs: idempotency)."""

    amounts: tuple[Decimal, ...]
    tags: tuple[tuple[str, ...], ...]
    stamped: bool


@dataclass(frozen=True, slots=True)
class QuotePurchase:
    """Quote ``basket`` for ``member``, paying ``redeem_points`` (0: none) with points, or
    the points that pay ``redeem_amount_minor`` of money (:func:`points_for_amount`)."""

    member: MemberRef
    basket: Basket
    redeem_points: int = 0
    redeem_amount_minor: int | None = None


@dataclass(frozen=True, slots=True)
class BookPurchase:
    """Book ``basket`` as receipt ``receipt_id`` for ``member``: pay ``redeem_points``
    (or, with ``hold_id``, capture that hold: all of it unless ``redeem_points`` is
    given) and earn by the rules in force. ``written``: what the body said, for the
    fingerprint (:class:`AsWritten`); None for a purchase that never was a body.
    ``redeem_amount_minor``: pay this much money with points instead of ``redeem_points``
    (the server works the points out)."""

    receipt_id: str
    member: MemberRef
    basket: Basket
    redeem_points: int = 0
    hold_id: int | None = None
    written: AsWritten | None = None
    redeem_amount_minor: int | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request as the idempotency store hashes it: the body as the API's schema
        dumped it before commands existed (JSON values, absent fields left out), so the
        hash of a canonical request is the same as before (the golden test
        ``tests/unit/test_purchase_fingerprint.py``). Without ``written``, amounts are
        given in minor units and tags sorted."""
        b = self.basket
        w = self.written
        out = self.member.fingerprint()
        if w is None or w.stamped:
            out["occurred_at"] = b.occurred_at.isoformat().replace("+00:00", "Z")
        if b.store is not None:
            out["store"] = b.store
        out["channel"] = b.channel.value
        if b.partner is not None:
            out["partner"] = b.partner
        if b.payment_method is not None:
            out["payment_method"] = b.payment_method
        # the fields that came later, only when given: older requests hash as before
        if b.payments:
            out["payments"] = [[tender, amount] for tender, amount in b.payments]
        if b.promo_codes:
            out["promo_codes"] = sorted(b.promo_codes)
        if b.order_discount_minor:
            out["order_discount_minor"] = b.order_discount_minor
        if b.coupons:
            out["coupons"] = list(b.coupons)
        lines: list[dict[str, object]] = []
        for i, ln in enumerate(b.lines):
            line: dict[str, object] = {
                "line_id": ln.line_id,
                "sku": ln.sku,
                "quantity": format(ln.quantity, "f"),
            }
            if w is None:
                line["amount_minor"] = ln.amount_minor
            else:
                line["amount"] = format(w.amounts[i], "f")
            if ln.category:
                line["category"] = ln.category
            if ln.brand:
                line["brand"] = ln.brand
            line["discounted"] = ln.discounted
            line["tags"] = list(w.tags[i]) if w is not None else sorted(ln.tags)
            lines.append(line)
        out["lines"] = lines
        out["redeem_points"] = self.redeem_points
        if self.redeem_amount_minor is not None:  # absent before it existed: same hashes
            out["redeem_amount_minor"] = self.redeem_amount_minor
        out["receipt_id"] = self.receipt_id
        if self.hold_id is not None:
            out["hold_id"] = self.hold_id
        return out


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """Return ``quantity`` of line ``line_id`` (None: what is left of it)."""

    line_id: str
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ProcessReturn:
    """Return ``lines`` of receipt ``receipt_id`` (None: all of it) as return ``return_id``.

    ``reason`` (a support agent's return from the console): kept with the return's
    ledger entries, its internal line as their reason and its code and member text in
    their meta; without one the entries' reason is ``return``. ``actor``: who returned it,
    kept with the entries too."""

    receipt_id: str
    return_id: str
    lines: tuple[ReturnLine, ...] | None = None
    reason: Reason | None = None
    actor: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request as the idempotency store hashes it (as the body was hashed before;
        a reason, which a body never had, only when given)."""
        out: dict[str, object] = {"receipt_id": self.receipt_id, "return_id": self.return_id}
        if self.lines is not None:
            out["lines"] = [
                {"line_id": x.line_id}
                if x.quantity is None
                else {"line_id": x.line_id, "quantity": str(x.quantity)}
                for x in self.lines
            ]
        if self.reason is not None:
            out["reason"] = {
                "internal": self.reason.internal(),
                **self.reason.meta(),
            }
        return out


# ---- results (the stored idempotency outcomes: keys and JSON shapes are frozen) --------


class LineAward(TypedDict):
    rule_id: str
    points: int
    description: str


class QuotedLine(TypedDict):
    line_id: str
    sku: str
    amount: str
    discount: str
    points_redeemed: int
    points_earned: int
    awards: list[LineAward]


class BalanceNow(TypedDict):
    available: int
    pending: int
    held: int


class CouponApplied(TypedDict):
    """A coupon used on the purchase: its code, its discount, and the discount's parts by
    line (they add up to it exactly)."""

    code: str
    discount: str
    lines: dict[str, str]


class Quote(TypedDict):
    member_id: int
    available: int
    max_redeemable: int
    redeem_points: int
    discount: str
    points_earned: int
    rule_version: int | None
    lines: list[QuotedLine]
    control_group: list[str]
    coupons: list[CouponApplied]


class PurchaseBooked(TypedDict):
    receipt_id: str
    member_id: int
    total: str
    discount: str
    to_pay: str
    points_redeemed: int
    points_earned: int
    rule_version: int | None
    earn_entry_id: int | None
    redeem_entry_id: int | None
    lines: list[QuotedLine]
    balance: BalanceNow
    coupons: NotRequired[list[CouponApplied]]


class _ReturnedLine(TypedDict):
    line_id: str
    quantity: str
    points_clawed_back: int
    points_restored: int


class StoredReturnLine(_ReturnedLine, total=False):
    """A returned line as stored with its return (``refund_minor``; ``forgiven`` and
    ``expired_at_once`` on returns recorded since they exist)."""

    refund_minor: int
    forgiven: int
    expired_at_once: int


class ReturnedLine(_ReturnedLine):
    forgiven: int
    expired_at_once: int
    refund: str


class ReturnBooked(TypedDict):
    receipt_id: str
    return_id: str
    member_id: int
    points_clawed_back: int
    points_restored: int
    expired_at_once: int
    refund: str
    forgiven: int
    debt: int
    lines: list[ReturnedLine]
    balance: BalanceNow
    # the codes of the coupons this return gave back (the program's setting; all of a
    # coupon's lines returned in full)
    coupons_given_back: NotRequired[list[str]]


class RuleAward(TypedDict):
    rule_id: str
    rule_version: int
    points: int


class PurchaseLineView(TypedDict):
    line_id: str
    sku: str
    category: str | None
    brand: str | None
    quantity: str
    amount: str
    discount: str
    points_redeemed: int
    points_earned: int
    awards: list[RuleAward]


class ReturnView(TypedDict):
    return_id: str
    occurred_at: str
    points_clawed_back: int
    points_restored: int
    forgiven: int
    expired_at_once: int
    refund: str
    lines: list[StoredReturnLine]


class PaymentView(TypedDict):
    tender: str
    amount: str


class PurchaseView(TypedDict):
    receipt_id: str
    member_id: int
    occurred_at: str
    store: str | None
    channel: str | None
    partner: str | None
    payment_method: str | None
    payments: list[PaymentView]
    promo_codes: list[str]
    order_discount: str
    total: str
    discount: str
    points_earned: int
    points_redeemed: int
    rule_version: int | None
    earn_entry_id: int | None
    redeem_entry_id: int | None
    lines: list[PurchaseLineView]
    returns: list[ReturnView]


def _earn_and_limits(
    uow: UnitOfWork,
    program: Program,
    ruleset: RuleSet | None,
    basket: Basket,
    member: Member,
    discounts: dict[str, int],
) -> EarnResult | None:
    """Evaluate the basket; counters (and the campaign-budget row locks) are read only for
    the capped rules that actually award something.

    With no usage counted a capped rule has its largest capacity, so a rule that awards
    nothing then awards nothing with real counters either; only when a capped rule did
    award is the basket evaluated again with its real counters. Most purchases thus never
    touch the shared budget rows, which would otherwise serialize every purchase.
    """
    if ruleset is None:
        return None
    paid = sum(ln.amount_minor for ln in basket.lines) - sum(discounts.values())
    member = tiers.member_for_earning(
        uow, program, ruleset.version, member, basket.occurred_at, paid
    )
    who = with_offers(uow, program, ruleset, member_context(member), basket.occurred_at)
    result = evaluate_purchase(
        ruleset, program, basket, who, points_redeemed_discount_by_line=discounts
    )
    awarded = result.usage.points_by_rule
    capped = [r for r in usage.capped_rules(ruleset) if r.id in awarded]
    if not capped:
        return result
    counters = usage.load(
        UsageRepo(uow.conn), program.id, capped, member.id, basket.occurred_at, program.timezone
    )
    return evaluate_purchase(
        ruleset, program, basket, who, usage=counters, points_redeemed_discount_by_line=discounts
    )


def _check_redemption(
    ruleset: RuleSet | None,
    program: Program,
    basket: Basket,
    points: int,
    spendable: int,
    tier: str | None,
) -> dict[str, int]:
    if points == 0:
        return {}
    if points > spendable:
        # the same refusal (409) as every other way of spending more than the member has
        raise InsufficientPoints(
            msg(
                "member has %(available)s points available, %(requested)s requested",
                available=spendable,
                requested=points,
            ),
            available=spendable,
            requested=points,
        )
    if ruleset is None:
        raise RedemptionNotAllowed(msg("the program has no published rules for paying with points"))
    check_balance(ruleset, spendable, tier)
    ceiling = max_redeemable(basket, ruleset, program, spendable, tier)
    if points > ceiling:
        raise RedemptionNotAllowed(
            msg("at most %(points)s points can pay for this purchase", points=ceiling),
            max_redeemable=ceiling,
            requested=points,
        )
    return spread_discount(points, basket, ruleset, program, tier)


def _payment(
    ruleset: RuleSet | None,
    program: Program,
    basket: Basket,
    points: int,
    amount_minor: int | None,
    spendable: int,
    tier: str | None,
) -> tuple[int, dict[str, int]]:
    """The points to pay (``points``, or those that pay ``amount_minor`` of money, worked
    out here whatever the till computed) and their discount per line, under the limits of
    the member's ``tier`` (``redemption.by_tier``)."""
    if amount_minor is not None:
        if ruleset is None:
            raise RedemptionNotAllowed(
                msg("the program has no published rules for paying with points")
            )
        points = points_for_amount(amount_minor, basket, ruleset, program, max(spendable, 0), tier)
    return points, _check_redemption(ruleset, program, basket, points, spendable, tier)


def _lines_out(
    program: Program,
    basket: Basket,
    discounts: dict[str, int],
    redeemed_by_line: dict[str, int],
    result: EarnResult | None,
) -> list[QuotedLine]:
    by_line: dict[str, list[LineAward]] = {}
    for a in result.awards if result else ():
        if a.line_id is not None:
            by_line.setdefault(a.line_id, []).append(
                {"rule_id": a.rule_id, "points": a.points, "description": a.description}
            )
    return [
        {
            "line_id": ln.line_id,
            "sku": ln.sku,
            "amount": format_money(ln.amount_minor, program.currency),
            "discount": format_money(discounts.get(ln.line_id, 0), program.currency),
            "points_redeemed": redeemed_by_line.get(ln.line_id, 0),
            "points_earned": sum(x["points"] for x in by_line.get(ln.line_id, [])),
            "awards": by_line.get(ln.line_id, []),
        }
        for ln in basket.lines
    ]


def _promo_specs(program: Program, ruleset: RuleSet | None, basket: Basket) -> list[PromoCodeSpec]:
    """The rules' specs of the basket's promo codes, each defined and valid on the
    purchase's local date (else :class:`PromoCodeInvalid`)."""
    if not basket.promo_codes:
        return []
    local = basket.occurred_at.astimezone(ZoneInfo(program.timezone)).date()
    return check_promo_codes(ruleset, basket.promo_codes, local)


def _purchase_meta(
    original: Basket, basket: Basket, result: EarnResult | None
) -> dict[str, object] | None:
    """What a purchase keeps beside its columns: the pilot rules it was held out of, its
    promo codes (given back on a whole return), its payments and its order discount."""
    meta: dict[str, object] = {}
    if result and result.control_group:
        meta["control_group"] = list(result.control_group)
    if basket.promo_codes:
        meta["promo_codes"] = sorted(basket.promo_codes)
    if basket.payments:
        meta["payments"] = [[tender, amount] for tender, amount in basket.payments]
    if original.order_discount_minor:
        meta["order_discount_minor"] = original.order_discount_minor
        meta["order_discount_by_line"] = order_discount_by_line(original)
    return meta or None


def _redeemed_by_line(points: int, basket: Basket, discounts: dict[str, int]) -> dict[str, int]:
    """The points paid on each line, in proportion to its discount; ties go by the lines'
    canonical order (``content_key``), never by their order or ids on the receipt."""
    if not points:
        return {}
    ids = [ln.line_id for ln in sorted(basket.lines, key=content_key)]
    return dict(zip(ids, allocate(points, [discounts.get(i, 0) for i in ids]), strict=True))


def _coupons_of(
    uow: UnitOfWork, program: Program, basket: Basket, member_id: int, now: datetime
) -> tuple[Basket, list[CouponUse], list[IssuedReward]]:
    """The basket with its coupons' discounts taken off its lines (``basket``: net of the
    order discount), the uses and the issued coupons, locked for this transaction; a
    coupon that cannot be used is refused with 422 ``coupon_invalid`` and its
    ``details.reason`` (nothing is written)."""
    if not basket.coupons:
        return basket, [], []
    issued: list[IssuedReward] = []
    for code in basket.coupons:
        try:
            one = coupon_for_use(uow, program, code, member_id, now)
        except RewardCodeInvalid as err:
            raise CouponInvalid(
                msg("coupon %(code)s: %(why)s", code=code, why=err.message),
                reason=str(err.details.get("reason", "format")),
                code=code,
            ) from None
        except NotFoundError:
            raise CouponInvalid(
                msg("no coupon has the code %(code)s", code=code), reason="unknown", code=code
            ) from None
        except IssuedRewardNotActive as err:
            raise CouponInvalid(
                msg("coupon %(code)s: %(why)s", code=code, why=err.message),
                reason=str(err.details.get("reason") or err.details.get("status")),
                code=code,
            ) from None
        if any(i.id == one.id for i in issued):
            raise CouponInvalid(
                msg("coupon %(code)s is given twice", code=code), reason="duplicate", code=code
            )
        issued.append(one)
    terms = [(code, i.id, i.coupon) for code, i in zip(basket.coupons, issued, strict=True)]
    net, uses = apply_coupons(
        basket, [(c, n, t) for c, n, t in terms if t is not None], program.currency
    )
    return net, uses, issued


def _coupons_out(program: Program, uses: list[CouponUse]) -> list[CouponApplied]:
    return [
        {
            "code": use.code,
            "discount": format_money(use.discount_minor, program.currency),
            "lines": {
                line_id: format_money(part, program.currency)
                for line_id, part in sorted(use.by_line.items())
            },
        }
        for use in uses
    ]


def quote(ctx: ServiceContext, program: Program, cmd: QuotePurchase) -> Quote:
    """Points to earn per line and rule, the most points payable, and what a given number
    of points (``redeem_points``) would buy, from the balance as of now. Writes nothing.

    The member, the rule set in force and whether anything of the member is due come in
    one query, as for a commit. When points are due to expire or activate (or a hold to
    time out), they are settled in a transaction that is rolled back, so the till is never
    offered points that expired last night (``balance_view.balance_now``)."""
    now = ctx.now()
    basket = cmd.basket
    with ctx.uow(read_only=True) as uow:
        member_id = resolve_member(uow, program, cmd.member)
        member, rule_set_id, due = uow.members.get_for_purchase(
            program.id, member_id, basket.occurred_at, now
        )
        ruleset = ruleset_by_id(uow, program, rule_set_id)
        if not due:
            available = uow.members.balance(member_id).available
            return _quote(uow, program, basket, cmd, member, ruleset, available, now)
    with ctx.uow() as uow:  # never committed: what is due is settled only for this read
        available = settled_balance(uow, program, member_id, now).available
        return _quote(uow, program, basket, cmd, member, ruleset, available, now)


def _quote(
    uow: UnitOfWork,
    program: Program,
    basket: Basket,
    cmd: QuotePurchase,
    member: Member,
    ruleset: RuleSet | None,
    available: int,
    now: datetime,
) -> Quote:
    member_id = member.id
    available = max(available, 0)
    basket, uses, _ = _coupons_of(uow, program, effective_basket(basket), member_id, now)
    specs = _promo_specs(program, ruleset, basket)
    if specs:
        promo_codes.check_limits(UsageRepo(uow.conn), program.id, specs, member_id)
    tier = tiers.tier_now(uow, program, ruleset, member, basket.occurred_at)
    ceiling = max_redeemable(basket, ruleset, program, available, tier) if ruleset else 0
    points, discounts = _payment(
        ruleset, program, basket, cmd.redeem_points, cmd.redeem_amount_minor, available, tier
    )
    check_payments(basket, sum(discounts.values()), program.currency)
    result = _earn_and_limits(uow, program, ruleset, basket, member, discounts)
    return {
        "member_id": member_id,
        "available": available,
        "max_redeemable": ceiling,
        "redeem_points": points,
        "discount": format_money(sum(discounts.values()), program.currency),
        "points_earned": result.total_points if result else 0,
        "rule_version": ruleset.version if ruleset else None,
        "lines": _lines_out(
            program, basket, discounts, _redeemed_by_line(points, basket, discounts), result
        ),
        "control_group": list(result.control_group) if result else [],
        "coupons": _coupons_out(program, uses),
    }


def commit(
    ctx: ServiceContext,
    program: Program,
    cmd: BookPurchase,
    *,
    caller_key: str | None = None,
    scope: StoreScope | None = None,
) -> PurchaseBooked:
    """Book a purchase: redeem (or capture the hold named by ``hold_id``) and earn, in one
    transaction, idempotent on ``receipt_id`` (and on ``caller_key``, an API caller's
    Idempotency-Key, when given: see ``ledger.idempotency.run_idempotent_keyed``).
    With ``scope`` (a store-bound caller), only a hold of that store can pay."""
    return prepare_commit(ctx, program, cmd, caller_key=caller_key, scope=scope)()


def prepare_commit(
    ctx: ServiceContext,
    program: Program,
    cmd: BookPurchase,
    *,
    caller_key: str | None = None,
    scope: StoreScope | None = None,
) -> Callable[[], PurchaseBooked]:
    """:func:`commit` in two steps: this call fingerprints the request without the
    database; the call it returns books it. The API runs the first step before it takes
    SQLite's writer lock, which is then held for the second only."""
    receipt_id = cmd.receipt_id
    original = cmd.basket
    basket = effective_basket(original)
    points = cmd.redeem_points
    hold_id = cmd.hold_id

    def effect(uow: UnitOfWork) -> PurchaseBooked:
        now = ctx.now()
        lg = Ledger(uow.ledger, program)
        member_id = lock_member(uow, lg, program, cmd.member)
        bal = lg.require_active(member_id)  # the member is locked first
        # the member, the rule set in force and what is due, in one query under the lock
        member, rule_set_id, due = uow.members.get_for_purchase(
            program.id, member_id, basket.occurred_at, now
        )
        uow.ledger.know_due(member_id, now, due)
        lg.settle(member_id, now)
        ruleset = ruleset_by_id(uow, program, rule_set_id)
        net, uses, coupons = _coupons_of(uow, program, basket, member_id, now)
        specs = _promo_specs(program, ruleset, net)
        spendable = max(bal.available, 0)
        pay = points
        if hold_id is not None:
            hold = uow.ledger.get_hold(hold_id)
            if (
                hold is None
                or hold.member_id != member_id
                or (scope is not None and not scope.covers(hold.store))
            ):
                raise NotFoundError(
                    msg("hold %(id)s not found for this member", id=hold_id),
                    hold_id=hold_id,
                )
            pay = points or hold.amount
            spendable += hold.amount
        tier = tiers.tier_now(uow, program, ruleset, member, net.occurred_at)
        pay, discounts = _payment(
            ruleset, program, net, pay, cmd.redeem_amount_minor, spendable, tier
        )
        check_payments(net, sum(discounts.values()), program.currency)
        if specs:  # the last refusal: a use is counted only for a purchase that is booked
            promo_codes.take(UsageRepo(uow.conn), program.id, specs, member_id)
        redeem_entry = None
        if hold_id is not None:
            redeem_entry = lg.capture(hold_id, now, pay).entry_id
        elif pay:
            redeem_entry = lg.redeem(member_id, pay, now, reference=receipt_id).entry_id
        result = _earn_and_limits(uow, program, ruleset, net, member, discounts)
        earned = result.total_points if result else 0
        earn_entry = None
        meta: dict[str, object] = _purchase_meta(original, net, result) or {}
        if uses:
            meta["coupons"] = [
                {
                    "code": u.code,
                    "issued_id": u.issued_id,
                    "discount_minor": u.discount_minor,
                    "by_line": u.by_line,
                }
                for u in uses
            ]
        if earned:
            assert ruleset is not None
            assert result is not None
            by_rule = result.points_by_rule()
            # rules with their own expiry earn into lots of that expiry (returns claw
            # back from them: the purchase remembers each rule's lot)
            split = split_by_expiry(ruleset, by_rule.items())
            earning = lg.earn(
                member_id,
                earned,
                now,
                rule_version=ruleset.version,
                reference=receipt_id,
                meta={"receipt_id": receipt_id, "by_rule": by_rule},
                expiries=split.parts if split else None,
            )
            earn_entry = earning.entry_id
            if split is not None:
                lot_ids = earning.details["lots"]
                meta["lot_of_rule"] = {
                    rule_id: lot_ids[part] for rule_id, part in split.part_of_rule.items()
                }
            usage.record(
                UsageRepo(uow.conn),
                program.id,
                ruleset,
                result,
                member_id,
                net.occurred_at,
                program.timezone,
            )
        redeemed_by_line = _redeemed_by_line(pay, net, discounts)
        earned_by_line = result.points_by_line() if result else {}
        total = sum(ln.amount_minor for ln in net.lines)
        discount = sum(discounts.values())
        stored = StoredPurchase(
            id=0,
            program_id=program.id,
            member_id=member_id,
            receipt_id=receipt_id,
            occurred_at=net.occurred_at,
            store=net.store,
            channel=net.channel.value,
            total_minor=total,
            discount_minor=discount,
            points_earned=earned,
            points_redeemed=pay,
            earn_entry_id=earn_entry,
            redeem_entry_id=redeem_entry,
            rule_version=ruleset.version if ruleset else None,
            meta=meta or None,
            partner=net.partner,
            payment_method=net.payment_method,
            lines=[
                StoredLine(
                    ln.line_id,
                    ln.sku,
                    ln.category or None,
                    ln.brand or None,
                    ln.quantity,
                    ln.amount_minor,
                    discounts.get(ln.line_id, 0),
                    redeemed_by_line.get(ln.line_id, 0),
                    earned_by_line.get(ln.line_id, 0),
                )
                for ln in net.lines
            ],
            awards=[
                StoredAward(a.line_id, a.rule_id, a.ruleset_version, a.points)
                for a in (result.awards if result else ())
                if a.line_id is not None
            ],
        )
        window = (
            tiers.purchase_window(uow, program, ruleset.version, net.occurred_at)
            if ruleset is not None
            else None
        )
        view = None
        if window is None:
            PurchaseRepo(uow.conn).add(stored)  # with the member's lifetime totals
        else:  # and the member's tier view, in the same statement on PostgreSQL
            view = PurchaseRepo(uow.conn).add_and_view(stored, *window)[1]
        if ruleset is not None:
            tiers.after_purchase(
                uow,
                program,
                ruleset.version,
                member_id,
                net.occurred_at,
                now,
                lg,
                ruleset,
                view=view,
            )
        after = lg.balance(member_id)
        booked: PurchaseBooked = {
            "receipt_id": receipt_id,
            "member_id": member_id,
            "total": format_money(total, program.currency),
            "discount": format_money(discount, program.currency),
            "to_pay": format_money(total - discount, program.currency),
            "points_redeemed": pay,
            "points_earned": earned,
            "rule_version": ruleset.version if ruleset else None,
            "earn_entry_id": earn_entry,
            "redeem_entry_id": redeem_entry,
            "lines": _lines_out(program, net, discounts, redeemed_by_line, result),
            "balance": {"available": after.available, "pending": after.pending, "held": after.held},
        }
        if uses:
            booked["coupons"] = _coupons_out(program, uses)
        for issued in coupons:  # used by this purchase, in its transaction
            mark_used(uow, issued, now, reference=receipt_id)
        outbox.purchase_committed(uow, program, booked, hold_id, now)
        return booked

    key = receipt_key(receipt_id)
    request = cmd.fingerprint()
    digest = request_hash("purchase", request)
    return partial(
        ctx.idempotent,
        program.id,
        key,
        "purchase",
        request,
        effect,
        caller_key=caller_key,
        digest=digest,
    )


def _share(total: int, part: Decimal, whole: Decimal) -> int:
    """floor(total × part / whole), exact."""
    return int((Decimal(total) * part / whole).to_integral_value(rounding=ROUND_FLOOR))


def _plan_return(
    purchase: StoredPurchase, asked: tuple[ReturnLine, ...] | None, receipt_id: str
) -> tuple[list[StoredReturnLine], int, int, int, dict[int, int]]:
    """What returning ``asked`` (None: all that is left) of ``purchase`` takes back, gives
    back and refunds, line by line and in all, from its stored awards and the returns
    made so far (NotFoundError for a line it does not have, ReversalExceeded for more
    than is left); and, for an earning of several lots, how many points to claw back
    from each lot."""
    returned: dict[str, Decimal] = {}
    for earlier in purchase.returns:
        for x in earlier.lines:
            returned[x["line_id"]] = returned.get(x["line_id"], Decimal(0)) + Decimal(x["quantity"])
    lines = {ln.line_id: ln for ln in purchase.lines}
    wanted: dict[str, Decimal] = {}
    if asked is None:
        wanted = {i: ln.quantity - returned.get(i, Decimal(0)) for i, ln in lines.items()}
        wanted = {i: q for i, q in wanted.items() if q > 0}
        if not wanted:
            raise ReversalExceeded(
                msg("the purchase has been returned in full already"), receipt_id=receipt_id
            )
    else:
        for i, one in enumerate(asked):
            if one.line_id not in lines:
                # a well-formed id of no line of this purchase: nothing there to return
                raise NotFoundError(
                    msg("lines[%(i)s] names no line of this purchase", i=i),
                    field=f"lines[{i}].line_id",
                )
            line_id = one.line_id
            q = lines[line_id].quantity if one.quantity is None else one.quantity
            wanted[line_id] = wanted.get(line_id, Decimal(0)) + q
    out_lines: list[StoredReturnLine] = []
    claw = restore = refund = 0
    # an earning of several lots (rules with their own expiry): each line's points are
    # clawed back from the lots its rules earned into
    lot_of_rule = cast(dict[str, int], (purchase.meta or {}).get("lot_of_rule") or {})
    from_lots: dict[int, int] = {}
    line_lots: dict[str, dict[int, int]] = {}
    if lot_of_rule:
        default_lot = min(lot_of_rule.values())
        for a in purchase.awards:
            lot_id = lot_of_rule.get(a.rule_id, default_lot)
            per_lot = line_lots.setdefault(a.line_id, {})
            per_lot[lot_id] = per_lot.get(lot_id, 0) + a.points
    for line_id, q in sorted(wanted.items()):
        ln = lines[line_id]
        before = returned.get(line_id, Decimal(0))
        after = before + q
        if after > ln.quantity:
            raise ReversalExceeded(
                msg(
                    "line %(line_id)s: %(after)s would exceed the %(quantity)s bought",
                    line_id=line_id,
                    after=after,
                    quantity=ln.quantity,
                ),
                line_id=line_id,
            )
        if lot_of_rule:
            c = 0
            for lot_id, earned in sorted(line_lots.get(line_id, {}).items()):
                part = _share(earned, after, ln.quantity) - _share(earned, before, ln.quantity)
                from_lots[lot_id] = from_lots.get(lot_id, 0) + part
                c += part
        else:
            c = _share(ln.points_earned, after, ln.quantity) - _share(
                ln.points_earned, before, ln.quantity
            )
        r = _share(ln.points_redeemed, after, ln.quantity) - _share(
            ln.points_redeemed, before, ln.quantity
        )
        paid = ln.amount_minor - ln.discount_minor
        m = _share(paid, after, ln.quantity) - _share(paid, before, ln.quantity)
        claw, restore, refund = claw + c, restore + r, refund + m
        out_lines.append(
            {
                "line_id": line_id,
                "quantity": str(q),
                "points_clawed_back": c,
                "points_restored": r,
                "refund_minor": m,
            }
        )
    return out_lines, claw, restore, refund, from_lots


class ReturnPreviewLine(TypedDict):
    line_id: str
    sku: str
    quantity: str
    points_clawed_back: int
    points_restored: int
    refund: str


class ReturnPreview(TypedDict):
    """What a return would do, before the ledger settles it: the points it claws back are
    at most these (what was spent or expired since may be forgiven, or become a debt)."""

    receipt_id: str
    member_id: int
    points_clawed_back: int
    points_restored: int
    refund: str
    lines: list[ReturnPreviewLine]


def preview_return(
    ctx: ServiceContext,
    program: Program,
    cmd: ProcessReturn,
    *,
    scope: StoreScope | None = None,
) -> ReturnPreview:
    """What :func:`process_return` of ``cmd`` would take back, give back and refund, by
    line, with the same refusals (an unknown line, more than is left). Writes nothing."""
    with ctx.uow(read_only=True) as uow:
        purchase = PurchaseRepo(uow.conn).by_receipt(program.id, cmd.receipt_id)
    if purchase is None or (scope is not None and not scope.covers(purchase.store)):
        raise _no_purchase(cmd.receipt_id)
    out_lines, claw, restore, refund, _ = _plan_return(purchase, cmd.lines, cmd.receipt_id)
    skus = {ln.line_id: ln.sku for ln in purchase.lines}
    return {
        "receipt_id": purchase.receipt_id,
        "member_id": purchase.member_id,
        "points_clawed_back": claw,
        "points_restored": restore,
        "refund": format_money(refund, program.currency),
        "lines": [
            {
                "line_id": x["line_id"],
                "sku": skus[x["line_id"]],
                "quantity": x["quantity"],
                "points_clawed_back": x["points_clawed_back"],
                "points_restored": x["points_restored"],
                "refund": format_money(x.get("refund_minor", 0), program.currency),
            }
            for x in out_lines
        ],
    }


def process_return(
    ctx: ServiceContext,
    program: Program,
    cmd: ProcessReturn,
    *,
    caller_key: str | None = None,
    scope: StoreScope | None = None,
) -> ReturnBooked:
    """Return all of a purchase (no ``lines``) or some lines/quantities of it; idempotent on
    ``return_id`` (and on ``caller_key`` when given, as :func:`commit`). With ``scope``
    (a store-bound caller), another store's purchase is not found, and nothing is stored
    under either key for it (its own store may still use the ``return_id``)."""
    receipt_id, return_id, asked = cmd.receipt_id, cmd.return_id, cmd.lines
    if scope is not None:
        with ctx.uow(read_only=True) as uow:
            booked = PurchaseRepo(uow.conn).booked_at(program.id, receipt_id)
        if booked is not None and not scope.covers(booked[0]):
            raise _no_purchase(receipt_id)

    def effect(uow: UnitOfWork) -> ReturnBooked:
        now = ctx.now()
        repo = PurchaseRepo(uow.conn)
        purchase = repo.by_receipt(program.id, receipt_id)
        if purchase is None or (scope is not None and not scope.covers(purchase.store)):
            raise NotFoundError(
                msg("purchase %(receipt_id)s not found", receipt_id=repr(receipt_id)),
                receipt_id=receipt_id,
            )
        lg = Ledger(uow.ledger, program)
        lg.lock(purchase.member_id)
        out_lines, claw, restore, refund, from_lots = _plan_return(purchase, asked, receipt_id)
        forgiven = debt = expired = 0
        reason = cmd.reason.internal() if cmd.reason else "return"
        meta = cmd.reason.meta() if cmd.reason else None
        # the journal keeps 128 characters of a reference; two ids of 64 and the slash are
        # 129, so the longest return id loses its last one there (the return keeps it whole)
        reference = f"{receipt_id}/{return_id}"[:128]
        if claw and purchase.earn_entry_id:
            res = lg.reverse(
                purchase.earn_entry_id,
                now,
                points=claw,
                reason=reason,
                reference=reference,
                actor=cmd.actor,
                meta=meta,
                from_lots=sorted((i, n) for i, n in from_lots.items() if n) or None,
            )
            # the answer says what the balance did: points to claw back that were no
            # longer there (spent or expired) and forgiven were not taken
            forgiven = int(res.details.get("forgiven", 0))
            debt = int(res.details.get("debt", 0))
        if restore and purchase.redeem_entry_id:
            res = lg.reverse(
                purchase.redeem_entry_id,
                now,
                points=restore,
                reason=reason,
                reference=reference,
                actor=cmd.actor,
                meta=meta,
            )
            # restored points whose lot had expired (restore policy "expire") came back
            # expired
            expired = int(res.details.get("expired_on_return", 0))
        for out, share in zip(
            out_lines, _shares(out_lines, "points_clawed_back", forgiven), strict=True
        ):
            out["forgiven"] = share
            out["points_clawed_back"] -= share  # the lines then add up to the return's totals
        for out, share in zip(
            out_lines, _shares(out_lines, "points_restored", expired), strict=True
        ):
            out["expired_at_once"] = share
        taken = claw - forgiven
        stored = StoredReturn(
            return_id, now, taken, restore, refund, cast(list[dict[str, object]], out_lines)
        )
        repo.add_return(purchase.id, stored)
        uow.members.add_purchase_stats(purchase.member_id, -refund, 0)
        # the tier waits for the review, unless the program downgrades on returns
        tiers.after_return(
            uow, program, purchase.member_id, purchase.occurred_at, refund, taken, now
        )
        codes = (purchase.meta or {}).get("promo_codes")
        if codes and _returned_whole(purchase, out_lines):
            # returned whole: its promo codes' uses are given back
            promo_codes.give_back(UsageRepo(uow.conn), program.id, codes, purchase.member_id)
        given_back = _give_coupons_back(uow, program, purchase, out_lines, now, reference)
        bal = lg.balance(purchase.member_id)
        booked: ReturnBooked = {
            "receipt_id": receipt_id,
            "return_id": return_id,
            "member_id": purchase.member_id,
            "points_clawed_back": taken,
            "points_restored": restore,
            "expired_at_once": expired,
            "refund": format_money(refund, program.currency),
            "forgiven": forgiven,
            "debt": debt,
            "lines": [_returned(x, program.currency) for x in out_lines],
            "balance": {"available": bal.available, "pending": bal.pending, "held": bal.held},
        }
        if given_back:
            booked["coupons_given_back"] = given_back
        outbox.purchase_returned(uow, program, booked, now)
        return booked

    return ctx.idempotent(
        program.id,
        f"return:{receipt_id}:{return_id}",
        "return",
        cmd.fingerprint(),
        effect,
        caller_key=caller_key,
    )


def _back_by_line(
    purchase: StoredPurchase, now_returned: list[StoredReturnLine]
) -> dict[str, Decimal]:
    back: dict[str, Decimal] = {}
    for x in [y for r in purchase.returns for y in r.lines] + list(now_returned):
        back[str(x["line_id"])] = back.get(str(x["line_id"]), Decimal(0)) + Decimal(
            str(x["quantity"])
        )
    return back


def _give_coupons_back(
    uow: UnitOfWork,
    program: Program,
    purchase: StoredPurchase,
    now_returned: list[StoredReturnLine],
    now: datetime,
    reference: str,
) -> list[str]:
    """Give back the purchase's coupons whose lines this return completes (every line a
    coupon discounted returned in full, counting the earlier returns), when the program's
    setting says so; the codes given back."""
    used = cast(list[dict[str, object]], (purchase.meta or {}).get("coupons") or [])
    if not used or not CouponPolicyRepo(uow.conn).back_on_return(program.id):
        return []
    quantity = {ln.line_id: ln.quantity for ln in purchase.lines}
    before = _back_by_line(purchase, [])
    after = _back_by_line(purchase, now_returned)
    issued = IssuedRewardRepo(uow.conn)
    out: list[str] = []
    for use in used:
        lines = cast(dict[str, int], use["by_line"])
        done_now = all(after.get(i, Decimal(0)) >= quantity[i] for i in lines)
        done_before = all(before.get(i, Decimal(0)) >= quantity[i] for i in lines)
        if not done_now or done_before:
            continue
        coupon = issued.get(program.id, int(cast(int, use["issued_id"])), lock=True)
        if coupon is not None:
            give_back_use(uow, coupon, now, reference=reference)
            out.append(str(use["code"]))
    return out


def _returned_whole(purchase: StoredPurchase, now_returned: list[StoredReturnLine]) -> bool:
    """Whether the purchase's returns so far and ``now_returned`` return all of it."""
    back: dict[str, Decimal] = {}
    for x in [y for r in purchase.returns for y in r.lines] + list(now_returned):
        back[str(x["line_id"])] = back.get(str(x["line_id"]), Decimal(0)) + Decimal(
            str(x["quantity"])
        )
    return all(back.get(ln.line_id, Decimal(0)) >= ln.quantity for ln in purchase.lines)


def _returned(x: StoredReturnLine, currency: str) -> ReturnedLine:
    """A stored returned line as a return answers it: its refund as money text."""
    return {
        "line_id": x["line_id"],
        "quantity": x["quantity"],
        "points_clawed_back": x["points_clawed_back"],
        "points_restored": x["points_restored"],
        "forgiven": x.get("forgiven", 0),
        "expired_at_once": x.get("expired_at_once", 0),
        "refund": format_money(x.get("refund_minor", 0), currency),
    }


def _shares(lines: list[StoredReturnLine], field: str, amount: int) -> list[int]:
    """Each returned line's share of ``amount`` points (what was forgiven, or what expired
    at once), in proportion to the line's ``field``."""
    weights = [
        x["points_clawed_back"] if field == "points_clawed_back" else x["points_restored"]
        for x in lines
    ]
    return allocate(amount, weights) if amount else [0] * len(lines)


def receipt_key(receipt_id: str) -> str:
    """The idempotency key a receipt is booked under, once, whoever books it."""
    return f"purchase:{receipt_id}"


def booked_answer(ctx: ServiceContext, program: Program, receipt_id: str) -> PurchaseBooked | None:
    """The stored answer of a booked ``receipt_id``, without the request it was booked
    with: what :func:`commit` answered (for a receipt ``kopilka import`` booked, the
    import's summary, ``"imported": true``, without lines or balance). None when it is
    not booked, its commit having been refused or never made."""
    with ctx.uow(read_only=True) as uow:
        stored = uow.idempotency.get(program.id, receipt_key(receipt_id))
    if stored is None or not stored.succeeded:
        return None
    return cast(PurchaseBooked, dict(stored.response))


def _no_purchase(receipt_id: str) -> NotFoundError:
    return NotFoundError(
        msg("purchase %(receipt_id)s not found", receipt_id=repr(receipt_id)), receipt_id=receipt_id
    )


def get_purchase(
    ctx: ServiceContext, program: Program, receipt_id: str, *, scope: StoreScope | None = None
) -> PurchaseView:
    """A purchase with its points by line and rule, and its returns. With ``scope`` (a
    store-bound caller), another store's purchase is not found, as a missing one."""
    with ctx.uow(read_only=True) as uow:
        p = PurchaseRepo(uow.conn).by_receipt(program.id, receipt_id)
    if p is None or (scope is not None and not scope.covers(p.store)):
        raise _no_purchase(receipt_id)
    cur = program.currency
    meta = p.meta or {}
    awards: dict[str, list[RuleAward]] = {}
    for a in p.awards:
        awards.setdefault(a.line_id, []).append(
            {"rule_id": a.rule_id, "rule_version": a.rule_version, "points": a.points}
        )
    return {
        "receipt_id": p.receipt_id,
        "member_id": p.member_id,
        "occurred_at": p.occurred_at.isoformat(),
        "store": p.store,
        "channel": p.channel,
        "partner": p.partner,
        "payment_method": p.payment_method,
        "payments": [
            {"tender": str(t), "amount": format_money(int(a), cur)}
            for t, a in meta.get("payments", ())
        ],
        "promo_codes": [str(c) for c in meta.get("promo_codes", ())],
        "order_discount": format_money(int(meta.get("order_discount_minor", 0)), cur),
        "total": format_money(p.total_minor, cur),
        "discount": format_money(p.discount_minor, cur),
        "points_earned": p.points_earned,
        "points_redeemed": p.points_redeemed,
        "rule_version": p.rule_version,
        "earn_entry_id": p.earn_entry_id,
        "redeem_entry_id": p.redeem_entry_id,
        "lines": [
            {
                "line_id": ln.line_id,
                "sku": ln.sku,
                "category": ln.category,
                "brand": ln.brand,
                "quantity": str(ln.quantity),
                "amount": format_money(ln.amount_minor, cur),
                "discount": format_money(ln.discount_minor, cur),
                "points_redeemed": ln.points_redeemed,
                "points_earned": ln.points_earned,
                "awards": awards.get(ln.line_id, []),
            }
            for ln in p.lines
        ],
        "returns": [
            {
                "return_id": r.return_id,
                "occurred_at": r.occurred_at.isoformat(),
                "points_clawed_back": r.points_clawed_back,
                "points_restored": r.points_restored,
                # per line since these were recorded; a return recorded before says 0
                "forgiven": sum(int(x.get("forgiven", 0)) for x in r.lines),
                "expired_at_once": sum(int(x.get("expired_at_once", 0)) for x in r.lines),
                "refund": format_money(r.refund_minor, cur),
                "lines": cast(list[StoredReturnLine], r.lines),
            }
            for r in p.returns
        ],
    }
