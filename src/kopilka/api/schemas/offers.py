"""The HTTP shape of personal offers and favourite categories: a member's offers and their
activation, a member's favourite categories and their choice, the back office's offer
audiences and results."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from kopilka.api.schemas.common import Card, Flag, Id, Input
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services.member_lookup import MemberRef
from kopilka.services.offers import MAX_AUDIENCE_UPLOAD, ChooseFavourites, SetAudience

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Category = Annotated[str, Field(min_length=1, max_length=64)]


class MemberOfferOut(BaseModel):
    offer_id: str
    description: str
    first_day: str = Field(description="the window's first local day (inclusive)")
    last_day: str = Field(description="the window's last local day (inclusive)")
    requires_activation: bool
    state: str = Field(description="upcoming | open (to activate) | active")
    activated_at: str | None


class OfferActivatedOut(BaseModel):
    offer_id: str
    member_id: int
    activated_at: str
    state: str


class FavouritesOut(BaseModel):
    rule_id: str
    description: str
    choose: int = Field(description="how many categories the member picks")
    allowed: list[str]
    period: str = Field(description="week | month: one choice per period")
    chosen: list[str] = Field(description="the member's favourites in force today")
    can_choose: bool
    next_change: str | None = Field(description="the first day a new choice is allowed")


class ChooseFavouritesIn(Input):
    """Exactly ``choose`` distinct categories of the rule's list."""

    categories: list[Category] = Field(min_length=1, max_length=50)

    def to_command(self, member_id: int, rule_id: str) -> ChooseFavourites:
        return ChooseFavourites(member_id, rule_id, tuple(self.categories))


class OfferAudienceOut(BaseModel):
    everyone: bool
    listed: bool
    tiers: list[str]
    segments: list[str]


class OfferResultOut(BaseModel):
    offer_id: str
    description: str
    first_day: str
    last_day: str
    requires_activation: bool
    audience: OfferAudienceOut
    listed_members: int = Field(description="members on the uploaded list")
    activations: int
    purchases: int = Field(description="purchases the offer awarded points on")
    members: int = Field(description="members the offer awarded points to")
    points: int = Field(description="points awarded (as booked; returns not taken off)")


class AudienceIn(Input):
    """Members for an offer's list, by id and/or card; ``replace``: the list becomes
    exactly these (otherwise they are added). Any member not in the program refuses the
    whole upload (422, ``details.first_unknown`` and ``details.unknown``: their places in
    ``member_ids`` then ``cards``)."""

    member_ids: list[Id] = Field(default=[], max_length=MAX_AUDIENCE_UPLOAD)
    cards: list[Card] = Field(default=[], max_length=MAX_AUDIENCE_UPLOAD)
    replace: Flag = False

    @model_validator(mode="after")
    def _someone(self) -> AudienceIn:
        if not self.member_ids and not self.cards and not self.replace:
            raise ValueError("give member_ids or cards (or replace: true to empty the list)")
        return self

    def to_command(self, offer_id: str) -> SetAudience:
        refs = [MemberRef(member_id=m) for m in self.member_ids]
        refs += [MemberRef(identifier=(IdentifierKind.CARD, c)) for c in self.cards]
        return SetAudience(offer_id, tuple(refs), self.replace)


class AudienceChangedOut(BaseModel):
    offer_id: str
    listed_members: int
    added: int
    removed: int
