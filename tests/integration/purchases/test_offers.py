"""Personal offers and favourite categories through the services, on both databases:
the offer applies only to addressed, activated members in its window, and quote, commit,
preview and return agree; results count activations and uses; favourites are chosen once
a period and applied at quote and commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import (
    FavouritesAlreadyChosen,
    NotFoundError,
    OfferNotAvailable,
    ValidationError,
)
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services import offers, purchases, rules
from kopilka.services.member_lookup import MemberRef
from kopilka.services.offers import ActivateOffer, ChooseFavourites, SetAudience
from kopilka.store.tables import audit_log, member_identifiers
from tests import commands

from .conftest import basket

# the tests' clock starts at 2026-03-14 12:00 UTC (a Saturday; 15:00 in Moscow)
DOCUMENT = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - id: coffee-x3
    kind: multiplier
    factor: 3
    description: "x3 points on coffee this week"
    scope: {categories: [coffee]}
    offer:
      audience: {listed: true, tiers: [gold]}
      requires_activation: true
      window: {from: 2026-03-09, to: 2026-03-15}
  - id: march-bonus
    kind: bonus
    points: 40
    offer:
      audience: {segments: [students]}
      window: {from: 2026-03-01, to: 2026-03-31}
  - id: fav
    kind: favourite_categories
    choose: 2
    from: [dairy, bread, fruit, coffee]
    factor: 2
    period: month
"""

LINES = (("1", "1000", "coffee"), ("2", "500", "dairy"), ("3", "300", "fruit"))


def _by_rule(result) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in result["lines"]:
        for award in line["awards"]:
            out[award["rule_id"]] = out.get(award["rule_id"], 0) + award["points"]
    return out


def _quote_and_book(ctx, program, member_id):
    body = basket(member_id, *LINES)
    quoted = purchases.quote(ctx, program, commands.quote(ctx, program, body))
    booked = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    return body, quoted, booked


def test_offer_needs_address_and_activation_and_quote_commit_return_agree(
    ctx, rules_program, make_member
):
    """Not listed: no x3; listed but not activated: no x3; listed and activated: x3 in the
    quote, the commit and the preview alike; a return claws back exactly the stored award;
    the results count the activation and the use."""
    program = rules_program(DOCUMENT)
    m = make_member(program)
    other = make_member(program)

    _, quoted, booked = _quote_and_book(ctx, program, m)
    assert _by_rule(quoted) == _by_rule(booked) == {"base": 18}
    with pytest.raises(OfferNotAvailable):
        offers.activate_offer(ctx, program, ActivateOffer(m, "coffee-x3"))
    assert offers.member_offers(ctx, program, m) == []

    changed = offers.set_audience(
        ctx, program, SetAudience("coffee-x3", (MemberRef(member_id=m),)), actor="test"
    )
    assert changed["listed_members"] == 1
    [offer] = offers.member_offers(ctx, program, m)
    assert (offer["offer_id"], offer["state"]) == ("coffee-x3", "open")
    _, quoted, booked = _quote_and_book(ctx, program, m)
    assert _by_rule(quoted) == _by_rule(booked) == {"base": 18}

    activated = offers.activate_offer(ctx, program, ActivateOffer(m, "coffee-x3", "app"))
    assert activated["state"] == "active"
    again = offers.activate_offer(ctx, program, ActivateOffer(m, "coffee-x3"))
    assert again["activated_at"] == activated["activated_at"]  # activating twice: the first
    body, quoted, booked = _quote_and_book(ctx, program, m)
    assert _by_rule(quoted) == _by_rule(booked) == {"base": 18, "coffee-x3": 20}
    preview = rules.preview(ctx, program, commands.preview(ctx, program, DOCUMENT, purchase=body))
    assert preview["by_rule"] == {"base": 18, "coffee-x3": 20}
    # the member not listed still gets no x3
    _, quoted, booked = _quote_and_book(ctx, program, other)
    assert _by_rule(booked) == {"base": 18}

    returned = purchases.process_return(
        ctx,
        program,
        commands.return_(body["receipt_id"], {"return_id": "R-1", "lines": [{"line_id": "1"}]}),
    )
    assert returned["points_clawed_back"] == 30  # 10 base + 20 of the offer, as awarded

    [result] = [r for r in offers.offer_results(ctx, program) if r["offer_id"] == "coffee-x3"]
    assert result["listed_members"] == 1
    assert result["activations"] == 1
    assert (result["purchases"], result["members"], result["points"]) == (1, 1, 20)


def test_offer_window_ends(ctx, clock, rules_program, make_member):
    """After its window an activated offer awards nothing and can no longer be activated."""
    program = rules_program(DOCUMENT)
    m = make_member(program, tier_code="gold")
    offers.activate_offer(ctx, program, ActivateOffer(m, "coffee-x3"))
    clock.advance(timedelta(days=2))  # 2026-03-16 in Moscow: the window ended on the 15th
    _, _quoted, booked = _quote_and_book(ctx, program, m)
    assert "coffee-x3" not in _by_rule(booked)
    assert offers.member_offers(ctx, program, m) == []
    late = make_member(program, tier_code="gold")
    with pytest.raises(OfferNotAvailable):
        offers.activate_offer(ctx, program, ActivateOffer(late, "coffee-x3"))


def test_segment_offer_without_activation(ctx, rules_program, make_member):
    """An offer addressed to a segment applies to its members without activation."""
    program = rules_program(DOCUMENT)
    student = make_member(program, attributes={"segments": ["students"]})
    _, quoted, booked = _quote_and_book(ctx, program, student)
    assert _by_rule(quoted)["march-bonus"] == _by_rule(booked)["march-bonus"] == 40
    [offer] = offers.member_offers(ctx, program, student)
    assert (offer["offer_id"], offer["state"]) == ("march-bonus", "active")


def test_audience_upload_by_card_refuses_unknown_and_replaces(ctx, rules_program, make_member):
    """A list names members by id or card; an unknown one refuses the whole upload;
    ``replace`` makes the list exactly the upload; uploads are audited."""
    program = rules_program(DOCUMENT)
    a, b = make_member(program), make_member(program)
    with ctx.uow(read_only=True) as uow:
        card = uow.conn.execute(
            select(member_identifiers.c.value).where(member_identifiers.c.member_id == b)
        ).scalar_one()
    refs = (MemberRef(member_id=a), MemberRef(identifier=(IdentifierKind.CARD, card)))
    with pytest.raises(ValidationError) as caught:
        offers.set_audience(
            ctx,
            program,
            SetAudience("coffee-x3", (*refs, MemberRef(member_id=10**9))),
            actor="test",
        )
    assert caught.value.details["first_unknown"] == 2
    assert offers.offer_results(ctx, program)[0]["listed_members"] == 0
    assert (
        offers.set_audience(ctx, program, SetAudience("coffee-x3", refs), actor="t")[
            "listed_members"
        ]
        == 2
    )
    replaced = offers.set_audience(
        ctx, program, SetAudience("coffee-x3", refs[:1], replace=True), actor="t"
    )
    assert (replaced["listed_members"], replaced["removed"]) == (1, 2)
    with pytest.raises(NotFoundError):
        offers.set_audience(ctx, program, SetAudience("nope", refs), actor="t")
    with ctx.uow(read_only=True) as uow:
        actions = uow.conn.execute(
            select(audit_log.c.action).where(audit_log.c.program_id == program.id)
        ).scalars()
        assert list(actions).count("offer.audience") == 2


def test_favourite_categories_chosen_once_a_period_and_applied(
    ctx, clock, rules_program, make_member
):
    """A member picks 2 of the list; the boost lands on those lines at quote and commit;
    a second choice in March is refused; in April the member may choose again."""
    program = rules_program(DOCUMENT)
    m = make_member(program)
    [view] = offers.member_favourites(ctx, program, m)
    assert (view["can_choose"], view["chosen"]) == (True, [])
    with pytest.raises(ValidationError):
        offers.choose_favourites(ctx, program, ChooseFavourites(m, "fav", ("dairy", "meat")))
    chosen = offers.choose_favourites(ctx, program, ChooseFavourites(m, "fav", ("fruit", "dairy")))
    assert chosen["chosen"] == ["dairy", "fruit"]
    assert chosen["can_choose"] is False
    assert chosen["next_change"] == "2026-04-01"
    _, quoted, booked = _quote_and_book(ctx, program, m)
    assert _by_rule(quoted) == _by_rule(booked) == {"base": 18, "fav": 8}
    with pytest.raises(FavouritesAlreadyChosen):
        offers.choose_favourites(ctx, program, ChooseFavourites(m, "fav", ("coffee", "bread")))
    clock.advance(timedelta(days=19))  # 2 April
    [view] = offers.member_favourites(ctx, program, m)
    assert view["chosen"] == ["dairy", "fruit"]
    assert view["can_choose"] is True
    offers.choose_favourites(ctx, program, ChooseFavourites(m, "fav", ("coffee", "bread")))
    _, quoted, booked = _quote_and_book(ctx, program, m)
    assert _by_rule(booked) == {"base": 18, "fav": 10}
