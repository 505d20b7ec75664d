"""The portal's program settings, the pure part: whether visitors may join the program
on their own (``/portal/join``, confirmed by a one-time code), and the card number such a
member is issued.

A program without stored settings takes no sign-ups online: joining is switched on by the
program (``kopilka program set-self-enrolment CODE on``; the demo program has it on).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg

# the consent every self-enrolment needs: the program keeps the member's phone or e-mail
REQUIRED_CONSENT = "personal_data"
CARD_DIGITS = 16


@dataclass(frozen=True, slots=True)
class PortalSettings:
    """A program's portal settings (the default: no self-enrolment)."""

    self_enrolment: bool = False

    def to_json(self) -> dict[str, object]:
        """The stored form."""
        return {"self_enrolment": self.self_enrolment}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PortalSettings:
        """The stored form (or a request's) read back, validated (ValidationError)."""
        unknown = sorted(set(data) - {"self_enrolment"})
        if unknown:
            raise ValidationError(
                msg("unknown portal setting %(name)s", name=unknown[0]), field=unknown[0]
            )
        value = data.get("self_enrolment", False)
        if not isinstance(value, bool):
            raise ValidationError(msg("a switch must be true or false"), field="self_enrolment")
        return cls(self_enrolment=value)


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (what tills and card readers verify)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, the check digit not yet there
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    """A card number for a member who joined online (no plastic card): 16 digits, the
    first not zero, the last a Luhn check digit, drawn with :mod:`secrets` (so numbers
    say nothing of one another; a clash with an existing card is drawn again)."""
    body = str(1 + secrets.randbelow(9)) + "".join(
        str(secrets.randbelow(10)) for _ in range(CARD_DIGITS - 2)
    )
    return body + luhn_digit(body)
