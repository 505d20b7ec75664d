"""Members: enroll, look up, read with balances, change the profile, replace a card, block,
unblock, history."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from kopilka.api.deps import (
    AppMetrics,
    Ctx,
    CurrentKey,
    CurrentProgram,
    IdempotencyKey,
    ProgramMember,
    get_kopilka,
    permit,
)
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.common import MAX_ID, Identifier
from kopilka.api.schemas.members import (
    BalancePublic,
    BlockRequest,
    CardReplacedPublic,
    CardReplacement,
    DatedPoints,
    IdentifierKind,
    MemberCreate,
    MemberPublic,
    ProfileUpdate,
    UnblockRequest,
)
from kopilka.api.schemas.points import HistoryPage
from kopilka.app import Kopilka
from kopilka.domain.errors import FieldNotAllowed, NotFoundError, ValidationError
from kopilka.domain.identifiers import IdentifierKind as IdentifierKind_
from kopilka.domain.identifiers import normalize
from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason
from kopilka.services import audit as audit_svc
from kopilka.services import back_office
from kopilka.services import identifiers as identifiers_svc
from kopilka.services import members as member_svc
from kopilka.services.apikeys import PROFILE_ROLES, ApiKey, Role
from kopilka.services.apikeys import Permission as P
from kopilka.services.audit import History
from kopilka.services.audit_log import Audit, recorded_write
from kopilka.services.back_office import SetBlocked
from kopilka.services.balance_view import balance_view
from kopilka.services.context import ServiceContext
from kopilka.services.identifiers import CardReplaced, ReplaceCard

router = APIRouter(prefix=f"{V1}/members", tags=["members"])
READ = responses("unauthorized", "forbidden", "not_found")
WRITE = responses(
    "unauthorized", "forbidden", "not_found", "idempotency_conflict", "payload_too_large"
)


def _refuse_rated(key: ApiKey, rated: list[str]) -> None:
    """403 field_not_allowed, before anything is written, when a key whose role is not
    support or admin sets a tier, segments or (after enrollment) a birthday: ``rated``,
    the command's ``rated_fields()``."""
    if rated and key.role not in PROFILE_ROLES:
        raise FieldNotAllowed(
            f"a {key.role} key may not set {', '.join(rated)}: only support and admin keys may",
            field=rated[0],
            role=str(key.role),
        )


def _public(ctx: ServiceContext, program: Program, member_id: int) -> dict[str, Any]:
    return MemberPublic.of(member_svc.get_member(ctx, program, member_id)).model_dump(mode="json")


@router.post(
    "",
    status_code=201,
    response_model=MemberPublic,
    dependencies=[permit(P.MEMBERS_ENROLL)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "field_not_allowed",
        "not_found",
        "duplicate_identifier",
        "idempotency_conflict",
        "payload_too_large",
    ),
)
def enroll(
    body: MemberCreate,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> dict[str, Any]:
    """Enroll a member with identifiers, a profile, consents and an optional referral code.

    A profile's ``tier_code`` and ``attributes.segments`` are set only by an admin key
    (403 field_not_allowed otherwise, nothing written), and audited; a birthday may be
    given by any key that enrolls."""
    program = key.program
    channel = f"till:{key.store_code}"[:32] if key.role == Role.POS else str(key.role)
    request = body.model_dump(mode="json")
    command = body.to_command(channel)
    _refuse_rated(key, command.rated_fields())

    def effect(inner: ServiceContext) -> dict[str, Any]:
        member = member_svc.enroll(inner, program, command, actor=key.actor)
        metrics.members_enrolled.inc()
        return MemberPublic.of(member).model_dump(mode="json")

    return recorded_write(
        ctx, program.id, key=idempotency_key, operation="enroll", request=request, effect=effect
    )


@router.get(
    "/lookup",
    response_model=MemberPublic,
    dependencies=[permit(P.MEMBERS_READ)],
    responses=READ,
)
def lookup(
    kind: Annotated[IdentifierKind, Query()],
    value: Annotated[Identifier, Query()],
    ctx: Ctx,
    program: CurrentProgram,
) -> MemberPublic:
    """Find a member by card, phone, email or external id (normalised as at enrollment).
    A value no identifier of its kind can have finds no member: 404, as any other miss."""
    try:
        return MemberPublic.of(member_svc.lookup(ctx, program, kind, value))
    except ValidationError:
        raise NotFoundError(f"no member with this {kind}", kind=kind) from None


@router.get(
    "/{member_id:int}",
    response_model=MemberPublic,
    dependencies=[permit(P.MEMBERS_READ)],
    responses=READ,
)
def get_member(member_id: ProgramMember, ctx: Ctx, program: CurrentProgram) -> dict[str, Any]:
    """A member's profile, status and identifiers."""
    return _public(ctx, program, member_id)


@router.get(
    "/{member_id:int}/balance",
    response_model=BalancePublic,
    dependencies=[permit(P.MEMBERS_READ)],
    responses=READ,
)
def get_balance(member_id: ProgramMember, ctx: Ctx, program: CurrentProgram) -> BalancePublic:
    """Available, pending (with activation dates) and held points, and the next expiries,
    as of now: activations, expiries and timed-out holds that fell due since the member's
    last operation are shown as done (the next operation or sweep books them)."""
    view = balance_view(ctx, program, member_id)
    return BalancePublic(
        member_id=view.member_id,
        status=view.status,
        available=view.available,
        pending=view.pending,
        held=view.held,
        as_of=view.as_of,
        pending_lots=[DatedPoints(at=d.at, points=d.points) for d in view.pending_lots],
        expiring=[DatedPoints(at=d.at, points=d.points) for d in view.expiring],
    )


def _profile(inner: ServiceContext, program: Program, member_id: int) -> dict[str, Any]:
    public = _public(inner, program, member_id)
    return {k: public[k] for k in ProfileUpdate.model_fields}


@router.patch(
    "/{member_id:int}",
    response_model=MemberPublic,
    dependencies=[permit(P.MEMBERS_UPDATE)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "field_not_allowed",
        "not_found",
        "birthday_change_too_soon",
        "idempotency_conflict",
        "payload_too_large",
    ),
)
def update_profile(
    member_id: ProgramMember,
    body: ProfileUpdate,
    ctx: Ctx,
    key: CurrentKey,
    kopilka: Annotated[Kopilka, Depends(get_kopilka)],
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Change profile fields (only those given; ``null`` clears one). Audited, with the
    key as the actor.

    ``tier_code``, ``attributes.segments`` and ``birthday`` are changed only by support
    and admin keys (403 field_not_allowed otherwise, nothing written); new attributes
    from another key keep the member's segments. A birthday changes at most once in
    ``KOPILKA_BIRTHDAY_CHANGE_DAYS`` (default 365; 409 birthday_change_too_soon)."""
    program = key.program
    changes = body.model_dump(exclude_unset=True, mode="json")
    command = body.to_command(member_id)
    _refuse_rated(key, command.rated_fields())
    days = kopilka.settings.birthday_change_days
    every = timedelta(days=days) if days else None

    def effect(inner: ServiceContext) -> dict[str, Any]:
        member_svc.update_profile(
            inner,
            program,
            command,
            keep_segments=key.role not in PROFILE_ROLES,
            birthday_every=every,
        )
        return _public(inner, program, member_id)

    return recorded_write(
        ctx,
        program.id,
        key=idempotency_key,
        operation="profile_update",
        request={"member_id": member_id, **changes},
        effect=effect,
        audit=Audit(
            key.actor,
            "member.profile_update",
            f"member:{member_id}",
            lambda inner: _profile(inner, program, member_id),
        ),
    )


def _set_blocked(
    ctx: ServiceContext,
    key: CurrentKey,
    member_id: int,
    blocked: bool,
    reason: str | None,
    idempotency_key: str,
) -> dict[str, Any]:
    program = key.program
    return back_office.set_blocked(
        ctx,
        program,
        SetBlocked(member_id, blocked, reason, key=idempotency_key, actor=key.actor),
        answer=lambda inner: _public(inner, program, member_id),
    )


@router.post(
    "/{member_id:int}/block",
    response_model=MemberPublic,
    dependencies=[permit(P.MEMBERS_BLOCK)],
    responses=WRITE,
)
def block(
    member_id: ProgramMember,
    body: BlockRequest,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Block a member (no earning, no spending) with a reason. Audited."""
    return _set_blocked(ctx, key, member_id, True, body.reason, idempotency_key)


@router.post(
    "/{member_id:int}/unblock",
    response_model=MemberPublic,
    dependencies=[permit(P.MEMBERS_BLOCK)],
    responses=WRITE,
)
def unblock(
    member_id: ProgramMember,
    body: UnblockRequest,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Unblock a member. Audited."""
    return _set_blocked(ctx, key, member_id, False, body.reason, idempotency_key)


@router.post(
    "/{member_id:int}/card-replacement",
    response_model=CardReplacedPublic,
    dependencies=[permit(P.MEMBERS_UPDATE)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "not_found",
        "conflict",
        "duplicate_identifier",
        "idempotency_conflict",
        "payload_too_large",
    ),
)
def replace_card(
    member_id: ProgramMember,
    body: CardReplacement,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
) -> CardReplaced:
    """Replace a member's lost or damaged card by a new one. The old number stops finding
    the member at once (a lookup or a purchase by it is 404 not_found); their points,
    purchases and history stay. ``old_card`` is needed only when the member has several
    cards (409 conflict when the member has none or several and it is not named, or when
    the new number is already theirs). Audited as ``member.card_replaced`` with both
    numbers masked and the reason; a new number another member has is 409
    duplicate_identifier, and nothing changes."""
    # the command checks the reason and the numbers before anything is written
    command = ReplaceCard(
        member_id,
        normalize(IdentifierKind_.CARD, body.new_card),
        Reason(body.reason_code, body.reason_note),
        normalize(IdentifierKind_.CARD, body.old_card) if body.old_card else None,
        key=idempotency_key,
        actor=key.actor,
    )
    return identifiers_svc.replace_card(ctx, key.program, command)


@router.get(
    "/{member_id:int}/history",
    response_model=HistoryPage,
    dependencies=[permit(P.HISTORY_READ)],
    responses=READ,
)
def history(
    member_id: ProgramMember,
    ctx: Ctx,
    program: CurrentProgram,
    limit: Annotated[int, Query(ge=1, le=audit_svc.MAX_PAGE)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> History:
    """The member's ledger, newest first; every line says why. Cursor: ``before``."""
    return audit_svc.history(ctx, program, member_id, limit=limit, before=before)
