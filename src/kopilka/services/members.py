"""Enrolling, finding, updating, blocking and erasing members."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from kopilka.domain.errors import NotFoundError, ValidationError
from kopilka.domain.identifiers import IdentifierKind, normalize
from kopilka.domain.member import Consent, Member, MemberStatus
from kopilka.domain.program import Program
from kopilka.ledger.model import Balance
from kopilka.services.context import ServiceContext
from kopilka.store.uow import UnitOfWork

PROFILE_FIELDS = ("first_name", "last_name", "birthday", "gender", "attributes", "tier_code")


def parse_identifiers(
    raw: dict[str, Any] | list[tuple[str, str]],
) -> list[tuple[IdentifierKind, str]]:
    """Normalised (kind, value) pairs; at least one is required."""
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        for kind, value in raw.items():
            values = value if isinstance(value, list) else [value]
            pairs.extend((kind, v) for v in values if v not in (None, ""))
    else:
        pairs = list(raw)
    if not pairs:
        raise ValidationError(
            "a member needs at least one identifier (card, phone, email, external)",
            field="identifiers",
        )
    if len(pairs) > 20:
        raise ValidationError("at most 20 identifiers per member", field="identifiers")
    out = []
    for kind, value in pairs:
        canonical = normalize(kind, value)  # validates the kind too
        out.append((IdentifierKind(kind), canonical))
    return out


def clean_profile(profile: dict[str, Any]) -> dict[str, Any]:
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError(
            f"unknown profile field {sorted(unknown)[0]!r}", field=sorted(unknown)[0]
        )
    out = dict(profile)
    for name in ("first_name", "last_name"):
        if (
            name in out
            and out[name] is not None
            and (not isinstance(out[name], str) or len(out[name]) > 100)
        ):
            raise ValidationError(f"{name} must be text of at most 100 characters", field=name)
    if out.get("birthday") is not None and not isinstance(out["birthday"], date):
        try:
            out["birthday"] = date.fromisoformat(str(out["birthday"]))
        except ValueError:
            raise ValidationError(
                "birthday must be a date (YYYY-MM-DD)", field="birthday"
            ) from None
    if "attributes" in out:
        if out["attributes"] is None:  # null clears them, as it clears any profile field
            out["attributes"] = {}
        if not isinstance(out["attributes"], dict) or len(out["attributes"]) > 50:
            raise ValidationError(
                "attributes must be an object of at most 50 keys", field="attributes"
            )
        out["attributes"] = {str(k)[:64]: v for k, v in out["attributes"].items()}
    return out


def enroll(
    ctx: ServiceContext,
    program: Program,
    identifiers: dict[str, Any] | list[tuple[str, str]],
    *,
    profile: dict[str, Any] | None = None,
    consents: list[dict[str, Any]] | None = None,
    channel: str = "api",
    referral_code: str | None = None,
) -> Member:
    """Enroll a member with identifiers, profile and consents in one transaction."""
    idents = parse_identifiers(identifiers)
    prof = clean_profile(profile or {})
    now = ctx.now()
    given = [
        Consent(
            str(c["purpose"]), bool(c.get("granted", True)), str(c.get("channel") or channel), now
        )
        for c in (consents or [])
    ]
    with ctx.uow() as uow:
        referrer = None
        if referral_code:
            referrer = uow.members.by_referral_code(program.id, referral_code)
            if referrer is None:
                # a well-formed code no member has: 404, as a body naming no member
                raise NotFoundError("unknown referral code", field="referral_code")
        member = Member(
            id=0,
            program_id=program.id,
            status=MemberStatus.ACTIVE,
            enrolled_at=now,
            first_name=prof.get("first_name"),
            last_name=prof.get("last_name"),
            birthday=prof.get("birthday"),
            gender=prof.get("gender"),
            attributes=prof.get("attributes") or {},
            tier_code=prof.get("tier_code"),
            referral_code=secrets.token_hex(5).upper(),
            referred_by=referrer,
        )
        member_id = uow.members.add(member, idents, given)
        uow.commit()
    return get_member(ctx, program, member_id)


def identifier(kind: str, value: str) -> tuple[IdentifierKind, str]:
    """An identifier as a request names it: its kind and canonical value (ValidationError
    for an unknown kind or a malformed value)."""
    canonical = normalize(kind, value)
    return IdentifierKind(kind), canonical


def no_member_with(kind: str) -> NotFoundError:
    return NotFoundError(f"no member with this {kind}", kind=kind)


def find_member_id(uow: UnitOfWork, program: Program, kind: str, value: str) -> int:
    member_id = uow.members.find(program.id, *identifier(kind, value))
    if member_id is None:
        raise no_member_with(kind)
    return member_id


def lookup(ctx: ServiceContext, program: Program, kind: str, value: str) -> Member:
    """Find a member by any identifier (normalised the same way as at enrollment)."""
    with ctx.uow(read_only=True) as uow:
        return uow.members.get(program.id, find_member_id(uow, program, kind, value))


def get_member(ctx: ServiceContext, program: Program, member_id: int) -> Member:
    with ctx.uow(read_only=True) as uow:
        return uow.members.get(program.id, member_id)


def get_balance(ctx: ServiceContext, program: Program, member_id: int) -> Balance:
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id)
        return uow.members.balance(member_id)


def update_profile(
    ctx: ServiceContext, program: Program, member_id: int, changes: dict[str, Any]
) -> Member:
    prof = clean_profile(changes)
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id)
        uow.members.update_profile(member_id, prof)
        uow.commit()
    return get_member(ctx, program, member_id)


def set_blocked(
    ctx: ServiceContext, program: Program, member_id: int, blocked: bool, reason: str | None = None
) -> Member:
    """Block (no earning, no spending) or unblock a member."""
    if blocked and not (reason and reason.strip()):
        raise ValidationError("blocking a member needs a reason", field="reason")
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id)
        uow.ledger.lock_balances(program.id, [member_id])
        uow.members.set_status(
            member_id,
            MemberStatus.BLOCKED if blocked else MemberStatus.ACTIVE,
            reason if blocked else None,
        )
        uow.commit()
    return get_member(ctx, program, member_id)


def erase(ctx: ServiceContext, program: Program, member_id: int) -> Member:
    """Erase personal data (profile, identifiers); the ledger keeps its rows."""
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id)
        uow.members.erase(member_id, ctx.now())
        uow.commit()
    return get_member(ctx, program, member_id)
