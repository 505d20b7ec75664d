"""The member's personal offers and favourite categories as the rules engine reads them.

Quotes, purchases, rule previews and the importer evaluate a basket for a member; when the
rule set has personal offers or favourite categories rules, what the member has of them is
read here (the lists, activations and choices in the database) and put into the member's
:class:`MemberContext`, so that every path awards alike. It sits apart from
``services/offers.py`` (the use cases) so that purchases and rules need not import those.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

from kopilka.domain.program import Program
from kopilka.domain.rules import MemberContext, RuleSet
from kopilka.domain.rules.offers import choice_in_force, offers_in_force
from kopilka.store.repos.offers import OfferRepo
from kopilka.store.uow import UnitOfWork


def with_offers(
    uow: UnitOfWork, program: Program, ruleset: RuleSet, who: MemberContext, at: datetime
) -> MemberContext:
    """``who`` with the offers in force for them at ``at`` and their favourite categories
    then (local date of the program's time zone); ``who`` itself when the rules have
    neither, without a query."""
    if not ruleset.offers and not ruleset.favourites:
        return who
    repo = OfferRepo(uow.conn)
    member_id = int(who.member_id)
    day = at.astimezone(ZoneInfo(program.timezone)).date()
    offers: frozenset[str] = frozenset()
    if ruleset.offers:
        specs = ruleset.offers.values()
        listed = repo.listed_for(program.id, member_id) if any(s.listed for s in specs) else set()
        activated = (
            repo.activated_by(program.id, member_id)
            if any(s.requires_activation for s in specs)
            else {}
        )
        offers = offers_in_force(ruleset.offers, who, day, listed, activated)
    favourites: dict[str, frozenset[str]] = {}
    if ruleset.favourites:
        choices = repo.choices_of(program.id, member_id)
        for rule_id, spec in ruleset.favourites.items():
            chosen = choice_in_force(spec, day, choices.get(rule_id, ()))
            if chosen:
                favourites[rule_id] = chosen
    return dataclasses.replace(who, offers=offers, favourites=favourites)
