"""Back-office writes shared by the API and the admin console: each is idempotent under the
caller's key and audited (who, what, before and after) in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc
from kopilka.services.audit_log import Audit, recorded_write
from kopilka.services.context import ServiceContext


def adjust(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    delta: int,
    *,
    key: str,
    reason: str,
    actor: str,
) -> dict[str, Any]:
    """A manual adjustment with a reason, audited with the balance before and after."""

    def balance(inner: ServiceContext) -> dict[str, Any]:
        b = member_svc.get_balance(inner, program, member_id)
        return {"available": b.available, "pending": b.pending, "held": b.held}

    return recorded_write(
        ctx,
        program.id,
        key=key,
        operation="adjust",
        request={"member_id": member_id, "delta": delta, "reason": reason},
        # the ledger keeps its own record under a key derived from the caller's (a space
        # cannot occur in a header or form key, so the two never collide)
        effect=lambda inner: points_svc.adjust(
            inner, program, member_id, delta, key=f"{key} adjust", reason=reason, actor=actor
        ),
        audit=Audit(actor, "points.adjust", f"member:{member_id}", balance),
    )


def set_blocked(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    blocked: bool,
    reason: str | None,
    *,
    key: str,
    actor: str,
    answer: Callable[[ServiceContext], dict[str, Any]],
) -> dict[str, Any]:
    """Block or unblock a member, audited with the status before and after; ``answer``
    builds the stored response (the API's member document, the console's status)."""
    action = "block" if blocked else "unblock"

    def state(inner: ServiceContext) -> dict[str, Any]:
        m = member_svc.get_member(inner, program, member_id)
        return {"status": str(m.status), "blocked_reason": m.blocked_reason}

    def effect(inner: ServiceContext) -> dict[str, Any]:
        member_svc.set_blocked(inner, program, member_id, blocked, reason)
        return answer(inner)

    return recorded_write(
        ctx,
        program.id,
        key=key,
        operation=action,
        request={"member_id": member_id, "reason": reason},
        effect=effect,
        audit=Audit(actor, f"member.{action}", f"member:{member_id}", state),
    )
