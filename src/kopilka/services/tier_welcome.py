"""The welcome bonus of a tier: the ``tier_reached`` event.

When a member's effective tier rises to a tier they have never been welcomed at, the rules
in force are evaluated for the event ``tier_reached`` (``kind: event, event: tier_reached``,
usually with ``when: {tiers: [gold]}``: the member's tier is the one just reached), with
the attributes ``tier``, ``from_tier`` and ``reason`` (``purchase``, ``review``,
``manual``, ``paid``: a rule may ``match`` on them). What the rules give is credited
through the ledger like any event's points, its entries referencing the tier change
(``tier_change:<id>``). A member is welcomed at a tier once, for good (``tier_welcomes``,
one row per member and tier, written only when points were given): reaching gold again
after losing it gives nothing more, and nothing is ever given twice for one change.
Called by ``services/tiers.py`` in the change's own unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from kopilka.domain.member import MemberStatus
from kopilka.domain.program import Program
from kopilka.domain.rules import evaluate_event
from kopilka.domain.rules.model import RuleSet
from kopilka.ledger.ledger import Ledger
from kopilka.services import usage
from kopilka.services.member_lookup import member_context
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.rules import UsageRepo
from kopilka.store.repos.tier_welcomes import TierWelcomeRepo
from kopilka.store.uow import UnitOfWork

EVENT = "tier_reached"


def welcome(
    uow: UnitOfWork,
    program: Program,
    member_id: int,
    from_tier: str | None,
    to_tier: str,
    reason: str,
    change_id: int | Callable[[], int],
    at: datetime,
    ledger: Ledger | None = None,
    ruleset: RuleSet | None = None,
) -> int:
    """Credit the welcome bonus of ``to_tier`` that the rules in force at ``at`` give
    (none when the rules have no ``tier_reached`` rule, the member was welcomed at this
    tier before, or is blocked); the points credited. ``change_id`` is the tier change's
    id (or a function answering it, called only when points are given); ``ledger``: the
    transaction's ledger when the caller has one (a purchase), so balances stay one;
    ``ruleset``: the rules a purchase was booked under (the version its tier change
    records), so that the purchase needs no second read of the rules in force."""
    if ruleset is None:
        ruleset = active_ruleset(uow, program, at)
    if ruleset is None or EVENT not in ruleset.events:
        return 0
    welcomes = TierWelcomeRepo(uow.conn)
    if welcomes.welcomed(member_id, to_tier):
        return 0
    member = uow.members.get(program.id, member_id, identifiers=False)
    if member.status is not MemberStatus.ACTIVE:
        return 0
    member = replace(member, tier_code=to_tier)
    repo = UsageRepo(uow.conn)
    counters = usage.load(
        repo,
        program.id,
        usage.capped_rules(ruleset, events=EVENT),
        member_id,
        at,
        program.timezone,
    )
    attributes = {"tier": to_tier, "from_tier": from_tier or "", "reason": reason}
    result = evaluate_event(
        ruleset, program, EVENT, attributes, member_context(member), usage=counters, at=at
    )
    if not result.awards:
        return 0
    change = change_id if isinstance(change_id, int) else change_id()
    lg = ledger if ledger is not None else Ledger(uow.ledger, program)
    total = 0
    for award in result.awards:
        own = ruleset.expiries.get(award.rule_id)
        lg.earn(
            member_id,
            award.points,
            at,
            rule_id=award.rule_id,
            rule_version=award.ruleset_version,
            reference=f"tier_change:{change}",
            reason=award.description,
            meta={"tier": to_tier, "tier_change": change},
            expiries=None if own is None else [(award.points, own)],
        )
        total += award.points
    usage.record(repo, program.id, ruleset, result, member_id, at, program.timezone)
    welcomes.add(program.id, member_id, to_tier, change, total, at)
    return total
