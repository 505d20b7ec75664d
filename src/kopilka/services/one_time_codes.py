"""One-time codes: send a member a 6-digit code to the phone or e-mail they typed, and
accept it once (the portal's sign-in, ``web/portal.py``); or send one to a visitor who
wants to join the program, to prove the address is theirs (``services/self_enrolment.py``).

:func:`send_code` finds the member with that address, ends the address's earlier codes,
stores the new one (only its HMAC, :mod:`kopilka.domain.one_time_codes`) and records the
message (topic ``otp_code``, transactional and urgent: no consent asked, no quiet hours)
in the same transaction. An address nobody has gets a challenge too, with no member and
no message, so that the answer does not tell who is a member; every code typed against
it is wrong. A code to join (:attr:`CodePurpose.JOIN`) is sent whether or not a member
has the address, and only :func:`check_join_code` accepts it. :func:`check_code` counts
each try in its own committed transaction (a wrong code costs a try even though the check
fails) and answers the member, or refuses with :class:`~kopilka.domain.errors.CodeRefused`.

How often codes may be asked for and typed is the caller's to limit (the portal counts
per client address and per address, ``web/throttle.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from kopilka.domain.errors import CodeRefused
from kopilka.domain.identifiers import IdentifierKind, mask
from kopilka.domain.messages import Message, msg
from kopilka.domain.notifications import LANGUAGES, Channel, Purpose
from kopilka.domain.one_time_codes import (
    CODE_TTL,
    Challenge,
    CodeChannel,
    CodePurpose,
    Verdict,
    address_digest,
    code_digest,
    new_challenge_id,
    new_code,
)
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.notifications import Notify, deliver_now, notify
from kopilka.store.repos.one_time_codes import OneTimeCodeRepo
from kopilka.store.uow import UnitOfWork

CODE_TOPIC = "otp_code"


@dataclass(frozen=True, slots=True)
class SendCode:
    """Send a code to ``address`` (a phone or an e-mail address as stored: the edge has
    read it, ``domain.one_time_codes.read_address``), in ``language``, to sign in (or,
    with ``purpose`` JOIN, to join the program)."""

    kind: IdentifierKind
    address: str
    language: str = "en"
    purpose: CodePurpose = CodePurpose.SIGN_IN


class CodeSent(TypedDict):
    """The challenge to type the code against (keep it in the visitor's session), the
    channel and the address masked (to say where the code went) and when it expires."""

    challenge_id: str
    channel: str
    sent_to: str
    expires_at: str


@dataclass(frozen=True, slots=True)
class CheckCode:
    """The code the visitor typed for the challenge ``challenge_id``."""

    challenge_id: str
    code: str


class CodeAccepted(TypedDict):
    """The member the accepted code proves."""

    member_id: int


def send_code(ctx: ServiceContext, program: Program, command: SendCode) -> CodeSent:
    """Draw a code for ``command.address``, end the address's earlier codes, store the new
    one and record its message, in one transaction. The code itself leaves only in the
    message's variables (erased once sent), never in the result or a log. A sign-in code
    goes only to an address a member has; a code to join goes to any."""
    now = ctx.now()
    key = codes_key(ctx)
    channel = CodeChannel.for_kind(command.kind)
    challenge_id = new_challenge_id()
    code = new_code()
    with ctx.uow() as uow:
        member_id = _member_with(uow, program, command.kind, command.address)
        repo = OneTimeCodeRepo(uow.conn)
        digest = address_digest(key, program.id, command.kind, command.address)
        repo.end_open(program.id, digest, now)
        challenge = Challenge(
            id=challenge_id,
            program_id=program.id,
            member_id=member_id,
            channel=channel,
            digest=code_digest(key, challenge_id, code),
            created_at=now,
            expires_at=now + CODE_TTL,
            attempts=0,
            ended_at=None,
            purpose=command.purpose,
        )
        repo.add(challenge, digest)
        message_id = None
        if member_id is not None or command.purpose == CodePurpose.JOIN:
            message_id = _record_message(uow, program, member_id, command, code, now)
        uow.commit()
    if message_id is not None:
        # a failed attempt stays queued: the messages job retries it within the minute
        deliver_now(ctx, program, [message_id])
    return {
        "challenge_id": challenge_id,
        "channel": str(channel),
        "sent_to": mask(command.kind, command.address),
        "expires_at": challenge.expires_at.isoformat(),
    }


def check_code(ctx: ServiceContext, program: Program, command: CheckCode) -> CodeAccepted:
    """Accept the typed code once: the member it proves, the challenge ended. Anything else
    is :class:`CodeRefused` with the verdict (wrong, expired, spent) and the tries left; a
    wrong code's try is counted and stays counted, and the last one ends the code. A code
    sent to join signs nobody in."""
    challenge = _check(ctx, program, command, CodePurpose.SIGN_IN, None)
    assert challenge.member_id is not None  # a sign-in code is accepted only for a member
    return {"member_id": challenge.member_id}


def check_join_code(
    ctx: ServiceContext, program: Program, command: CheckCode, kind: IdentifierKind, address: str
) -> int | None:
    """Accept a code sent to join, once, for the address it was sent to (``kind`` and
    ``address`` as the visitor typed them then): the member who had the address when the
    code was sent (None: nobody). Refusals and tries as :func:`check_code`."""
    digest = address_digest(codes_key(ctx), program.id, kind, address)
    return _check(ctx, program, command, CodePurpose.JOIN, digest).member_id


def _check(
    ctx: ServiceContext,
    program: Program,
    command: CheckCode,
    purpose: CodePurpose,
    digest: str | None,
) -> Challenge:
    """The challenge accepted (and ended), or :class:`CodeRefused`: a challenge of another
    program, purpose or address is refused as spent, without a try counted."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = OneTimeCodeRepo(uow.conn)
        challenge = repo.get(command.challenge_id, lock=True)
        if challenge is None or challenge.program_id != program.id or challenge.purpose != purpose:
            raise _refused(Verdict.SPENT, 0)
        if digest is not None and not hmac.compare_digest(
            repo.address_digest(challenge.id) or "", digest
        ):
            raise _refused(Verdict.SPENT, 0)
        verdict = challenge.check(codes_key(ctx), command.code, now)
        if verdict in (Verdict.ACCEPTED, Verdict.WRONG):
            repo.record_try(challenge.id, end_at=now if verdict == Verdict.ACCEPTED else None)
        elif verdict == Verdict.SPENT and challenge.ended_at is None:
            repo.record_try(challenge.id, end_at=now)  # the last try
        uow.commit()
    if verdict == Verdict.ACCEPTED:
        return challenge
    left = challenge.attempts_left - 1 if verdict == Verdict.WRONG else 0
    raise _refused(verdict, left)


REFUSALS: dict[Verdict, Message] = {
    Verdict.WRONG: msg("This code is not right. Check it and try again."),
    Verdict.EXPIRED: msg("This code has expired. Ask for a new one."),
    Verdict.SPENT: msg("This code no longer works. Ask for a new one."),
}


def _refused(verdict: Verdict, attempts_left: int) -> CodeRefused:
    return CodeRefused(REFUSALS[verdict], verdict=str(verdict), attempts_left=attempts_left)


def _member_with(
    uow: UnitOfWork, program: Program, kind: IdentifierKind, address: str
) -> int | None:
    """The member who has the address and may sign in (not erased); None otherwise."""
    member_id = uow.members.find(program.id, kind, address)
    if member_id is None:
        return None
    member = uow.members.get(program.id, member_id, identifiers=False)
    return None if member.erased_at is not None else member_id


def _record_message(
    uow: UnitOfWork,
    program: Program,
    member_id: int | None,
    command: SendCode,
    code: str,
    at: datetime,
) -> int:
    """Record the code's message to the address typed (not the member's other one), in
    the page's language; the message's id, to send it at once after the commit. A code to
    join for an address nobody has goes to the address alone (no member)."""
    recorded = notify(
        uow,
        program,
        Notify(
            program_id=program.id,
            topic=CODE_TOPIC,
            variables={"code": code, "minutes": CODE_TTL // timedelta(minutes=1)},
            member_id=member_id,
            to_address=command.address,
            channel=Channel(str(CodeChannel.for_kind(command.kind))),
            purpose=Purpose.TRANSACTIONAL,
            locale=command.language if command.language in LANGUAGES else None,
        ),
        at,
    )
    return recorded["id"]


def codes_key(ctx: ServiceContext) -> bytes:
    """The key codes and addresses are stored under: derived from the messaging secret
    (KOPILKA_SECRET_KEY), its own, so a code's HMAC says nothing of other signatures."""
    return hmac.new(ctx.messaging.secret.encode(), b"one-time-codes", hashlib.sha256).digest()
