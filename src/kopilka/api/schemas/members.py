"""Members: enrollment, profile changes, blocking, what is shown, balances."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from kopilka.api.schemas.common import (
    Attributes,
    Card,
    Code,
    Email,
    External,
    Input,
    Name,
    Phone,
    Reason,
    Tag,
    Word,
    refuse_nulls,
)
from kopilka.domain.member import Member
from kopilka.domain.reasons import ReasonCode
from kopilka.services import members as member_svc

IdentifierKind = Literal["card", "phone", "email", "external"]


class Identifiers(Input):
    """At least one; each is normalised (phones to E.164, emails lower-cased)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    card: Card | SkipJsonSchema[None] = None
    phone: Phone | SkipJsonSchema[None] = None
    email: Email | SkipJsonSchema[None] = None
    external: External | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return refuse_nulls(data, ("card", "phone", "email", "external"))

    @model_validator(mode="after")
    def _at_least_one(self) -> Identifiers:
        if not any((self.card, self.phone, self.email, self.external)):
            raise ValueError("give at least one identifier: card, phone, email or external")
        return self

    def to_identifiers(self) -> tuple[member_svc.Identifier, ...]:
        """The identifiers given, normalised as enrollment stores them."""
        return member_svc.identifiers(
            (kind, value)
            for kind, value in (
                ("card", self.card),
                ("phone", self.phone),
                ("email", self.email),
                ("external", self.external),
            )
            if value is not None
        )


BIRTHDAY_PATTERN = r"^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$"


def _birthday_text(value: Any) -> Any:
    # YYYY-MM-DD text only (pydantic alone would take a number as a Unix time)
    if not isinstance(value, str) or not re.fullmatch(BIRTHDAY_PATTERN, value):
        raise ValueError("must be a date YYYY-MM-DD from 1900 to 2099")
    return value


# a date from 1900 to 2099, as the schema says it
Birthday = Annotated[
    date,
    BeforeValidator(_birthday_text),
    WithJsonSchema({"type": "string", "format": "date", "pattern": BIRTHDAY_PATTERN}),
]


class Profile(Input):
    first_name: Name | None = None
    last_name: Name | None = None
    birthday: Birthday | None = None
    gender: Tag | None = None
    attributes: Attributes | None = Field(
        default=None, description="``segments`` in it: support and admin keys only"
    )
    tier_code: Code | None = Field(default=None, description="support and admin keys only")

    def to_profile(self) -> member_svc.Profile:
        """The profile as the services take it (a field not given is None)."""
        return member_svc.Profile(
            first_name=self.first_name,
            last_name=self.last_name,
            birthday=self.birthday,
            gender=self.gender,
            attributes=self.attributes,
            tier_code=self.tier_code,
        )


class ConsentIn(Input):
    purpose: Code
    granted: bool = Field(default=True, strict=True)
    channel: Word | None = None


class MemberCreate(Input):
    identifiers: Identifiers
    profile: Profile = Field(default_factory=Profile)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=20)
    referral_code: Word | None = None

    def to_command(self, channel: str) -> member_svc.Enroll:
        """The enrollment, made at ``channel`` (where consents are given unless they say)."""
        return member_svc.Enroll(
            identifiers=self.identifiers.to_identifiers(),
            profile=self.profile.to_profile(),
            consents=tuple(
                member_svc.ConsentChoice(c.purpose, c.granted, c.channel) for c in self.consents
            ),
            channel=channel,
            referral_code=self.referral_code,
        )


class ProfileUpdate(Profile):
    """Only the fields given change; ``null`` clears a field."""

    def to_command(self, member_id: int) -> member_svc.UpdateProfile:
        """The change: the fields the body gave (``null`` among them), for ``member_id``."""
        return member_svc.UpdateProfile(
            member_id, self.to_profile(), frozenset(self.model_fields_set)
        )


class BlockRequest(Input):
    reason: Reason


class UnblockRequest(Input):
    reason: Reason | None = None


class CardReplacement(Input):
    """A lost or damaged card replaced by a new one; the old one stops finding the member.
    The reason ``other`` needs a ``reason_note``."""

    # the one rule between fields, said in the schema too
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"reason_code": {"const": "other"}}, "required": ["reason_code"]},
            "then": {"required": ["reason_note"]},
        }
    )

    new_card: Card = Field(description="the new card's number (4-32 letters, digits or '-')")
    old_card: Card | SkipJsonSchema[None] = Field(
        default=None, description="the card replaced; needed only when the member has several"
    )
    reason_code: ReasonCode = Field(default=ReasonCode.LOST_CARD, description="why")
    reason_note: Reason | SkipJsonSchema[None] = Field(
        default=None, description="the internal note (required with reason_code 'other')"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return refuse_nulls(data, ("reason_note", "old_card"))

    @model_validator(mode="after")
    def _note_with_other(self) -> CardReplacement:
        if self.reason_code is ReasonCode.OTHER and not self.reason_note:
            raise ValueError("a note (reason_note) is required with the reason 'other'")
        return self


class CardReplacedPublic(BaseModel):
    """The replacement done: the member, and both numbers masked."""

    member_id: int
    old_card: str
    new_card: str


class MemberPublic(BaseModel):
    id: int
    status: str
    enrolled_at: datetime
    identifiers: dict[str, list[str]]
    first_name: str | None
    last_name: str | None
    birthday: date | None
    gender: str | None
    attributes: dict[str, Any]
    tier_code: str | None
    referral_code: str | None
    referred_by: int | None
    purchase_count: int
    blocked_reason: str | None
    erased_at: datetime | None

    @classmethod
    def of(cls, m: Member) -> MemberPublic:
        return cls(
            id=m.id,
            status=str(m.status),
            enrolled_at=m.enrolled_at,
            identifiers=m.identifiers,
            first_name=m.first_name,
            last_name=m.last_name,
            birthday=m.birthday,
            gender=m.gender,
            attributes=m.attributes,
            tier_code=m.tier_code,
            referral_code=m.referral_code,
            referred_by=m.referred_by,
            purchase_count=m.purchase_count,
            blocked_reason=m.blocked_reason,
            erased_at=m.erased_at,
        )


class DatedPoints(BaseModel):
    at: datetime
    points: int


class BalancePublic(BaseModel):
    """Points a member has: spendable now, pending activation, reserved by holds."""

    member_id: int
    status: str
    available: int
    pending: int
    held: int
    as_of: datetime = Field(description="the instant the balances are as of: now")
    pending_lots: list[DatedPoints] = Field(description="pending points by activation time")
    expiring: list[DatedPoints] = Field(description="the next points to expire, by date")
