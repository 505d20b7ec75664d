"""Back-office writes, the one path for every interface (API, admin console, CLI, demo):
each is idempotent under the caller's key and audited (who, what, before and after) in
the same transaction; a sweep, which commits batch by batch, is audited when it ends.

Who acts is named by the interface: ``apikey:<id>:<name>`` for the API and the console,
``cli:<name>`` for the CLI (``--actor``, default the operating-system user)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol, TypedDict, TypeVar

from kopilka.domain.errors import NotFoundError
from kopilka.domain.member import Member
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason
from kopilka.services import jobs as jobs_svc
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc
from kopilka.services import purchases as purchase_svc
from kopilka.services import rules as rules_svc
from kopilka.services import scope as store_scope
from kopilka.services.audit_log import Audit, recorded_job, recorded_write
from kopilka.services.balance_view import get_hold
from kopilka.services.context import ServiceContext
from kopilka.services.jobs import Progress
from kopilka.services.members import UpdateProfile
from kopilka.services.points import Adjust, LedgerOutcome, VoidHold

R = TypeVar("R", bound=Mapping[str, object])


class Sweep(Protocol):
    """A sweep of :mod:`kopilka.services.jobs`: how many it handled as of ``as_of``."""

    def __call__(
        self,
        ctx: ServiceContext,
        program: Program,
        as_of: datetime | None = ...,
        progress: Progress | None = ...,
    ) -> int: ...


class JobDone(TypedDict):
    """What a sweep handled (the stored outcome of its key: the format never changes)."""

    job: str
    as_of: str
    handled: int


@dataclass(frozen=True, slots=True)
class SetBlocked:
    """Block (``blocked``) or unblock a member, with a reason, as ``actor``."""

    member_id: int
    blocked: bool
    reason: str | None
    _: KW_ONLY
    key: str
    actor: str

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to (the operation, block or unblock, says which)."""
        return {"member_id": self.member_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class VoidMemberHold:
    """Support cancels a member's hold from the console, with a reason, as ``actor``."""

    member_id: int
    hold_id: int
    reason: Reason
    _: KW_ONLY
    key: str
    actor: str

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {
            "member_id": self.member_id,
            "hold_id": self.hold_id,
            "reason": self.reason.internal(),
            **self.reason.meta(),
        }


@dataclass(frozen=True, slots=True)
class ChangeProfile:
    """An operator's profile change (``UpdateProfile``), audited as ``actor``."""

    update: UpdateProfile
    _: KW_ONLY
    key: str
    actor: str
    # a caller who may not set segments keeps the member's (``PROFILE_ROLES``)
    keep_segments: bool = False
    birthday_every: timedelta | None = None

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to: the fields changed and their new values."""
        changes = {n: getattr(self.update.changes, n) for n in sorted(self.update.fields)}
        if isinstance(changes.get("birthday"), date):
            changes["birthday"] = str(changes["birthday"])
        return {"member_id": self.update.member_id, **changes}


def adjust_fingerprint(cmd: Adjust) -> dict[str, object]:
    """The request an audited adjustment's key is bound to (the actor is the audit's;
    the reason code and member text only when given, so older keys hash as before)."""
    req: dict[str, object] = {"member_id": cmd.member_id, "delta": cmd.delta, "reason": cmd.reason}
    if cmd.meta:
        req["meta"] = dict(cmd.meta)
    return req


# the sweeps by the names the audit log and the API give them
SWEEPS: dict[str, Sweep] = {
    "expire": jobs_svc.expire_due,
    "activate": jobs_svc.activate_due,
    "expire-holds": jobs_svc.expire_holds,
}


def adjust(ctx: ServiceContext, program: Program, cmd: Adjust) -> LedgerOutcome:
    """A manual adjustment with a reason, audited with the balance before and after."""
    member_id = cmd.member_id

    def balance(inner: ServiceContext) -> dict[str, object]:
        b = member_svc.get_balance(inner, program, member_id)
        return {"available": b.available, "pending": b.pending, "held": b.held}

    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation="adjust",
        request=adjust_fingerprint(cmd),
        # the ledger keeps its own record under a key derived from the caller's (a space
        # cannot occur in a header or form key, so the two never collide)
        effect=lambda inner: points_svc.adjust(
            inner, program, replace(cmd, key=f"{cmd.key} adjust")
        ),
        audit=Audit(
            cmd.actor,
            "points.adjust",
            f"member:{member_id}",
            balance,
            details=dict(cmd.meta) if cmd.meta else None,
        ),
    )


def void_hold(ctx: ServiceContext, program: Program, cmd: VoidMemberHold) -> LedgerOutcome:
    """Cancel a member's active hold from the back office: its points go back, the entry
    keeps the reason (code and member text in its meta), audited as ``hold.void`` with
    the balance before and after. A hold of another member is not found."""
    member_id = cmd.member_id
    found = get_hold(ctx, program, cmd.hold_id)
    if found.member_id != member_id:
        raise NotFoundError(msg("hold %(id)s not found", id=cmd.hold_id), hold_id=cmd.hold_id)

    def balance(inner: ServiceContext) -> dict[str, object]:
        b = member_svc.get_balance(inner, program, member_id)
        return {"available": b.available, "pending": b.pending, "held": b.held}

    void = VoidHold(
        cmd.hold_id,
        key=f"{cmd.key} void",
        reason=cmd.reason.internal(),
        actor=cmd.actor,
        meta=cmd.reason.meta(),
    )
    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation="hold.void",
        request=cmd.fingerprint(),
        effect=lambda inner: points_svc.void(inner, program, void),
        audit=Audit(
            cmd.actor,
            "hold.void",
            f"member:{member_id}",
            balance,
            details={
                "hold_id": cmd.hold_id,
                "points": found.amount,
                "reason": cmd.reason.internal(),
                **cmd.reason.meta(),
            },
        ),
    )


def change_profile(ctx: ServiceContext, program: Program, cmd: ChangeProfile) -> Member:
    """Change a member's profile (``members.update_profile``: the birthday's interval,
    segments kept for a caller who may not set them), audited as
    ``member.profile_update`` with the fields before and after."""
    member_id = cmd.update.member_id
    fields = sorted(cmd.update.fields)

    def state(inner: ServiceContext) -> dict[str, object]:
        m = member_svc.get_member(inner, program, member_id)
        out = {n: getattr(m, n) for n in fields}
        if isinstance(out.get("birthday"), date):
            out["birthday"] = str(out["birthday"])
        return out

    def effect(inner: ServiceContext) -> dict[str, object]:
        member_svc.update_profile(
            inner,
            program,
            cmd.update,
            keep_segments=cmd.keep_segments,
            birthday_every=cmd.birthday_every,
        )
        return {"member_id": member_id}

    recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation="profile_update",
        request=cmd.fingerprint(),
        effect=effect,
        audit=Audit(cmd.actor, "member.profile_update", f"member:{member_id}", state),
    )
    return member_svc.get_member(ctx, program, member_id)


def set_blocked(
    ctx: ServiceContext,
    program: Program,
    cmd: SetBlocked,
    *,
    answer: Callable[[ServiceContext], R],
) -> R:
    """Block or unblock a member, audited with the status before and after; ``answer``
    builds the stored response (the API's member document, the console's status)."""
    action = "block" if cmd.blocked else "unblock"
    member_id = cmd.member_id

    def state(inner: ServiceContext) -> dict[str, object]:
        m = member_svc.get_member(inner, program, member_id)
        return {"status": str(m.status), "blocked_reason": m.blocked_reason}

    def effect(inner: ServiceContext) -> R:
        member_svc.set_blocked(inner, program, member_id, cmd.blocked, cmd.reason)
        return answer(inner)

    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation=action,
        request=cmd.fingerprint(),
        effect=effect,
        audit=Audit(cmd.actor, f"member.{action}", f"member:{member_id}", state),
    )


def run_job(
    ctx: ServiceContext,
    program: Program,
    name: str,
    as_of: datetime | None,
    *,
    key: str,
    actor: str,
    progress: Progress | None = None,
    workers: int | None = None,
) -> JobDone:
    """Run the sweep ``name`` (``expire``, ``activate`` or ``expire-holds``) as of
    ``as_of`` (default: now), audited as ``job.<name>`` with what it handled; a repeated
    ``key`` replays the outcome without sweeping again."""
    at = as_of or ctx.now()
    sweep = SWEEPS[name]

    def job() -> JobDone:
        if workers and name == "expire":
            handled = jobs_svc.expire_due(ctx, program, at, progress=progress, workers=workers)
        else:
            handled = sweep(ctx, program, at, progress=progress)
        return {"job": name, "as_of": at.isoformat(), "handled": handled}

    return recorded_job(
        ctx,
        program.id,
        key=key,
        operation=f"job.{name}",
        request={"as_of": as_of.isoformat() if as_of else None},
        job=job,
        audit=Audit(actor, f"job.{name}", f"program:{program.code}"),
    )


def publish_rules(
    ctx: ServiceContext,
    program: Program,
    document: str,
    *,
    fmt: str,
    effective_at: datetime | None,
    backdate: bool = False,
    key: str,
    actor: str,
    expected_version: int | None = None,
) -> rules_svc.RuleVersion:
    """Publish a rules version (see :func:`kopilka.services.rules.publish`), audited as
    ``rules.publish``, or ``rules.backdate`` when it is allowed to take effect in the past."""
    request: dict[str, object] = {
        # the document by its digest: the key's record need not hold a copy of it
        "sha256": hashlib.sha256(document.encode("utf-8", "replace")).hexdigest(),
        "format": fmt,
        "effective_at": effective_at.isoformat() if effective_at else None,
        "backdate": backdate,
    }
    if expected_version is not None:  # the console's confirmed number (the API sends none)
        request["expected_version"] = expected_version
    return recorded_write(
        ctx,
        program.id,
        key=key,
        operation="rules.publish",
        request=request,
        effect=lambda inner: rules_svc.publish(
            inner,
            program,
            document,
            fmt=fmt,
            effective_at=effective_at,
            actor=actor,
            backdate=backdate,
            expected_version=expected_version,
        ),
        audit=Audit(actor, rules_svc.audit_action(backdate), "rules"),
    )


def return_purchase(
    ctx: ServiceContext,
    program: Program,
    cmd: purchase_svc.ProcessReturn,
    *,
    key: str,
    member_id: int,
    scope: store_scope.StoreScope | None = None,
) -> purchase_svc.ReturnBooked:
    """A return made by an operator (the console): run once under the operator's ``key``
    (and the return's own key, ``return_id``), audited as ``purchase.return`` on the
    member ``member_id`` with their balance before and after; the record after names the
    receipt, the return and the reason. ``cmd.actor`` is who returned it."""

    seen: list[bool] = []

    def state(inner: ServiceContext) -> dict[str, object]:
        b = member_svc.get_balance(inner, program, member_id)
        out: dict[str, object] = {"available": b.available, "pending": b.pending, "held": b.held}
        if seen:  # after the return: what it was
            out |= {"receipt_id": cmd.receipt_id, "return_id": cmd.return_id}
            if cmd.reason is not None:
                out |= {"reason": cmd.reason.internal(), **cmd.reason.meta()}
        seen.append(True)
        return out

    return recorded_write(
        ctx,
        program.id,
        key=key,
        operation="return",
        request=cmd.fingerprint(),
        effect=lambda inner: purchase_svc.process_return(inner, program, cmd, scope=scope),
        audit=Audit(cmd.actor or "unknown", "purchase.return", f"member:{member_id}", state),
    )
