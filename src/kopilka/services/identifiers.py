"""A member's identifiers changed by support: a phone or an e-mail added or replaced, and a
lost card replaced by a new one.

A replaced card is deleted from the member's identifiers, so a lookup by it (the API, a
till, the console) finds nobody: ``404 not_found``, as any unknown card. The member's
ledger, purchases and history are kept by member id, so nothing of them moves. Each
change runs under the caller's idempotency key and is audited in its transaction, with
the numbers masked (the audit log is read by roles that do not see personal data).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import TypedDict

from kopilka.domain.errors import ConflictError, NotFoundError, ValidationError
from kopilka.domain.identifiers import IdentifierKind, mask, normalize
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason
from kopilka.services import outbox
from kopilka.services.audit_log import Audit, recorded_write
from kopilka.services.context import ServiceContext
from kopilka.services.members import MAX_IDENTIFIERS

# what support changes by hand: a card is replaced (with a reason), never edited here
CONTACT_KINDS = (IdentifierKind.PHONE, IdentifierKind.EMAIL)


class IdentifierChanged(TypedDict):
    """What a change did: the member, the kind, and the new value (masked: the outcome is
    stored with the idempotency key)."""

    member_id: int
    kind: str
    value: str
    replaced: bool


@dataclass(frozen=True, slots=True)
class ChangeContact:
    """Add a phone or an e-mail to a member, or put it in place of ``replaces`` (one of
    the member's of the same kind). Values are canonical (``domain.identifiers.normalize``)."""

    member_id: int
    kind: IdentifierKind
    value: str
    replaces: str | None = None
    _: KW_ONLY
    key: str
    actor: str

    def __post_init__(self) -> None:
        if self.kind not in CONTACT_KINDS:
            raise ValidationError(msg("only a phone or an e-mail is changed here"), field="kind")
        if self.value != normalize(self.kind, self.value):
            raise ValidationError(
                msg("the %(kind)s is not in its canonical form", kind=self.kind), field="value"
            )

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {
            "member_id": self.member_id,
            "kind": str(self.kind),
            "value": self.value,
            "replaces": self.replaces,
        }


@dataclass(frozen=True, slots=True)
class ReplaceCard:
    """Replace a member's card (``old_card``; None: the member's only card) by
    ``new_card``, with a reason (usually ``lost_card``)."""

    member_id: int
    new_card: str
    reason: Reason
    old_card: str | None = None
    _: KW_ONLY
    key: str
    actor: str

    def __post_init__(self) -> None:
        if self.new_card != normalize(IdentifierKind.CARD, self.new_card):
            raise ValidationError(msg("the card number is not in its canonical form"), field="card")

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {
            "member_id": self.member_id,
            "old_card": self.old_card,
            "new_card": self.new_card,
            "reason": self.reason.internal(),
            **self.reason.meta(),
        }


class CardReplaced(TypedDict):
    """A replacement's outcome (stored with its key): the member and both cards, masked."""

    member_id: int
    old_card: str
    new_card: str


def _masked(ctx: ServiceContext, program: Program, member_id: int, kind: str) -> list[str]:
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id)
    return [mask(kind, v) for v in member.identifiers.get(kind, [])]


def change_contact(ctx: ServiceContext, program: Program, cmd: ChangeContact) -> IdentifierChanged:
    """Add or replace a member's phone or e-mail, audited as ``member.identifier_change``
    (masked values before and after). One another member has is
    :class:`~kopilka.domain.errors.DuplicateIdentifier` (409 ``duplicate_identifier``),
    and nothing changes; one the member already has is no change."""
    kind = str(cmd.kind)

    def effect(inner: ServiceContext) -> IdentifierChanged:
        with inner.uow() as uow:
            member = uow.members.get(program.id, cmd.member_id)
            have = member.identifiers.get(kind, [])
            if cmd.replaces is not None and cmd.replaces not in have:
                raise ValidationError(
                    msg("the member has no such %(kind)s to replace", kind=kind), field="replaces"
                )
            held = sum(len(v) for v in member.identifiers.values())
            if cmd.replaces is None and cmd.value not in have and held >= MAX_IDENTIFIERS:
                raise ValidationError(
                    msg(
                        "at most %(max_identifiers)s identifiers per member",
                        max_identifiers=MAX_IDENTIFIERS,
                    ),
                    field="identifiers",
                )
            uow.ledger.lock_balances(program.id, [cmd.member_id])  # the events' order
            uow.members.replace_identifier(
                program.id, cmd.member_id, cmd.kind, cmd.replaces, cmd.value
            )
            if cmd.value not in have:
                outbox.record(
                    uow,
                    program,
                    cmd.member_id,
                    "identifier.changed",
                    {
                        "member_id": cmd.member_id,
                        "kind": kind,
                        "replaced": cmd.replaces is not None,
                    },
                    inner.now(),
                )
            uow.commit()
        return {
            "member_id": cmd.member_id,
            "kind": kind,
            "value": mask(kind, cmd.value),
            "replaced": cmd.replaces is not None,
        }

    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation="identifier_change",
        request=cmd.fingerprint(),
        effect=effect,
        audit=Audit(
            cmd.actor,
            "member.identifier_change",
            f"member:{cmd.member_id}",
            lambda inner: {kind: _masked(inner, program, cmd.member_id, kind)},
        ),
    )


def replace_card(ctx: ServiceContext, program: Program, cmd: ReplaceCard) -> CardReplaced:
    """Replace a member's lost (or damaged) card: the old number stops finding the member
    at once, the new one finds them, and their history stays. Audited as
    ``member.card_replaced`` with both numbers masked and the reason. A new number another
    member has is ``duplicate_identifier``, one this member has is a conflict; a member
    with no card or several must name the old one (a conflict otherwise); an old card the
    member does not have is not found."""

    def effect(inner: ServiceContext) -> CardReplaced:
        with inner.uow() as uow:
            member = uow.members.get(program.id, cmd.member_id)
            cards = member.identifiers.get(IdentifierKind.CARD, [])
            old = cmd.old_card
            # what the member holds now decides these: refusals of the state (409, 404)
            if cmd.new_card in cards:
                raise ConflictError(msg("the new card is already this member's"), field="new_card")
            if old is None:
                if len(cards) != 1:
                    raise ConflictError(
                        msg(
                            "the member has %(count)s cards: name the one to replace",
                            count=len(cards),
                        ),
                        field="old_card",
                        cards=len(cards),
                    )
                old = cards[0]
            elif old not in cards:
                raise NotFoundError(msg("the member has no such card"), field="old_card")
            # the old number's row goes: the unique (program, kind, value) lets the card be
            # found by nobody, and the member's history is kept by member id
            uow.ledger.lock_balances(program.id, [cmd.member_id])
            uow.members.replace_identifier(
                program.id, cmd.member_id, IdentifierKind.CARD, old, cmd.new_card
            )
            outbox.record(
                uow,
                program,
                cmd.member_id,
                "identifier.changed",
                {"member_id": cmd.member_id, "kind": str(IdentifierKind.CARD), "replaced": True},
                inner.now(),
            )
            uow.commit()
        return {
            "member_id": cmd.member_id,
            "old_card": mask(IdentifierKind.CARD, old),
            "new_card": mask(IdentifierKind.CARD, cmd.new_card),
        }

    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation="card_replace",
        request=cmd.fingerprint(),
        effect=effect,
        audit=Audit(
            cmd.actor,
            "member.card_replaced",
            f"member:{cmd.member_id}",
            lambda inner: {"card": _masked(inner, program, cmd.member_id, IdentifierKind.CARD)},
            details={"reason": cmd.reason.internal(), **cmd.reason.meta()},
        ),
    )
