"""The member a request names (``MemberRef``), found or locked, and the member as the
rules engine sees them. Purchases, events, rule previews and the importer share it; it
sits apart from purchases so that rules and purchases do not import each other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.member import Member
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rules import MemberContext
from kopilka.ledger.ledger import Ledger
from kopilka.services.members import find_member_id, identifier, no_member_with
from kopilka.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class MemberRef:
    """A member named by ``member_id`` or by one identifier ``(kind, value)``, exactly one
    of the two. The identifier's value is as the caller wrote it (trimmed): it is
    normalised when the member is looked up, as at enrollment. Whether the program has
    the member is checked when it is loaded."""

    member_id: int | None = None
    identifier: tuple[IdentifierKind, str] | None = None

    def __post_init__(self) -> None:
        if (self.member_id is None) == (self.identifier is None):
            raise ValidationError(
                msg("name the member by member_id or by one identifier"), field="member"
            )
        if self.member_id is not None and (
            isinstance(self.member_id, bool)
            or not isinstance(self.member_id, int)
            or self.member_id <= 0
        ):
            raise ValidationError(msg("member_id must be a positive integer"), field="member_id")

    def fingerprint(self) -> dict[str, object]:
        """The member as a request body names it: ``member_id`` or ``member: {kind: value}``
        (what idempotency fingerprints hash, unchanged since bodies were hashed)."""
        if self.identifier is None:
            return {"member_id": self.member_id}
        kind, value = self.identifier
        return {"member": {kind.value: value}}


def member_ref_of(data: Mapping[str, object]) -> MemberRef:
    """The member a JSON object names: ``member_id``, or ``member: {card|phone|email|
    external: value}`` (ValidationError otherwise). For edges that take a free JSON object
    rather than a schema-checked body: the console's basket field."""
    if data.get("member_id") is not None:
        mid = data["member_id"]
        if isinstance(mid, bool) or not isinstance(mid, int) or mid <= 0:
            raise ValidationError(msg("member_id must be a positive integer"), field="member_id")
        return MemberRef(member_id=mid)
    ref = data.get("member")
    if not isinstance(ref, dict) or len(ref) != 1:
        raise ValidationError(
            msg("name the member by member_id or by one identifier"), field="member"
        )
    ((kind, value),) = ref.items()
    try:
        known = IdentifierKind(str(kind))
    except ValueError:
        raise ValidationError(
            msg("unknown identifier kind %(kind)s", kind=repr(kind)), field="member"
        ) from None
    return MemberRef(identifier=(known, str(value)))


def member_context(member: Member) -> MemberContext:
    """The member as the rules engine sees them (before this purchase)."""
    attrs: dict[str, object] = dict(member.attributes)
    if member.gender:
        attrs.setdefault("gender", member.gender)
    segments = attrs.get("segments")
    return MemberContext(
        member_id=str(member.id),
        tier=member.tier_code,
        attributes=attrs,
        segments=frozenset(str(s) for s in segments) if isinstance(segments, list) else frozenset(),
        birthday=member.birthday,
        lifetime_spend_minor=member.lifetime_spend_minor,
        purchase_count=member.purchase_count,
        enrolled_at=member.enrolled_at,
    )


def resolve_member(uow: UnitOfWork, program: Program, ref: MemberRef) -> int:
    """The id of the member ``ref`` names.

    Callers load or lock the member next, which fails with not_found for a member of
    another program."""
    if ref.identifier is None:
        assert ref.member_id is not None  # MemberRef holds exactly one
        return ref.member_id
    kind, value = ref.identifier
    return find_member_id(uow, program, kind, value)


def lock_member(uow: UnitOfWork, lg: Ledger, program: Program, ref: MemberRef) -> int:
    """:func:`resolve_member`, and the member's balance row locked for ``lg``: a member
    named by an identifier is found and locked in one statement."""
    if ref.identifier is None:
        assert ref.member_id is not None
        return ref.member_id  # locked by the caller's require_active, as any member by id
    kind, value = ref.identifier
    bal = uow.ledger.lock_identified(program.id, *identifier(kind, value))
    if bal is None:
        raise no_member_with(kind)
    lg.know_locked(bal)
    return bal.member_id
