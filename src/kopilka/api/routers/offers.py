"""Personal offers and favourite categories: a member's offers and favourites (the app on
the member's behalf), and the back office's audiences and results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, ProgramMember, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.offers import (
    AudienceChangedOut,
    AudienceIn,
    ChooseFavouritesIn,
    FavouritesOut,
    MemberOfferOut,
    OfferActivatedOut,
    OfferResultOut,
    RewardOfferResultOut,
)
from kopilka.services import offers as offers_svc
from kopilka.services.apikeys import BOOKING_CHANNEL
from kopilka.services.apikeys import Permission as P
from kopilka.services.offers import (
    ActivateOffer,
    AudienceChanged,
    MemberFavourites,
    MemberOffer,
    OfferActivated,
    OfferResult,
    RewardOfferResult,
)

router = APIRouter(prefix=V1, tags=["offers"])

# a rule id, as a rules document writes it
RulePath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
# an offer: a rule's id, or ``reward:<id>`` for a reward offered as a personal offer
OfferPath = Annotated[
    str,
    Path(max_length=64, pattern=r"^([a-z0-9][a-z0-9_.-]{0,63}|reward:[1-9][0-9]{0,17})$"),
]


@router.get(
    "/members/{member_id:int}/offers",
    response_model=list[MemberOfferOut],
    dependencies=[permit(P.MEMBERS_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def member_offers(member_id: ProgramMember, ctx: Ctx, program: CurrentProgram) -> list[MemberOffer]:
    """The personal offers addressed to the member today: to activate (``open``), not yet
    begun (``upcoming``, activated early) or ``active``; a rule's (``kind: rule``) or a
    reward of the catalog the member must activate before redeeming it (``kind: reward``,
    ``offer_id`` ``reward:<id>``)."""
    return offers_svc.member_offers(ctx, program, member_id)


@router.post(
    "/members/{member_id:int}/offers/{offer_id}/activate",
    response_model=OfferActivatedOut,
    dependencies=[permit(P.MEMBERS_UPDATE)],
    responses=responses("unauthorized", "forbidden", "not_found", "offer_not_available"),
)
def activate_offer(
    member_id: ProgramMember,
    offer_id: OfferPath,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> OfferActivated:
    """The member activates an offer (``members:update``: the app's back end for its
    member, or support): a rule's id, or ``reward:<id>`` for a reward offer (redeemable
    once activated). Activating again answers the first activation; an offer not addressed
    to the member (for a reward: not visible to them) or over is ``409
    offer_not_available``."""
    channel = BOOKING_CHANNEL.get(key.role, "app")
    return offers_svc.activate_offer(ctx, program, ActivateOffer(member_id, offer_id, channel))


@router.get(
    "/members/{member_id:int}/favourites",
    response_model=list[FavouritesOut],
    dependencies=[permit(P.MEMBERS_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def member_favourites(
    member_id: ProgramMember, ctx: Ctx, program: CurrentProgram
) -> list[MemberFavourites]:
    """The program's favourite categories rules, each with the member's choice today."""
    return offers_svc.member_favourites(ctx, program, member_id)


@router.put(
    "/members/{member_id:int}/favourites/{rule_id}",
    response_model=FavouritesOut,
    dependencies=[permit(P.MEMBERS_UPDATE)],
    responses=responses("unauthorized", "forbidden", "not_found", "favourites_already_chosen"),
)
def choose_favourites(
    member_id: ProgramMember,
    rule_id: RulePath,
    body: ChooseFavouritesIn,
    ctx: Ctx,
    program: CurrentProgram,
) -> MemberFavourites:
    """The member picks their favourite categories for the current period: exactly
    ``choose`` of the rule's list (422 otherwise); once a period (``409
    favourites_already_chosen`` with ``details.next_change``)."""
    return offers_svc.choose_favourites(ctx, program, body.to_command(member_id, rule_id))


@router.get(
    "/offers",
    response_model=list[OfferResultOut],
    dependencies=[permit(P.RULES_READ)],
    responses=responses("unauthorized", "forbidden"),
)
def offer_results(ctx: Ctx, program: CurrentProgram) -> list[OfferResult]:
    """The offers of the rules in force with their audience and results: members listed,
    activations, and the purchases, members and points they awarded."""
    return offers_svc.offer_results(ctx, program)


@router.get(
    "/offers/rewards",
    response_model=list[RewardOfferResultOut],
    dependencies=[permit(P.REWARDS_READ)],
    responses=responses("unauthorized", "forbidden"),
)
def reward_offer_results(ctx: Ctx, program: CurrentProgram) -> list[RewardOfferResult]:
    """The catalog's rewards offered as personal offers (``requires_activation``), with
    their audience, activations, redemptions and uses."""
    return offers_svc.reward_offer_results(ctx, program)


@router.post(
    "/offers/{offer_id}/audience",
    response_model=AudienceChangedOut,
    dependencies=[permit(P.RULES_PUBLISH)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def set_audience(
    offer_id: RulePath,
    body: AudienceIn,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> AudienceChanged:
    """Upload members to an offer's list (``rules:publish``: marketers and admins); audited
    as ``offer.audience``."""
    return offers_svc.set_audience(ctx, program, body.to_command(offer_id), actor=key.actor)
