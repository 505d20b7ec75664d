"""Small use cases the web UI needs that ``kopilka.services`` does not offer (yet).

Each is a thin read or write over the repositories, in a unit of work of its own, with
no rule of the business in it; they belong in ``kopilka.services`` and are kept here
only until they move there (see the web package's docstring).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.member import Consent
from kopilka.domain.money import format_money
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services.context import ServiceContext
from kopilka.store.repos.verification import VerificationRepo
from kopilka.store.tables import purchases

PURCHASES_SHOWN = 50


def program_totals(ctx: ServiceContext, program: Program) -> dict[str, int]:
    """Account totals of one program (liability, issued, redeemed, expired, members),
    without running the verify checks."""
    with ctx.uow(read_only=True) as uow:
        totals = VerificationRepo(uow.conn).totals(program.id)
    return {
        "liability": int(totals.get("liability", 0)),
        # program accounts are the other side of member postings: issued is a credit source
        "issued": -int(totals.get("issued", 0)),
        "redeemed": int(totals.get("redeemed", 0)),
        "expired": int(totals.get("breakage", 0)),
        "adjustments": -int(totals.get("adjustments", 0)),
        "members": int(totals.get("members", 0)),
        "entries": int(totals.get("entries", 0)),
    }


def member_purchases(
    ctx: ServiceContext, program: Program, member_id: int, limit: int = PURCHASES_SHOWN
) -> list[dict[str, Any]]:
    """A member's latest purchases, newest first (the breakdown is ``get_purchase``)."""
    p = purchases.c
    with ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(
            select(
                p.receipt_id,
                p.occurred_at,
                p.store,
                p.total_minor,
                p.points_earned,
                p.points_redeemed,
            )
            .where(p.program_id == program.id, p.member_id == member_id)
            .order_by(p.id.desc())
            .limit(limit)
        ).fetchall()
    return [
        {
            "receipt_id": r.receipt_id,
            "occurred_at": r.occurred_at,
            "store": r.store,
            "total": format_money(r.total_minor, program.currency),
            "points_earned": r.points_earned,
            "points_redeemed": r.points_redeemed,
        }
        for r in rows
    ]


def portal_member(ctx: ServiceContext, program: Program, card: str, phone: str) -> int | None:
    """The member whose card and phone both match, or None (never says which one failed)."""
    try:
        by_card = member_svc.lookup(ctx, program, "card", card.strip().upper())
        by_phone = member_svc.lookup(ctx, program, "phone", phone)
    except KopilkaError:
        return None
    if by_card.id != by_phone.id or by_card.erased_at is not None:
        return None
    return by_card.id


def current_consents(ctx: ServiceContext, program: Program, member_id: int) -> list[Consent]:
    """Each purpose's latest answer (consents are an append-only record)."""
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        latest = {c.purpose: c for c in uow.members.consents(member_id)}
    return sorted(latest.values(), key=lambda c: c.purpose)


def withdraw_consent(
    ctx: ServiceContext, program: Program, member_id: int, purpose: str, at: datetime
) -> dict[str, Any]:
    """Record a member's "no" to a purpose they had said yes to, from the portal."""
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        latest = {c.purpose: c for c in uow.members.consents(member_id)}
        if purpose not in latest or not latest[purpose].granted:
            raise ValidationError(
                f"there is no consent to {purpose!r} to withdraw", field="purpose"
            )
        uow.members.add_consents(member_id, [Consent(purpose, False, "web", at)])
        uow.commit()
    return {"purpose": purpose, "granted": False, "recorded_at": at.isoformat()}
