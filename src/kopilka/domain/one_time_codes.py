"""One-time codes: the 6 digits a member types to prove they hold a phone or an e-mail.

A code is drawn with :mod:`secrets`, sent once (through the notifications'
transactional channel) and kept only as an HMAC under a server key, so that neither a
log nor a copy of the database gives it away. It lives :data:`CODE_TTL`, is used at most
once, and dies after :data:`MAX_ATTEMPTS` wrong tries; a newer code for the same address
replaces it. Everything here is pure: the clock and the key come from outside.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind, normalize
from kopilka.domain.messages import msg

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5


class CodeChannel(enum.StrEnum):
    """How a code reaches the member: the channel follows the address's kind."""

    SMS = "sms"
    EMAIL = "email"

    @staticmethod
    def for_kind(kind: IdentifierKind) -> CodeChannel:
        """SMS for a phone, e-mail for an e-mail address."""
        return CodeChannel.SMS if kind == IdentifierKind.PHONE else CodeChannel.EMAIL


class CodePurpose(enum.StrEnum):
    """What a code proves the address for: signing in as the member who has it, or
    joining the program with it (the portal's self-enrolment)."""

    SIGN_IN = "sign_in"
    JOIN = "join"


class Verdict(enum.StrEnum):
    """What checking a typed code found."""

    ACCEPTED = "accepted"
    WRONG = "wrong"  # not the code; a try is used up
    EXPIRED = "expired"  # older than its time to live
    SPENT = "spent"  # used, replaced by a newer code, or out of tries


def read_address(typed: str) -> tuple[IdentifierKind, str]:
    """A phone or an e-mail address as typed on a sign-in form, as stored (an ``@`` makes
    it an e-mail address); ValidationError when it is neither."""
    text = typed.strip()
    if not text:
        raise ValidationError(msg("enter your phone number or e-mail address"), field="address")
    kind = IdentifierKind.EMAIL if "@" in text else IdentifierKind.PHONE
    return kind, normalize(kind, text)


def address_digest(key: bytes, program_id: int, kind: IdentifierKind, address: str) -> str:
    """The address as the codes' table keeps it: an HMAC, enough to find the address's
    earlier codes without storing the phone or e-mail in clear once more."""
    message = f"{program_id}:{kind}:{address}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_code() -> str:
    """Six decimal digits from the operating system's secure random source (leading
    zeros kept: every one of the million codes is equally likely)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_challenge_id() -> str:
    """The public name of one code's challenge (kept in the visitor's signed session),
    unguessable so that nobody can type codes against another visitor's challenge."""
    return secrets.token_urlsafe(18)


def code_digest(key: bytes, challenge_id: str, code: str) -> str:
    """What is stored instead of the code: an HMAC-SHA256 under the server's key, bound to
    the challenge, so a copy of the table without the key does not yield the codes."""
    message = f"{challenge_id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def well_formed(code: str) -> str | None:
    """The code as typed, without spaces and dashes, if it is six digits; else None."""
    digits = "".join(ch for ch in code if ch not in " -\u00a0")
    if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit():
        return digits
    return None


@dataclass(frozen=True, slots=True)
class Challenge:
    """One code as stored: to whom it was sent, until when it is valid, how many tries it
    has taken, and whether it is over (``ended_at``: used, replaced or out of tries)."""

    id: str
    program_id: int
    # who has the address; None: nobody, and (signing in) no code was sent
    member_id: int | None
    channel: CodeChannel
    digest: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    ended_at: datetime | None
    purpose: CodePurpose = CodePurpose.SIGN_IN

    def check(self, key: bytes, typed: str, now: datetime) -> Verdict:
        """The verdict on ``typed`` at ``now``: an ended or expired challenge refuses every
        code, the right one included; a wrong code (or any code for an address nobody has)
        is WRONG while tries remain, and the last wrong try makes it SPENT. A code to join
        was sent whether or not a member has the address, so its right code is accepted
        either way (the caller tells a member to sign in instead)."""
        if self.ended_at is not None or self.attempts >= MAX_ATTEMPTS:
            return Verdict.SPENT
        if now >= self.expires_at:
            return Verdict.EXPIRED
        code = well_formed(typed)
        right = code is not None and hmac.compare_digest(
            code_digest(key, self.id, code), self.digest
        )
        if right and (self.member_id is not None or self.purpose == CodePurpose.JOIN):
            return Verdict.ACCEPTED
        return Verdict.SPENT if self.attempts + 1 >= MAX_ATTEMPTS else Verdict.WRONG

    @property
    def attempts_left(self) -> int:
        """Tries left before this check (never below zero)."""
        return max(MAX_ATTEMPTS - self.attempts, 0)
