"""Personal offers and favourite categories: a member's offers and their activation, a
member's choice of favourite categories, and the back office's audiences and results.

The offers themselves are rules of the program's rules document (``offer:`` on a purchase
rule, ``kind: favourite_categories``; see docs/rules.md); the engine applies them through
``services/offer_facts.py``. Here: who is listed for an offer (uploaded by the back office),
who activated it, who chose which categories, and what each offer awarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypedDict
from zoneinfo import ZoneInfo

from kopilka.domain.errors import FavouritesAlreadyChosen, NotFoundError, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rules import RuleSet
from kopilka.domain.rules.offers import (
    ENDED,
    FavouriteSpec,
    OfferSpec,
    check_activation,
    check_choice,
    check_new_choice,
    choice_in_force,
    choice_period,
)
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef, member_context, resolve_member
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.offers import OfferRepo
from kopilka.store.uow import UnitOfWork

MAX_AUDIENCE_UPLOAD = 100_000  # members per upload


# --- results --------------------------------------------------------------------------


class MemberOffer(TypedDict):
    """An offer addressed to the member, and where it stands for them today."""

    offer_id: str
    description: str
    first_day: str
    last_day: str
    requires_activation: bool
    state: str  # upcoming | open (to activate) | active | ended
    activated_at: str | None


class OfferActivated(TypedDict):
    offer_id: str
    member_id: int
    activated_at: str
    state: str


class MemberFavourites(TypedDict):
    """A favourite categories rule as the member sees it: what to choose from, what they
    chose (in force today), and whether they may choose now."""

    rule_id: str
    description: str
    choose: int
    allowed: list[str]
    period: str
    chosen: list[str]
    can_choose: bool
    next_change: str | None


class OfferAudienceView(TypedDict):
    everyone: bool
    listed: bool
    tiers: list[str]
    segments: list[str]


class OfferResult(TypedDict):
    """An offer of the rules in force, its audience, and its results: members listed,
    activations, and what it awarded (purchases, members, points)."""

    offer_id: str
    description: str
    first_day: str
    last_day: str
    requires_activation: bool
    audience: OfferAudienceView
    listed_members: int
    activations: int
    purchases: int
    members: int
    points: int


class AudienceChanged(TypedDict):
    offer_id: str
    listed_members: int
    added: int
    removed: int


# --- commands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivateOffer:
    """The member activates an offer (in the portal or through the app's API)."""

    member_id: int
    offer_id: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ChooseFavourites:
    """The member picks their favourite categories of a ``favourite_categories`` rule."""

    member_id: int
    rule_id: str
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetAudience:
    """The back office lists members for an offer: adds them, or with ``replace`` makes
    them the whole list."""

    offer_id: str
    members: tuple[MemberRef, ...]
    replace: bool = False

    def __post_init__(self) -> None:
        if len(self.members) > MAX_AUDIENCE_UPLOAD:
            raise ValidationError(
                msg("at most %(count)s members per upload", count=MAX_AUDIENCE_UPLOAD),
                field="members",
            )


# --- helpers --------------------------------------------------------------------------


def _rules_now(uow: UnitOfWork, program: Program, now: datetime) -> RuleSet:
    ruleset = active_ruleset(uow, program, now)
    if ruleset is None:
        raise NotFoundError(msg("the program has no published rules"))
    return ruleset


def _offer(ruleset: RuleSet, offer_id: str) -> OfferSpec:
    spec = ruleset.offers.get(offer_id)
    if spec is None:
        raise NotFoundError(msg("no offer %(offer)s in the rules in force", offer=repr(offer_id)))
    return spec


def _favourite(ruleset: RuleSet, rule_id: str) -> FavouriteSpec:
    spec = ruleset.favourites.get(rule_id)
    if spec is None:
        raise NotFoundError(
            msg("no favourite categories rule %(rule)s in the rules in force", rule=repr(rule_id))
        )
    return spec


def _today(program: Program, now: datetime) -> date:
    return now.astimezone(ZoneInfo(program.timezone)).date()


# --- the member's offers --------------------------------------------------------------


def member_offers(ctx: ServiceContext, program: Program, member_id: int) -> list[MemberOffer]:
    """The offers of the rules in force addressed to the member, with their state today
    (ended ones left out), soonest ending first."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id, identifiers=False)
        ruleset = active_ruleset(uow, program, now)
        if ruleset is None or not ruleset.offers:
            return []
        repo = OfferRepo(uow.conn)
        listed = repo.listed_for(program.id, member_id)
        activated = repo.activated_by(program.id, member_id)
    who = member_context(member)
    day = _today(program, now)
    out: list[MemberOffer] = []
    for spec in ruleset.offers.values():
        if not spec.addresses(who, spec.rule_id in listed):
            continue
        at = activated.get(spec.rule_id)
        state = spec.state(day, at is not None)
        if state == ENDED:
            continue
        out.append(
            {
                "offer_id": spec.rule_id,
                "description": spec.description,
                "first_day": spec.first_day.isoformat(),
                "last_day": spec.last_day.isoformat(),
                "requires_activation": spec.requires_activation,
                "state": state,
                "activated_at": at.isoformat() if at is not None else None,
            }
        )
    out.sort(key=lambda o: (o["last_day"], o["offer_id"]))
    return out


def activate_offer(ctx: ServiceContext, program: Program, cmd: ActivateOffer) -> OfferActivated:
    """Activate an offer for the member: addressed to them and not over (409
    ``offer_not_available`` otherwise); activating again answers the first activation."""
    now = ctx.now()
    with ctx.uow() as uow:
        member = uow.members.get(program.id, cmd.member_id, identifiers=False)
        ruleset = _rules_now(uow, program, now)
        spec = _offer(ruleset, cmd.offer_id)
        repo = OfferRepo(uow.conn)
        listed = cmd.offer_id in repo.listed_for(program.id, cmd.member_id)
        day = _today(program, now)
        check_activation(spec, member_context(member), listed, day)
        at = repo.activate(program.id, cmd.offer_id, cmd.member_id, now, cmd.channel)
        uow.commit()
    return {
        "offer_id": cmd.offer_id,
        "member_id": cmd.member_id,
        "activated_at": at.isoformat(),
        "state": spec.state(day, True),
    }


# --- favourite categories -------------------------------------------------------------


def _favourites_view(
    spec: FavouriteSpec, day: date, choices: Sequence[tuple[date, tuple[str, ...]]]
) -> MemberFavourites:
    period = choice_period(day, spec.period)
    latest = max((start for start, _ in choices), default=None)
    can_choose = latest is None or latest < period
    next_change = None
    if not can_choose:
        try:
            check_new_choice(spec, day, latest)
        except FavouritesAlreadyChosen as refused:
            next_change = str(refused.details["next_change"])
    return {
        "rule_id": spec.rule_id,
        "description": spec.description,
        "choose": spec.choose,
        "allowed": list(spec.allowed),
        "period": spec.period,
        "chosen": sorted(choice_in_force(spec, day, choices)),
        "can_choose": can_choose,
        "next_change": next_change,
    }


def member_favourites(
    ctx: ServiceContext, program: Program, member_id: int
) -> list[MemberFavourites]:
    """The favourite categories rules in force, each with the member's choice today."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)  # not_found otherwise
        ruleset = active_ruleset(uow, program, now)
        if ruleset is None or not ruleset.favourites:
            return []
        choices = OfferRepo(uow.conn).choices_of(program.id, member_id)
    day = _today(program, now)
    return [
        _favourites_view(spec, day, choices.get(rule_id, []))
        for rule_id, spec in sorted(ruleset.favourites.items())
    ]


def choose_favourites(
    ctx: ServiceContext, program: Program, cmd: ChooseFavourites
) -> MemberFavourites:
    """Store the member's choice for the current period: exactly ``choose`` categories of
    the rule's list (422), once per period (409 ``favourites_already_chosen``, with
    ``details.next_change``). It applies to purchases from now on."""
    now = ctx.now()
    day = _today(program, now)
    with ctx.uow() as uow:
        uow.members.get(program.id, cmd.member_id, identifiers=False)
        ruleset = _rules_now(uow, program, now)
        spec = _favourite(ruleset, cmd.rule_id)
        picked = check_choice(spec, cmd.categories)
        repo = OfferRepo(uow.conn)
        mine = repo.choices_of(program.id, cmd.member_id).get(cmd.rule_id, [])
        latest = max((start for start, _ in mine), default=None)
        period = check_new_choice(spec, day, latest)
        if not repo.add_choice(program.id, cmd.rule_id, cmd.member_id, period, picked, now):
            # a simultaneous choice of the same period was stored first
            check_new_choice(spec, day, period)
        uow.commit()
    return _favourites_view(spec, day, [*mine, (period, picked)])


# --- the back office ------------------------------------------------------------------


def offer_results(ctx: ServiceContext, program: Program) -> list[OfferResult]:
    """Every offer of the rules in force, with its audience and results."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        ruleset = active_ruleset(uow, program, now)
        if ruleset is None or not ruleset.offers:
            return []
        repo = OfferRepo(uow.conn)
        sizes = repo.audience_sizes(program.id)
        activations = repo.activation_counts(program.id)
        uses = repo.uses(program.id, ruleset.offers)
    out: list[OfferResult] = []
    for offer_id, spec in sorted(ruleset.offers.items()):
        use = uses.get(offer_id)
        out.append(
            {
                "offer_id": offer_id,
                "description": spec.description,
                "first_day": spec.first_day.isoformat(),
                "last_day": spec.last_day.isoformat(),
                "requires_activation": spec.requires_activation,
                "audience": {
                    "everyone": spec.everyone,
                    "listed": spec.listed,
                    "tiers": sorted(spec.tiers),
                    "segments": sorted(spec.segments),
                },
                "listed_members": sizes.get(offer_id, 0),
                "activations": activations.get(offer_id, 0),
                "purchases": use.purchases if use else 0,
                "members": use.members if use else 0,
                "points": use.points if use else 0,
            }
        )
    return out


def set_audience(
    ctx: ServiceContext, program: Program, cmd: SetAudience, *, actor: str
) -> AudienceChanged:
    """List members for an offer of the rules in force (by id or identifier; any unknown
    member refuses the whole upload, 422 with ``details.unknown``: their places in the
    list, the first hundred, and ``details.first_unknown``; nothing written);
    audited as ``offer.audience``."""
    now = ctx.now()
    with ctx.uow() as uow:
        _offer(_rules_now(uow, program, now), cmd.offer_id)
        ids: list[int] = []
        unknown: list[int] = []
        for n, ref in enumerate(cmd.members):
            try:
                member_id = resolve_member(uow, program, ref)
                uow.members.get(program.id, member_id, identifiers=False)
            except NotFoundError:
                unknown.append(n)
                continue
            ids.append(member_id)
        if unknown:
            raise ValidationError(
                msg("%(count)s members of the list are not in the program", count=len(unknown)),
                field="members",
                unknown=", ".join(str(n) for n in unknown[:100]),
                first_unknown=unknown[0],
            )
        repo = OfferRepo(uow.conn)
        before = repo.audience_sizes(program.id).get(cmd.offer_id, 0)
        removed = repo.clear_audience(program.id, cmd.offer_id) if cmd.replace else 0
        unique = sorted(set(ids))
        repo.add_to_audience(program.id, cmd.offer_id, unique, now)
        after = repo.audience_sizes(program.id).get(cmd.offer_id, 0)
        AuditLogRepo(uow.conn).add(
            program.id,
            actor,
            "offer.audience",
            f"offer:{cmd.offer_id}",
            {"listed_members": before},
            {"listed_members": after, "replace": cmd.replace, "uploaded": len(unique)},
            now,
        )
        uow.commit()
    return {
        "offer_id": cmd.offer_id,
        "listed_members": after,
        "added": after - (before - removed),
        "removed": removed,
    }
