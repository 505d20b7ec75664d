"""Point movements for one member, each under an idempotency key.

These are the operations the CLI, the API and the jobs call. Each takes a command (its
typed input, built once by the interface; ``key`` is the idempotency key), opens a unit of
work, runs one ledger operation and commits; a repeated key returns the stored outcome.
Each command's ``fingerprint()`` is the request its key is bound to: the same dict as
before commands existed, so keys stored before still replay (and conflict) as they did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from kopilka.domain.program import Program
from kopilka.domain.tiers import PointsSource
from kopilka.ledger.ledger import Ledger
from kopilka.ledger.model import Result
from kopilka.services import outbox, tiers
from kopilka.services.context import ServiceContext
from kopilka.store.uow import UnitOfWork


class Balances(TypedDict):
    """A member's points after an operation."""

    available: int
    pending: int
    held: int


class LedgerOutcome(TypedDict):
    """What a point movement did: its journal entry and the member's balances after it.

    The format of the outcome stored under the idempotency key (``Result.to_dict()``):
    outcomes stored before are replayed as they are, so keys and shapes never change."""

    entry_id: int | None
    kind: str
    points: int
    member_id: int
    balance: Balances
    hold_id: int | None
    details: dict[str, object]


@dataclass(frozen=True, slots=True)
class Earn:
    """Credit ``points`` to a member."""

    member_id: int
    points: int
    _: KW_ONLY
    key: str
    reason: str | None = None
    reference: str | None = None
    rule_id: str | None = None
    rule_version: int | None = None
    # what the points.earned event names as its source (not part of the request: the
    # callers that set it own their keys' namespaces)
    source: str = "earn"

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {
            "member_id": self.member_id,
            "points": self.points,
            "reason": self.reason,
            "reference": self.reference,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
        }


@dataclass(frozen=True, slots=True)
class Redeem:
    """Spend ``points`` of a member's available balance."""

    member_id: int
    points: int
    _: KW_ONLY
    key: str
    reference: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {"member_id": self.member_id, "points": self.points, "reference": self.reference}


@dataclass(frozen=True, slots=True)
class PlaceHold:
    """Reserve ``points`` for ``ttl_seconds`` (None: the program's hold TTL) at ``store``
    (None: at none, as the web shop)."""

    member_id: int
    points: int
    _: KW_ONLY
    key: str
    ttl_seconds: int | None = None
    reference: str | None = None
    store: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        req: dict[str, object] = {
            "member_id": self.member_id,
            "points": self.points,
            "ttl": self.ttl_seconds,
            "reference": self.reference,
        }
        if self.store is not None:  # absent otherwise: a hold's request hash stays what it was
            req["store"] = self.store
        return req


@dataclass(frozen=True, slots=True)
class Capture:
    """Spend ``points`` of a hold (None: all of it)."""

    hold_id: int
    _: KW_ONLY
    key: str
    points: int | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {"hold_id": self.hold_id, "points": self.points}


@dataclass(frozen=True, slots=True)
class VoidHold:
    """Cancel a hold; a support agent's void says why (``reason``: the internal line,
    ``meta``: the reason code and the member's text) and who did it."""

    hold_id: int
    _: KW_ONLY
    key: str
    reason: str | None = None
    actor: str | None = None
    meta: Mapping[str, object] | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to (a till's void hashes as it always did)."""
        req: dict[str, object] = {"hold_id": self.hold_id}
        if self.reason is not None or self.actor is not None or self.meta:
            req.update(reason=self.reason, actor=self.actor, meta=dict(self.meta or {}))
        return req


@dataclass(frozen=True, slots=True)
class Reverse:
    """Reverse ``points`` of an entry (None: all that is left of it)."""

    entry_id: int
    _: KW_ONLY
    key: str
    points: int | None = None
    reason: str | None = None
    actor: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {
            "entry_id": self.entry_id,
            "points": self.points,
            "reason": self.reason,
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class Adjust:
    """Add (``delta`` > 0) or deduct points by hand, with a reason and who did it."""

    member_id: int
    delta: int
    _: KW_ONLY
    key: str
    reason: str
    actor: str
    # the reason code and the member's text (``domain.reasons.Reason.meta``)
    meta: Mapping[str, object] | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to (without ``meta``, as before it existed)."""
        req: dict[str, object] = {
            "member_id": self.member_id,
            "delta": self.delta,
            "reason": self.reason,
            "actor": self.actor,
        }
        if self.meta:
            req["meta"] = dict(self.meta)
        return req


def outcome(result: Result) -> LedgerOutcome:
    """The stored (and answered) form of a ledger operation's result."""
    return {
        "entry_id": result.entry_id,
        "kind": str(result.kind),
        "points": result.points,
        "member_id": result.member_id,
        "balance": {"available": result.available, "pending": result.pending, "held": result.held},
        "hold_id": result.hold_id,
        "details": result.details,
    }


def _run(
    ctx: ServiceContext,
    program: Program,
    key: str,
    operation: str,
    request: Mapping[str, object],
    op: Callable[[Ledger, datetime], Result],
    event: Callable[[UnitOfWork, Result, datetime], None] | None = None,
) -> LedgerOutcome:
    def effect(uow: UnitOfWork) -> LedgerOutcome:
        now = ctx.now()
        result = op(Ledger(uow.ledger, program), now)
        if event is not None:  # the outbox's event, in the same transaction
            event(uow, result, now)
        return outcome(result)

    return ctx.idempotent(program.id, key, operation, request, effect)


def earn(ctx: ServiceContext, program: Program, cmd: Earn) -> LedgerOutcome:
    """Credit points (a new lot, pending if the program delays activation)."""
    return _run(
        ctx,
        program,
        cmd.key,
        "earn",
        cmd.fingerprint(),
        lambda lg, now: lg.earn(
            cmd.member_id,
            cmd.points,
            now,
            reason=cmd.reason,
            reference=cmd.reference,
            rule_id=cmd.rule_id,
            rule_version=cmd.rule_version,
        ),
        lambda uow, result, now: outbox.points_earned(
            uow, program, result, cmd.source, now, rule_id=cmd.rule_id, reference=cmd.reference
        ),
    )


def redeem(ctx: ServiceContext, program: Program, cmd: Redeem) -> LedgerOutcome:
    """Spend available points, soonest-expiring lots first."""
    return _run(
        ctx,
        program,
        cmd.key,
        "redeem",
        cmd.fingerprint(),
        lambda lg, now: lg.redeem(cmd.member_id, cmd.points, now, reference=cmd.reference),
        lambda uow, result, now: outbox.points_redeemed(uow, program, result, cmd.reference, now),
    )


def hold(ctx: ServiceContext, program: Program, cmd: PlaceHold) -> LedgerOutcome:
    """Reserve points at the till (``cmd.store``; None: none, as the web shop) until
    captured, voided or timed out."""
    ttl = timedelta(seconds=cmd.ttl_seconds) if cmd.ttl_seconds is not None else None
    return _run(
        ctx,
        program,
        cmd.key,
        "hold",
        cmd.fingerprint(),
        lambda lg, now: lg.hold(
            cmd.member_id, cmd.points, now, ttl=ttl, reference=cmd.reference, store=cmd.store
        ),
        lambda uow, result, now: outbox.hold_placed(uow, program, result, cmd.store, now),
    )


def capture(ctx: ServiceContext, program: Program, cmd: Capture) -> LedgerOutcome:
    """Spend all or part of a hold; the rest is released."""
    return _run(
        ctx,
        program,
        cmd.key,
        "capture",
        cmd.fingerprint(),
        lambda lg, now: lg.capture(cmd.hold_id, now, cmd.points),
        lambda uow, result, now: outbox.hold_ended(uow, program, "hold.captured", result, now),
    )


def void(ctx: ServiceContext, program: Program, cmd: VoidHold) -> LedgerOutcome:
    """Cancel a hold; its points go back to the lots they came from."""
    return _run(
        ctx,
        program,
        cmd.key,
        "void",
        cmd.fingerprint(),
        lambda lg, now: lg.void(
            cmd.hold_id,
            now,
            reason=cmd.reason,
            actor=cmd.actor,
            meta=dict(cmd.meta) if cmd.meta else None,
        ),
        lambda uow, result, now: outbox.hold_ended(uow, program, "hold.voided", result, now),
    )


def reverse(ctx: ServiceContext, program: Program, cmd: Reverse) -> LedgerOutcome:
    """Reverse an earning (claw back) or a spending (restore), fully or partly."""
    return _run(
        ctx,
        program,
        cmd.key,
        "reverse",
        cmd.fingerprint(),
        lambda lg, now: lg.reverse(
            cmd.entry_id, now, points=cmd.points, reason=cmd.reason, actor=cmd.actor
        ),
    )


def adjust(ctx: ServiceContext, program: Program, cmd: Adjust) -> LedgerOutcome:
    """A manual correction with a reason and the actor who made it."""
    return _run(
        ctx,
        program,
        cmd.key,
        "adjust",
        cmd.fingerprint(),
        lambda lg, now: lg.adjust(
            cmd.member_id,
            cmd.delta,
            now,
            reason=cmd.reason,
            actor=cmd.actor,
            meta=dict(cmd.meta) if cmd.meta else None,
        ),
        lambda uow, result, now: _adjusted(uow, program, cmd, result, now),
    )


def _adjusted(
    uow: UnitOfWork, program: Program, cmd: Adjust, result: Result, now: datetime
) -> None:
    """An adjustment's outbox event; points added that count toward tiers (the program's
    ``qualifying_points``) upgrade the member at once, as a purchase would."""
    outbox.points_adjusted(uow, program, result, cmd.reason, now)
    if cmd.delta > 0:
        tiers.after_points(uow, program, cmd.member_id, PointsSource.ADJUSTMENTS, now)
