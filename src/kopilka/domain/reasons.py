"""Why an operator changed a member's points or standing: a reason code from a fixed list,
the operator's own note (internal: support and audit read it), and optionally a text for
the member. The member never reads the internal note: the portal shows the member text,
or a plain sentence for the kind of change when there is none."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg

MAX_NOTE = 500
MAX_MEMBER_TEXT = 200


class ReasonCode(StrEnum):
    """The reasons a support agent picks from; reports group by them, so they are few and
    stable (a new one is added here, never renamed)."""

    GOODWILL = "goodwill"  # a gesture for a complaint or an inconvenience
    SERVICE_FAILURE = "service_failure"  # points a till or the site failed to give
    CORRECTION = "correction"  # an operator's or a till's mistake put right
    RETURN = "return"  # goods brought back
    CUSTOMER_REQUEST = "customer_request"  # the member asked (cancel a hold, close the card)
    LOST_CARD = "lost_card"
    FRAUD = "fraud"  # suspected abuse: points taken back, member blocked
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code, the operator's note (required for ``other``) and the member's text."""

    code: ReasonCode
    note: str | None = None
    member_text: str | None = None

    def __post_init__(self) -> None:
        if self.note is not None and len(self.note) > MAX_NOTE:
            raise ValidationError(
                msg("the note is limited to %(count)s characters", count=MAX_NOTE),
                field="reason_note",
            )
        if self.member_text is not None and len(self.member_text) > MAX_MEMBER_TEXT:
            raise ValidationError(
                msg(
                    "the text for the member is limited to %(count)s characters",
                    count=MAX_MEMBER_TEXT,
                ),
                field="member_text",
            )
        if self.code is ReasonCode.OTHER and not self.note:
            raise ValidationError(
                msg("a note is required with the reason 'other'"), field="reason_note"
            )

    def internal(self) -> str:
        """The one line stored as the operation's reason (what support and audit read)."""
        return f"{self.code}: {self.note}" if self.note else str(self.code)

    def meta(self) -> dict[str, str]:
        """What the entry keeps beside its reason, so the portal can tell the member."""
        out = {"reason_code": str(self.code)}
        if self.member_text:
            out["member_text"] = self.member_text
        return out


def parse_reason_code(raw: str | None) -> ReasonCode:
    """A reason code from outside input; an unknown one is a validation error."""
    try:
        return ReasonCode((raw or "").strip())
    except ValueError:
        known = ", ".join(c.value for c in ReasonCode)
        raise ValidationError(
            msg("the reason must be one of: %(known)s", known=known), field="reason_code"
        ) from None
