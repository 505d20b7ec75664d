"""Enrolling, finding, updating, blocking and erasing members."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from kopilka.domain.errors import BirthdayChangeTooSoon, NotFoundError, ValidationError
from kopilka.domain.identifiers import IdentifierKind, normalize
from kopilka.domain.member import Consent, Member, MemberStatus
from kopilka.domain.program import Program
from kopilka.ledger.model import Balance
from kopilka.services.balance_view import balance_now
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.uow import UnitOfWork

PROFILE_FIELDS = ("first_name", "last_name", "birthday", "gender", "attributes", "tier_code")
# a member's segments: the list ``attributes.segments``, a condition of rules
SEGMENTS = "segments"


def rated_fields(profile: dict[str, Any], *, enrolling: bool) -> list[str]:
    """The fields of ``profile`` (an enrollment's, or a change to one) that rules reward
    and that a till or a web shop therefore may not declare: ``tier_code`` and
    ``segments`` (computed by Kopilka, or set by support), and on a change the
    ``birthday`` (it drives birthday bonuses; giving it at enrollment is not a change).
    A field given as null counts: clearing it is changing it."""
    attributes = profile.get("attributes")
    given = ["tier_code"] if "tier_code" in profile else []
    if isinstance(attributes, dict) and SEGMENTS in attributes:
        given.append(SEGMENTS)
    if not enrolling and "birthday" in profile:
        given.append("birthday")
    return given


def _rated_values(member: Member) -> dict[str, Any]:
    return {"tier_code": member.tier_code, SEGMENTS: member.attributes.get(SEGMENTS)}


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
    actor: str | None = None,
) -> Member:
    """Enroll a member with identifiers, profile and consents in one transaction. With
    ``actor`` (an API key), an enrollment that sets a tier or segments is audited as
    ``member.enroll`` in the same transaction."""
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
        if actor is not None and rated_fields(prof, enrolling=True):
            AuditLogRepo(uow.conn).add(
                program.id,
                actor,
                "member.enroll",
                f"member:{member_id}",
                None,
                _rated_values(member),
                now,
            )
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
    """The member's balances as of now (``balance_view.balance_now``: what is due but not
    yet booked shows as booked; nothing is written)."""
    return balance_now(ctx, program, member_id)


def update_profile(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    changes: dict[str, Any],
    *,
    keep_segments: bool = False,
    birthday_every: timedelta | None = None,
) -> Member:
    """Change the profile fields given (None clears one).

    ``keep_segments``: new ``attributes`` keep the member's segments (for a caller who
    may not set them). A birthday that really changes is recorded as changed now; with
    ``birthday_every``, it is refused (:class:`BirthdayChangeTooSoon`) within that long
    of its last change. The birthday given at enrollment is not a change."""
    prof = clean_profile(changes)
    with ctx.uow() as uow:
        member = uow.members.get(program.id, member_id, identifiers=False)
        if keep_segments and "attributes" in prof:
            prof["attributes"].pop(SEGMENTS, None)
            if SEGMENTS in member.attributes:
                prof["attributes"][SEGMENTS] = member.attributes[SEGMENTS]
        if "birthday" in prof and prof["birthday"] != member.birthday:
            # one change at a time: two requests cannot both find the last one old enough
            uow.ledger.lock_balances(program.id, [member_id])
            now = ctx.now()
            _check_birthday_change(uow.members.birthday_changed_at(member_id), now, birthday_every)
            uow.members.birthday_changed(member_id, now)
        uow.members.update_profile(member_id, prof)
        uow.commit()
    return get_member(ctx, program, member_id)


def _check_birthday_change(last: datetime | None, now: datetime, every: timedelta | None) -> None:
    if last is None or every is None or now >= last + every:
        return
    allowed = last + every
    raise BirthdayChangeTooSoon(
        f"the birthday was changed on {last.date().isoformat()}; it may change again "
        f"from {allowed.isoformat()}",
        changed_at=last.isoformat(),
        next_change_at=allowed.isoformat(),
    )


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
