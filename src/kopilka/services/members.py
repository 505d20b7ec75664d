"""Enrolling, finding, updating, blocking and erasing members; their consents, and the
purchases the console lists.

Enrollment and profile changes take commands (:class:`Enroll`, :class:`UpdateProfile`)
that each interface builds once at its edge from what it parsed (a request body, CLI
options, an imported row); the services check the business rules only.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypedDict

from kopilka.domain.errors import (
    BirthdayChangeTooSoon,
    NotFoundError,
    ValidationError,
)
from kopilka.domain.identifiers import IdentifierKind, normalize
from kopilka.domain.member import Consent, Member, MemberStatus
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money
from kopilka.domain.program import Program
from kopilka.ledger.model import Balance
from kopilka.services import outbox
from kopilka.services.balance_view import balance_now
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.purchases import PurchaseRepo
from kopilka.store.uow import UnitOfWork

PROFILE_FIELDS = ("first_name", "last_name", "birthday", "gender", "attributes", "tier_code")
# a member's segments: the list ``attributes.segments``, a condition of rules
SEGMENTS = "segments"
MAX_IDENTIFIERS = 20
MAX_NAME = 100
MAX_ATTRIBUTES = 50
# attribute names are stored cut to this length
MAX_ATTRIBUTE_NAME = 64
# how many purchases the console's member page lists
PURCHASES_SHOWN = 50
# the purposes a member can always answer (in the portal); a program may record others,
# which the member answers too once on record
CONSENT_PURPOSES = ("personal_data", "marketing_email", "marketing_sms", "push")
# how many of a member's consent answers the portal lists
CONSENT_HISTORY = 50

# an identifier as enrollment stores it: its kind and canonical value
Identifier = tuple[IdentifierKind, str]


@dataclass(frozen=True, slots=True)
class Profile:
    """A member's profile as an enrollment gives it or a change sets it; ``None`` is a
    field not given (or, in a change that names it, cleared). ``attributes`` is free-form
    data; its ``segments`` list is a condition of rules."""

    first_name: str | None = None
    last_name: str | None = None
    birthday: date | None = None
    gender: str | None = None
    attributes: Mapping[str, object] | None = None
    tier_code: str | None = None

    def __post_init__(self) -> None:
        for name, value in (("first_name", self.first_name), ("last_name", self.last_name)):
            if value is not None and len(value) > MAX_NAME:
                raise ValidationError(
                    msg(
                        "%(name)s must be text of at most %(max_name)s characters",
                        name=name,
                        max_name=MAX_NAME,
                    ),
                    field=name,
                )
        if self.attributes is not None and len(self.attributes) > MAX_ATTRIBUTES:
            raise ValidationError(
                msg(
                    "attributes must be an object of at most %(max_attributes)s keys",
                    max_attributes=MAX_ATTRIBUTES,
                ),
                field="attributes",
            )

    def given(self) -> frozenset[str]:
        """The names of the fields that have a value."""
        return frozenset(n for n in PROFILE_FIELDS if getattr(self, n) is not None)


@dataclass(frozen=True, slots=True)
class ConsentChoice:
    """A member's answer for one purpose; ``channel``: where it was given (by default,
    where the member enrolled)."""

    purpose: str
    granted: bool = True
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Enroll:
    """Enroll a member: 1 to 20 canonical identifiers (:func:`identifier` makes one), a
    profile, consents, where they enrolled and an optional referral code."""

    identifiers: tuple[Identifier, ...]
    profile: Profile = field(default_factory=Profile)
    consents: tuple[ConsentChoice, ...] = ()
    channel: str = "api"
    referral_code: str | None = None

    def __post_init__(self) -> None:
        if not self.identifiers:
            raise ValidationError(
                msg("a member needs at least one identifier (card, phone, email, external)"),
                field="identifiers",
            )
        if len(self.identifiers) > MAX_IDENTIFIERS:
            raise ValidationError(
                msg(
                    "at most %(max_identifiers)s identifiers per member",
                    max_identifiers=MAX_IDENTIFIERS,
                ),
                field="identifiers",
            )

    def rated_fields(self) -> list[str]:
        """The profile fields given that only support and admin may set (:func:`rated_fields`)."""
        return rated_fields(self.profile, self.profile.given(), enrolling=True)


@dataclass(frozen=True, slots=True)
class UpdateProfile:
    """Change a member's profile: the fields named in ``fields`` (those the caller sent)
    take their value in ``changes``, where ``None`` clears one; the others stay."""

    member_id: int
    changes: Profile
    fields: frozenset[str]

    def __post_init__(self) -> None:
        unknown = sorted(self.fields - set(PROFILE_FIELDS))
        if unknown:
            raise ValidationError(
                msg("unknown profile field %(unknown)s", unknown=repr(unknown[0])), field=unknown[0]
            )

    def rated_fields(self) -> list[str]:
        """The fields changed that only support and admin may set (:func:`rated_fields`)."""
        return rated_fields(self.changes, self.fields, enrolling=False)


@dataclass(frozen=True, slots=True)
class UpdateOwnProfile:
    """A member's change of their own profile (the portal's form): what a member may
    set for themselves, every field given (None clears it; ``email`` canonical, from
    :func:`identifier`). Never a tier, segments or attributes (:data:`PROFILE_FIELDS`'
    others are support's)."""

    member_id: int
    first_name: str | None
    last_name: str | None
    birthday: date | None
    email: str | None


@dataclass(frozen=True, slots=True)
class ChangeConsent:
    """A member's new answer for one consent purpose, and where it was given."""

    member_id: int
    purpose: str
    granted: bool
    channel: str = "portal"


class MemberPurchase(TypedDict):
    """A purchase in a member's list; the total as text in the program's currency."""

    receipt_id: str
    occurred_at: datetime
    store: str | None
    total: str
    points_earned: int
    points_redeemed: int


class ConsentChanged(TypedDict):
    """A consent change's outcome (stored with its idempotency key: keys are frozen)."""

    purpose: str
    granted: bool
    recorded_at: str


def rated_fields(profile: Profile, fields: Set[str], *, enrolling: bool) -> list[str]:
    """The fields of ``profile`` named in ``fields`` (an enrollment's, or a change to
    one) that rules reward and that a till or a web shop therefore may not declare:
    ``tier_code`` and ``segments`` (computed by Kopilka, or set by support), and on a
    change the ``birthday`` (it drives birthday bonuses; giving it at enrollment is not
    a change). A field given as null counts: clearing it is changing it."""
    given = ["tier_code"] if "tier_code" in fields else []
    attributes = profile.attributes
    if "attributes" in fields and attributes is not None and SEGMENTS in attributes:
        given.append(SEGMENTS)
    if not enrolling and "birthday" in fields:
        given.append("birthday")
    return given


def _rated_values(member: Member) -> dict[str, object]:
    return {"tier_code": member.tier_code, SEGMENTS: member.attributes.get(SEGMENTS)}


def _stored_attributes(attributes: Mapping[str, object] | None) -> dict[str, object]:
    # null clears them, as it clears any profile field; names too long are cut
    return {str(k)[:MAX_ATTRIBUTE_NAME]: v for k, v in (attributes or {}).items()}


def clean_profile(profile: Mapping[str, object]) -> dict[str, object]:
    """An imported row's profile columns, checked as a :class:`Profile` (the member
    importer's parser; enrollments and changes take a Profile): the fields given, the
    birthday as a date, attributes (null: none) with their names cut to 64 characters."""
    unknown = sorted(set(profile) - set(PROFILE_FIELDS))
    if unknown:
        raise ValidationError(
            msg("unknown profile field %(unknown)s", unknown=repr(unknown[0])), field=unknown[0]
        )
    attributes = profile.get("attributes")
    if attributes is not None and not isinstance(attributes, Mapping):
        raise ValidationError(
            msg(
                "attributes must be an object of at most %(max_attributes)s keys",
                max_attributes=MAX_ATTRIBUTES,
            ),
            field="attributes",
        )
    checked = Profile(
        first_name=_text(profile, "first_name"),
        last_name=_text(profile, "last_name"),
        birthday=_birthday(profile.get("birthday")),
        gender=_text(profile, "gender"),
        attributes=attributes,
        tier_code=_text(profile, "tier_code"),
    )
    out = {name: getattr(checked, name) for name in profile}
    if "attributes" in out:
        out["attributes"] = _stored_attributes(checked.attributes)
    return out


def _text(profile: Mapping[str, object], name: str) -> str | None:
    value = profile.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationError(
            msg(
                "%(name)s must be text of at most %(max_name)s characters",
                name=name,
                max_name=MAX_NAME,
            ),
            field=name,
        )
    return value


def _birthday(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            msg("birthday must be a date (YYYY-MM-DD)"), field="birthday"
        ) from None


def enroll(
    ctx: ServiceContext, program: Program, command: Enroll, *, actor: str | None = None
) -> Member:
    """Enroll a member with identifiers, profile and consents in one transaction. With
    ``actor`` (an API key), an enrollment that sets a tier or segments is audited as
    ``member.enroll`` in the same transaction."""
    prof = command.profile
    now = ctx.now()
    given = [
        Consent(c.purpose, c.granted, c.channel or command.channel, now) for c in command.consents
    ]
    with ctx.uow() as uow:
        referrer = None
        if command.referral_code:
            referrer = uow.members.by_referral_code(program.id, command.referral_code)
            if referrer is None:
                # a well-formed code no member has: 404, as a body naming no member
                raise NotFoundError(msg("unknown referral code"), field="referral_code")
        member = Member(
            id=0,
            program_id=program.id,
            status=MemberStatus.ACTIVE,
            enrolled_at=now,
            first_name=prof.first_name,
            last_name=prof.last_name,
            birthday=prof.birthday,
            gender=prof.gender,
            attributes=_stored_attributes(prof.attributes),
            tier_code=prof.tier_code,
            referral_code=secrets.token_hex(5).upper(),
            referred_by=referrer,
        )
        member_id = uow.members.add(member, list(command.identifiers), given)
        if actor is not None and command.rated_fields():
            AuditLogRepo(uow.conn).add(
                program.id,
                actor,
                "member.enroll",
                f"member:{member_id}",
                None,
                _rated_values(member),
                now,
            )
        outbox.record(
            uow,
            program,
            member_id,
            "member.enrolled",
            {
                "member_id": member_id,
                "enrolled_at": now.isoformat(),
                "tier_code": prof.tier_code,
                "referred_by": referrer,
            },
            now,
        )
        uow.commit()
    return get_member(ctx, program, member_id)


def identifier(kind: str, value: str) -> tuple[IdentifierKind, str]:
    """An identifier as a request names it: its kind and canonical value (ValidationError
    for an unknown kind or a malformed value)."""
    canonical = normalize(kind, value)
    return IdentifierKind(kind), canonical


def identifiers(pairs: Iterable[tuple[str, str]]) -> tuple[Identifier, ...]:
    """(kind, value) pairs as an enrollment stores them, each checked and normalised by
    :func:`identifier`; blank values are left out."""
    return tuple(identifier(kind, value) for kind, value in pairs if value)


def no_member_with(kind: str) -> NotFoundError:
    """The 404 for an identifier of ``kind`` no member of the program has."""
    return NotFoundError(msg("no member with this %(kind)s", kind=kind), kind=kind)


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
    """A member of the program with their identifiers (NotFoundError otherwise)."""
    with ctx.uow(read_only=True) as uow:
        return uow.members.get(program.id, member_id)


def get_balance(ctx: ServiceContext, program: Program, member_id: int) -> Balance:
    """The member's balances as of now (``balance_view.balance_now``: what is due but not
    yet booked shows as booked; nothing is written)."""
    return balance_now(ctx, program, member_id)


def update_profile(
    ctx: ServiceContext,
    program: Program,
    command: UpdateProfile,
    *,
    keep_segments: bool = False,
    birthday_every: timedelta | None = None,
) -> Member:
    """Change the profile fields the command names (None clears one).

    ``keep_segments``: new ``attributes`` keep the member's segments (for a caller who
    may not set them). A birthday that really changes is recorded as changed now; with
    ``birthday_every``, it is refused (:class:`BirthdayChangeTooSoon`) within that long
    of its last change. The birthday given at enrollment is not a change."""
    with ctx.uow() as uow:
        _apply_profile(
            uow, ctx, program, command, keep_segments=keep_segments, birthday_every=birthday_every
        )
        _updated(uow, ctx, program, command.member_id, command.fields)
        uow.commit()
    return get_member(ctx, program, command.member_id)


def _apply_profile(
    uow: UnitOfWork,
    ctx: ServiceContext,
    program: Program,
    command: UpdateProfile,
    *,
    keep_segments: bool,
    birthday_every: timedelta | None,
) -> None:
    member_id, changes = command.member_id, command.changes
    values: dict[str, object] = {n: getattr(changes, n) for n in command.fields}
    member = uow.members.get(program.id, member_id, identifiers=False)
    if "attributes" in values:
        attributes = _stored_attributes(changes.attributes)
        if keep_segments:
            attributes.pop(SEGMENTS, None)
            if SEGMENTS in member.attributes:
                attributes[SEGMENTS] = member.attributes[SEGMENTS]
        values["attributes"] = attributes
    if "birthday" in values and values["birthday"] != member.birthday:
        # one change at a time: two requests cannot both find the last one old enough
        uow.ledger.lock_balances(program.id, [member_id])
        now = ctx.now()
        _check_birthday_change(uow.members.birthday_changed_at(member_id), now, birthday_every)
        uow.members.birthday_changed(member_id, now)
    uow.members.update_profile(member_id, values)


def _updated(
    uow: UnitOfWork, ctx: ServiceContext, program: Program, member_id: int, fields: Set[str]
) -> None:
    """``member.updated`` naming the changed fields, under the member's lock (so the
    member's events keep one order)."""
    uow.ledger.lock_balances(program.id, [member_id])
    outbox.record(
        uow,
        program,
        member_id,
        "member.updated",
        {"member_id": member_id, "fields": sorted(fields)},
        ctx.now(),
    )


def _check_birthday_change(last: datetime | None, now: datetime, every: timedelta | None) -> None:
    if last is None or every is None or now >= last + every:
        return
    allowed = last + every
    raise BirthdayChangeTooSoon(
        msg(
            "the birthday was changed on %(last)s; it may change again from %(allowed)s",
            last=last.date().isoformat(),
            allowed=allowed.isoformat(),
        ),
        changed_at=last.isoformat(),
        next_change_at=allowed.isoformat(),
    )


def set_blocked(
    ctx: ServiceContext, program: Program, member_id: int, blocked: bool, reason: str | None = None
) -> Member:
    """Block (no earning, no spending) or unblock a member."""
    if blocked and not (reason and reason.strip()):
        raise ValidationError(msg("blocking a member needs a reason"), field="reason")
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id)
        uow.ledger.lock_balances(program.id, [member_id])
        uow.members.set_status(
            member_id,
            MemberStatus.BLOCKED if blocked else MemberStatus.ACTIVE,
            reason if blocked else None,
        )
        outbox.record(
            uow,
            program,
            member_id,
            "member.blocked" if blocked else "member.unblocked",
            {"member_id": member_id, "blocked": blocked},
            ctx.now(),
        )
        uow.commit()
    return get_member(ctx, program, member_id)


def erase(ctx: ServiceContext, program: Program, member_id: int) -> Member:
    """Erase personal data (profile, identifiers); the ledger keeps its rows."""
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id)
        uow.ledger.lock_balances(program.id, [member_id])  # the member's events' order
        now = ctx.now()
        uow.members.erase(member_id, now)
        outbox.record(
            uow,
            program,
            member_id,
            "member.erased",
            {"member_id": member_id, "at": now.isoformat()},
            now,
        )
        uow.commit()
    return get_member(ctx, program, member_id)


def member_purchases(
    ctx: ServiceContext, program: Program, member_id: int, limit: int = PURCHASES_SHOWN
) -> list[MemberPurchase]:
    """A member's latest purchases, newest first (the breakdown is ``get_purchase``)."""
    with ctx.uow(read_only=True) as uow:
        rows = PurchaseRepo(uow.conn).recent_for_member(program.id, member_id, limit)
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


def current_consents(ctx: ServiceContext, program: Program, member_id: int) -> list[Consent]:
    """Each purpose's latest answer (consents are an append-only record)."""
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        latest = {c.purpose: c for c in uow.members.consents(member_id)}
    return sorted(latest.values(), key=lambda c: c.purpose)


def consent_purposes(ctx: ServiceContext, program: Program, member_id: int) -> list[Consent | str]:
    """What a member can answer for themselves: each of :data:`CONSENT_PURPOSES` and
    each purpose the member has an answer on record for, as its latest answer (a
    :class:`Consent`) or, never asked, its name."""
    latest = {c.purpose: c for c in current_consents(ctx, program, member_id)}
    names = sorted(set(CONSENT_PURPOSES) | set(latest))
    return [latest.get(name, name) for name in names]


def consent_history(
    ctx: ServiceContext, program: Program, member_id: int, limit: int = CONSENT_HISTORY
) -> list[Consent]:
    """A member's answers, newest first, at most ``limit`` (the record is append-only)."""
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        given = uow.members.consents(member_id)
    return given[::-1][:limit]


def change_consent(
    ctx: ServiceContext, program: Program, command: ChangeConsent, at: datetime
) -> ConsentChanged:
    """Record a member's new answer for a purpose, at ``at``: a "no" to a purpose they
    had said yes to, or a "yes" to one of :data:`CONSENT_PURPOSES` or to a purpose on
    record that they had not said yes to (or never answered). Answering what is already
    the answer is refused: the record keeps only changes."""
    member_id, purpose = command.member_id, command.purpose
    with ctx.uow() as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        latest = {c.purpose: c for c in uow.members.consents(member_id)}
        now = latest.get(purpose)
        if not command.granted and (now is None or not now.granted):
            raise ValidationError(
                msg("there is no consent to %(purpose)s to withdraw", purpose=repr(purpose)),
                field="purpose",
            )
        if command.granted and now is None and purpose not in CONSENT_PURPOSES:
            raise ValidationError(
                msg("there is no consent to %(purpose)s to give", purpose=repr(purpose)),
                field="purpose",
            )
        if command.granted and now is not None and now.granted:
            raise ValidationError(
                msg("the consent to %(purpose)s is already given", purpose=repr(purpose)),
                field="purpose",
            )
        uow.ledger.lock_balances(program.id, [member_id])  # the member's events' order
        uow.members.add_consents(
            member_id, [Consent(purpose, command.granted, command.channel, at)]
        )
        outbox.record(
            uow,
            program,
            member_id,
            "consent.changed",
            {
                "member_id": member_id,
                "purpose": purpose,
                "granted": command.granted,
                "channel": command.channel,
                "at": at.isoformat(),
            },
            ctx.now(),
        )
        uow.commit()
    return {"purpose": purpose, "granted": command.granted, "recorded_at": at.isoformat()}


def birthday_change_from(
    ctx: ServiceContext, program: Program, member_id: int, every: timedelta | None
) -> datetime | None:
    """When the member's birthday may change again under ``every`` (its last change plus
    ``every``), or None when it may change now."""
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        last = uow.members.birthday_changed_at(member_id)
    if last is None or every is None or ctx.now() >= last + every:
        return None
    return last + every


def update_own_profile(
    ctx: ServiceContext,
    program: Program,
    command: UpdateOwnProfile,
    *,
    birthday_every: timedelta | None,
) -> Member:
    """A member's own change of their names, birthday and e-mail, in one transaction:
    the birthday as :func:`update_profile` allows it (at most once in
    ``birthday_every``); the e-mail replaces the member's first one (None removes it),
    refused (:class:`DuplicateIdentifier`) when another member has it. Nothing is
    written when any part is refused."""
    member_id = command.member_id
    profile = UpdateProfile(
        member_id,
        Profile(
            first_name=command.first_name,
            last_name=command.last_name,
            birthday=command.birthday,
        ),
        frozenset({"first_name", "last_name", "birthday"}),
    )
    with ctx.uow() as uow:
        _apply_profile(
            uow, ctx, program, profile, keep_segments=True, birthday_every=birthday_every
        )
        emails = uow.members.get(program.id, member_id).identifiers.get("email", [])
        old = emails[0] if emails else None
        if command.email is not None:
            uow.members.replace_identifier(
                program.id, member_id, IdentifierKind.EMAIL, old, command.email
            )
        elif old is not None:
            uow.members.remove_identifier(program.id, member_id, IdentifierKind.EMAIL, old)
        _updated(uow, ctx, program, member_id, profile.fields | {"email"})
        uow.commit()
    return get_member(ctx, program, member_id)
