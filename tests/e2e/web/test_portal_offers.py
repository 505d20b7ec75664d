"""The portal's personal offers and favourite categories: the member sees the offers
addressed to them and activates one, and picks their favourite categories once a month;
a personal offer is not listed under "How to earn" for everyone."""

from __future__ import annotations

from kopilka.services import offers as offers_svc
from kopilka.services import rules
from tests.e2e.web.world import RULES, hidden_fields, portal_sign_in, text_of

# the tests' clock: 2026-03-14 (Moscow)
OFFERS = RULES.replace(
    "redemption:",
    """  - id: coffee-x3
    kind: multiplier
    description: "x3 points on coffee this week"
    factor: 3
    scope: {categories: [coffee]}
    offer:
      audience: {everyone: true}
      requires_activation: true
      window: {from: 2026-03-09, to: 2026-03-15}
  - id: students
    kind: bonus
    description: "Student bonus"
    points: 10
    offer:
      audience: {segments: [students]}
      window: {from: 2026-03-01, to: 2026-03-31}
  - id: fav
    kind: favourite_categories
    description: "Two favourite categories: double points"
    choose: 2
    from: [dairy, bread, fruit]
    factor: 2
redemption:""",
)


def test_member_activates_an_offer_and_picks_favourites(world, anon):
    """The offer for everyone is shown to activate, the segment's offer is not shown; after
    activating it says active; favourites are saved, then the form is gone until April."""
    rules.publish(world.ctx, world.program, OFFERS, actor="test")
    assert portal_sign_in(anon, world).status_code == 303
    page = anon.get("/portal")
    text = text_of(page.text)
    assert "x3 points on coffee this week" in text
    assert "Student bonus" not in text  # not addressed to this member
    form = hidden_fields(page.text, "/portal/offers/activate")
    done = anon.post("/portal/offers/activate", data=form)
    assert done.status_code == 303
    page = anon.get(done.headers["location"])
    assert "The offer is activated." in text_of(page.text)
    [offer] = offers_svc.member_offers(world.ctx, world.program, world.member_id)
    assert offer["state"] == "active"

    fields = hidden_fields(page.text, "/portal/favourites")
    bad = anon.post(
        "/portal/favourites", data={**fields, "category_0": "dairy", "category_1": "dairy"}
    )
    assert bad.status_code == 422
    saved = anon.post(
        "/portal/favourites", data={**fields, "category_0": "dairy", "category_1": "fruit"}
    )
    assert saved.status_code == 303
    page = anon.get(saved.headers["location"])
    text = text_of(page.text)
    assert "Your favourites: dairy, fruit" in text
    assert "You can choose again from 2026-04-01" in text
    assert 'action="/portal/favourites"' not in page.text


def test_portal_offers_in_russian(world, anon):
    """The sections read in Russian on a Russian page."""
    rules.publish(world.ctx, world.program, OFFERS, actor="test")
    portal_sign_in(anon, world)
    page = anon.get("/portal", headers={"Accept-Language": "ru"})
    text = text_of(page.text)
    assert "Мои предложения" in text
    assert "Любимые категории" in text
    assert "Активировать" in text
