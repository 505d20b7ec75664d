"""Personal offers and favourite categories: a member's offers and their activation, a
member's choice of favourite categories, and the back office's audiences and results.

The offers themselves are rules of the program's rules document (``offer:`` on a purchase
rule, ``kind: favourite_categories``; see docs/rules.md); the engine applies them through
``services/offer_facts.py``. Here: who is listed for an offer (uploaded by the back office),
who activated it, who chose which categories, and what each offer awarded.

A reward of the catalog with ``requires_activation`` is an offer too (kind ``reward``, id
``reward:<id>``): addressed to the members the reward is visible to, for the reward's
availability window; its activation is stored like a rule offer's and lets the member
redeem it (``services/rewards/redeem.py`` asks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from kopilka.domain.errors import FavouritesAlreadyChosen, NotFoundError, ValidationError
from kopilka.domain.member import Member
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rewards import (
    MemberStanding,
    Reward,
    check_offer_activation,
    offer_state,
    reward_of_offer,
    reward_offer_id,
)
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
from kopilka.services.rewards.redeem import tier_ranks
from kopilka.services.rewards.views import Names, names
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.offers import OfferRepo
from kopilka.store.repos.rewards import RewardRepo
from kopilka.store.uow import UnitOfWork

MAX_AUDIENCE_UPLOAD = 100_000  # members per upload


# --- results --------------------------------------------------------------------------


class MemberOffer(TypedDict):
    """An offer addressed to the member, and where it stands for them today: a rule's
    (``kind`` ``rule``) or a reward's (``reward``: ``reward_id`` and its ``name``; its days
    are those of the reward's window, None where it has no start or end)."""

    offer_id: str
    kind: str  # rule | reward
    description: str
    first_day: str | None
    last_day: str | None
    requires_activation: bool
    state: str  # upcoming | open (to activate) | active | ended
    activated_at: str | None
    reward_id: int | None
    name: Names | None


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


class RewardOfferAudience(TypedDict):
    tiers: list[str]
    segments: list[str]
    members: int  # members listed by id on the reward


class RewardOfferResult(TypedDict):
    """A reward offered as a personal offer, for the back office: its window and audience,
    how many members activated it, and how many redeemed it (issued) and used it."""

    offer_id: str
    reward_id: int
    code: str
    name: Names
    active: bool
    starts_at: str | None
    ends_at: str | None
    audience: RewardOfferAudience
    activations: int
    redeemed: int
    used: int


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


def _local_day(program: Program, at: datetime | None, *, end: bool = False) -> str | None:
    """The local date of a moment of a reward's window (an end is exclusive: its last day
    is the day of the moment just before it)."""
    if at is None:
        return None
    moment = at - timedelta(microseconds=1) if end else at
    return moment.astimezone(ZoneInfo(program.timezone)).date().isoformat()


def _reward_offers(
    uow: UnitOfWork,
    program: Program,
    member: Member,
    activated: dict[str, datetime],
    now: datetime,
) -> list[MemberOffer]:
    """The catalog's rewards that are offers visible to the member and not over."""
    rewards = [r for r in RewardRepo(uow.conn).all(program.id) if r.requires_activation]
    if not rewards:
        return []
    ranks = tier_ranks(uow, program, now)
    rank = ranks.get(member.tier_code or "", -1)
    segments = member_context(member).segments
    out: list[MemberOffer] = []
    for reward in rewards:
        if not reward.audience.admits(member.id, member.tier_code, segments):
            continue
        offer_id = reward_offer_id(reward.id)
        at = activated.get(offer_id)
        opens = reward.opens_for(rank, ranks)
        state = offer_state(reward, now, opens, at is not None)
        if state == ENDED:
            continue
        out.append(
            {
                "offer_id": offer_id,
                "kind": "reward",
                "description": reward.name.en,
                "first_day": _local_day(program, opens),
                "last_day": _local_day(program, reward.ends_at, end=True),
                "requires_activation": True,
                "state": state,
                "activated_at": at.isoformat() if at is not None else None,
                "reward_id": reward.id,
                "name": names(reward.name.en, reward.name.ru),
            }
        )
    return out


def member_offers(ctx: ServiceContext, program: Program, member_id: int) -> list[MemberOffer]:
    """The offers addressed to the member, with their state today (ended ones left out),
    soonest ending first (those without an end last): the rules in force's, and the
    catalog's rewards offered as personal offers that are visible to the member."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id, identifiers=False)
        ruleset = active_ruleset(uow, program, now)
        repo = OfferRepo(uow.conn)
        listed = repo.listed_for(program.id, member_id)
        activated = repo.activated_by(program.id, member_id)
        out = _reward_offers(uow, program, member, activated, now)
    who = member_context(member)
    day = _today(program, now)
    for spec in ruleset.offers.values() if ruleset is not None else ():
        if not spec.addresses(who, spec.rule_id in listed):
            continue
        at = activated.get(spec.rule_id)
        state = spec.state(day, at is not None)
        if state == ENDED:
            continue
        out.append(
            {
                "offer_id": spec.rule_id,
                "kind": "rule",
                "description": spec.description,
                "first_day": spec.first_day.isoformat(),
                "last_day": spec.last_day.isoformat(),
                "requires_activation": spec.requires_activation,
                "state": state,
                "activated_at": at.isoformat() if at is not None else None,
                "reward_id": None,
                "name": None,
            }
        )
    out.sort(key=lambda o: (o["last_day"] or "9999-12-31", o["offer_id"]))
    return out


def activate_offer(ctx: ServiceContext, program: Program, cmd: ActivateOffer) -> OfferActivated:
    """Activate an offer for the member: addressed to them and not over (409
    ``offer_not_available`` otherwise); activating again answers the first activation.
    ``reward:<id>`` names a reward offered as a personal offer (404 when the reward is not
    one)."""
    reward_id = reward_of_offer(cmd.offer_id)
    if reward_id is not None:
        return _activate_reward_offer(ctx, program, cmd, reward_id)
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


def _reward_offer(uow: UnitOfWork, program: Program, offer_id: str, reward_id: int) -> Reward:
    reward = RewardRepo(uow.conn).get(program.id, reward_id)
    if reward is None or not reward.requires_activation:
        raise NotFoundError(msg("no offer %(offer)s", offer=repr(offer_id)))
    return reward


def _activate_reward_offer(
    ctx: ServiceContext, program: Program, cmd: ActivateOffer, reward_id: int
) -> OfferActivated:
    """Activate a reward offer: the reward is visible to the member and not withdrawn or
    ended (409 ``offer_not_available`` otherwise); a second activation keeps the first."""
    now = ctx.now()
    with ctx.uow() as uow:
        member = uow.members.get(program.id, cmd.member_id, identifiers=False)
        reward = _reward_offer(uow, program, cmd.offer_id, reward_id)
        ranks = tier_ranks(uow, program, now)
        rank = ranks.get(member.tier_code or "", -1)
        segments = member_context(member).segments
        who = MemberStanding(cmd.member_id, member.tier_code, rank, segments=segments)
        check_offer_activation(reward, who, now)
        at = OfferRepo(uow.conn).activate(program.id, cmd.offer_id, cmd.member_id, now, cmd.channel)
        uow.commit()
    return {
        "offer_id": cmd.offer_id,
        "member_id": cmd.member_id,
        "activated_at": at.isoformat(),
        "state": offer_state(reward, now, reward.opens_for(rank, ranks), True),
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


def reward_offer_results(ctx: ServiceContext, program: Program) -> list[RewardOfferResult]:
    """Every reward of the catalog offered as a personal offer (withdrawn ones too), by
    code, with its audience, activations, redemptions (issued) and uses."""
    with ctx.uow(read_only=True) as uow:
        repo = RewardRepo(uow.conn)
        offered = [r for r in repo.all(program.id) if r.requires_activation]
        if not offered:
            return []
        figures = repo.figures(program.id)
        activations = OfferRepo(uow.conn).activation_counts(program.id)
    out: list[RewardOfferResult] = []
    for reward in offered:
        offer_id = reward_offer_id(reward.id)
        f = figures.get(reward.id)
        out.append(
            {
                "offer_id": offer_id,
                "reward_id": reward.id,
                "code": reward.code,
                "name": names(reward.name.en, reward.name.ru),
                "active": reward.active,
                "starts_at": reward.starts_at.isoformat() if reward.starts_at else None,
                "ends_at": reward.ends_at.isoformat() if reward.ends_at else None,
                "audience": {
                    "tiers": list(reward.audience.tiers),
                    "segments": list(reward.audience.segments),
                    "members": len(reward.audience.members),
                },
                "activations": activations.get(offer_id, 0),
                "redeemed": f.issued if f else 0,
                "used": f.used if f else 0,
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
