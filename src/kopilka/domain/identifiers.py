"""Member identifiers and their normal forms.

A member is found by any of: card number, phone, email, external id. Values are stored
normalised so that "+7 (912) 345-67-89" and "89123456789" are the same phone, and
"Anna@Example.COM " the same email.
"""

from __future__ import annotations

import enum
import re

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg


class IdentifierKind(enum.StrEnum):
    CARD = "card"
    PHONE = "phone"
    EMAIL = "email"
    EXTERNAL = "external"


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_CARD = re.compile(r"^[0-9A-Z-]{4,32}$")
_EXTERNAL = re.compile(r"^[\w.:@/-]{1,128}$")


def normalize_phone(value: str) -> str:
    """E.164 digits with a leading '+'. A Russian 11-digit number starting with 8 is
    rewritten to +7, the habit of Russian tills."""
    raw = value.strip()
    if not re.fullmatch(r"[+\d\s().-]{5,32}", raw):
        raise ValidationError(
            msg("phone must contain only digits, spaces, +, -, ( and )"), field="phone"
        )
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits.startswith("8") and not raw.startswith("+"):
        digits = "7" + digits[1:]
    if not (8 <= len(digits) <= 15):
        raise ValidationError(msg("phone must have 8 to 15 digits"), field="phone")
    return "+" + digits


def normalize(kind: IdentifierKind | str, value: str) -> str:
    """The canonical form of an identifier, or ValidationError."""
    try:
        kind = IdentifierKind(kind)
    except ValueError:
        raise ValidationError(
            msg(
                "unknown identifier kind %(kind)s; use card, phone, email or external",
                kind=repr(kind),
            ),
            field="kind",
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(msg("%(kind)s must not be empty", kind=kind), field=str(kind))
    if kind == IdentifierKind.PHONE:
        return normalize_phone(value)
    if kind == IdentifierKind.EMAIL:
        email = value.strip().lower()
        if len(email) > 254 or not _EMAIL.match(email):
            raise ValidationError(msg("email is not a valid address"), field="email")
        return email
    if kind == IdentifierKind.CARD:
        card = value.strip().upper().replace(" ", "")
        if not _CARD.match(card):
            raise ValidationError(
                msg("card number must be 4-32 letters, digits or '-'"), field="card"
            )
        return card
    ext = value.strip()
    if not _EXTERNAL.match(ext):
        raise ValidationError(msg("external id must be 1-128 word characters"), field="external")
    return ext


def mask(kind: IdentifierKind | str, value: str) -> str:
    """A form safe for logs and support screens: most of the value hidden."""
    if str(kind) == IdentifierKind.EMAIL and "@" in value:
        name, _, domain = value.partition("@")
        return f"{name[:1]}***@{domain}"
    return "*" * max(len(value) - 4, 0) + value[-4:]
