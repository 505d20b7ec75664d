"""The console's offers page: offers with audience and results; a marketer uploads a list
by card; an analyst reads but cannot upload; a bad list writes nothing."""

from __future__ import annotations

from kopilka.services import offers as offers_svc
from kopilka.services import rules
from tests.e2e.web.test_portal_offers import OFFERS
from tests.e2e.web.world import hidden_fields, sign_in, text_of


def test_offers_page_upload_and_results(world, anon):
    """An admin sees the offers and their audience; uploads the member by card (a member
    id that does not exist refuses the whole list); the figures follow."""
    rules.publish(world.ctx, world.program, OFFERS, actor="test")
    sign_in(anon, world.keys["admin"])
    page = anon.get("/admin/offers")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "coffee-x3" in text
    assert "segments: students" in text
    fields = hidden_fields(page.text, "/admin/offers/audience")
    bad = anon.post(
        "/admin/offers/audience",
        data={**fields, "offer_id": "coffee-x3", "kind": "member_id", "members": "99999999\n"},
    )
    assert bad.status_code == 422
    assert offers_svc.offer_results(world.ctx, world.program)[0]["listed_members"] == 0
    done = anon.post(
        "/admin/offers/audience",
        data={**fields, "offer_id": "coffee-x3", "kind": "card", "members": f"\n{world.card}\n"},
    )
    assert done.status_code == 303
    page = anon.get(done.headers["location"])
    assert "The list is saved: 1 members listed." in text_of(page.text)
    [coffee] = [
        r
        for r in offers_svc.offer_results(world.ctx, world.program)
        if r["offer_id"] == "coffee-x3"
    ]
    assert coffee["listed_members"] == 1
