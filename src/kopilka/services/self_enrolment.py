"""Self-enrolment: a visitor joins the program in the portal with a phone or an e-mail
address they prove with a one-time code (``web/portal_join.py``).

1. :func:`send_join_code` sends a code to the address typed, whether or not a member has
   it (so the page that follows tells nobody who is a member), once the program allows
   self-enrolment (``services/portal_settings.py``).
2. :func:`join` accepts the code (tries counted as at sign-in) and enrolls the visitor
   through :func:`kopilka.services.members.enroll`, the API's enrolment, with the address,
   a card number drawn for them, the page's language and their answers to the consents;
   ``member.enrolled`` is written with it. An address a member already has is refused
   with :class:`~kopilka.domain.errors.DuplicateIdentifier` only after its code proved
   the address is the visitor's, so that the refusal says no more than a sign-in does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypedDict

from kopilka.domain.errors import DuplicateIdentifier, PermissionDenied, ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.messages import msg
from kopilka.domain.notifications import LANGUAGES
from kopilka.domain.one_time_codes import CodePurpose
from kopilka.domain.portal import REQUIRED_CONSENT, new_card_number
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services import one_time_codes as codes
from kopilka.services.context import ServiceContext
from kopilka.services.portal_settings import portal_settings

# a drawn card number that some card already has is drawn again, this many times at most
CARD_DRAWS = 5
CHANNEL = "portal"


@dataclass(frozen=True, slots=True)
class Join:
    """Join the program: the code typed for the challenge, the address it was sent to (as
    stored), the consent purposes the visitor said yes to (the others of
    :data:`~kopilka.services.members.CONSENT_PURPOSES` are recorded as a no) and the
    page's language (the member's language from now on)."""

    challenge_id: str
    code: str
    kind: IdentifierKind
    address: str
    consents: frozenset[str]
    language: str = "en"

    def __post_init__(self) -> None:
        check_consents(self.consents)


class Joined(TypedDict):
    """The new member and the card number they were issued."""

    member_id: int
    card: str


def check_consents(given: frozenset[str]) -> None:
    """ValidationError unless the purposes are the portal's and include the processing of
    personal data (without it the program cannot keep the member's phone or e-mail)."""
    unknown = sorted(given - set(member_svc.CONSENT_PURPOSES))
    if unknown:
        raise ValidationError(
            msg("unknown consent purpose %(purpose)s", purpose=unknown[0]), field="consents"
        )
    if REQUIRED_CONSENT not in given:
        raise ValidationError(
            msg("to join, agree to the processing of your personal data"),
            field=REQUIRED_CONSENT,
        )


def require_open(ctx: ServiceContext, program: Program) -> None:
    """PermissionDenied unless the program takes sign-ups in the portal."""
    if not portal_settings(ctx, program).self_enrolment:
        raise PermissionDenied(msg("this program does not take sign-ups online"), field="program")


def send_join_code(
    ctx: ServiceContext, program: Program, command: codes.SendCode
) -> codes.CodeSent:
    """Send a code to join to the address (:func:`kopilka.services.one_time_codes.send_code`
    with the purpose JOIN), if the program takes sign-ups online."""
    require_open(ctx, program)
    return codes.send_code(ctx, program, replace(command, purpose=CodePurpose.JOIN))


def join(ctx: ServiceContext, program: Program, command: Join) -> Joined:
    """Accept the code and enroll the visitor (see the module). Raises CodeRefused for a
    wrong, expired or spent code, DuplicateIdentifier for an address a member has (after
    its code was accepted), PermissionDenied once the program stopped taking sign-ups."""
    require_open(ctx, program)
    check = codes.CheckCode(command.challenge_id, command.code)
    holder = codes.check_join_code(ctx, program, check, command.kind, command.address)
    if holder is not None:
        raise already_member(command.kind)
    consents = tuple(
        member_svc.ConsentChoice(purpose, purpose in command.consents)
        for purpose in member_svc.CONSENT_PURPOSES
    )
    language = command.language if command.language in LANGUAGES else None
    profile = member_svc.Profile(attributes={"language": language} if language else None)
    for draw in range(CARD_DRAWS):
        card = new_card_number()
        enrol = member_svc.Enroll(
            identifiers=((command.kind, command.address), (IdentifierKind.CARD, card)),
            profile=profile,
            consents=consents,
            channel=CHANNEL,
        )
        try:
            member = member_svc.enroll(ctx, program, enrol)
        except DuplicateIdentifier as e:
            if e.details.get("kind") != str(IdentifierKind.CARD):
                raise already_member(command.kind) from None  # taken since the code went
            if draw == CARD_DRAWS - 1:
                raise
            continue
        return {"member_id": member.id, "card": card}
    raise AssertionError("unreachable: the last draw returns or raises")


def already_member(kind: IdentifierKind) -> DuplicateIdentifier:
    """The refusal of an address a member has: sign in with it instead."""
    return DuplicateIdentifier(
        msg("this phone or e-mail already belongs to a membership; sign in with it instead"),
        kind=str(kind),
    )
