"""A reward offered as a personal offer through the pages: a marketer ticks "a personal
offer" on the console's new-reward form; the member finds it on the rewards page and under
"My offers" with an Activate button, redeeming before activating is refused with the
points untouched, activating lets them get it; the console's offers page counts the
activation and the redemption; the portal reads in Russian too."""

from __future__ import annotations

from kopilka.services import rewards as rewards_svc
from kopilka.services.balance_view import balance_view
from tests.e2e.web.world import hidden_fields, portal_sign_in, text_of

OFFER_FORM = {
    "code": "offer-mug",
    "kind": "gift",
    "name_en": "Offer mug",
    "name_ru": "Кружка-предложение",
    "points": "5",
    "requires_activation": "1",
}


def test_activate_then_redeem_in_the_portal(world, as_role, anon):
    """The path from the console's form to the member's coupon, with a refusal first."""
    marketer = as_role("marketer")
    page = marketer.get("/admin/rewards")
    made = marketer.post(
        "/admin/rewards", data={**hidden_fields(page.text, "/admin/rewards"), **OFFER_FORM}
    )
    assert made.status_code == 303, made.text
    (reward,) = [
        r for r in rewards_svc.catalog(world.ctx, world.program) if r["code"] == "offer-mug"
    ]
    assert reward["requires_activation"] is True
    assert "personal offer: activated first" in text_of(marketer.get("/admin/rewards").text)
    rid = reward["id"]

    portal_sign_in(anon, world)
    home = anon.get("/portal")
    assert "Offer mug" in text_of(home.text)
    assert f'value="reward:{rid}"' in home.text  # its Activate form under "My offers"
    listed = anon.get("/portal/rewards")
    text = text_of(listed.text)
    assert "Your personal offer: activate it to get the reward." in text
    assert f'href="/portal/rewards/{rid}/redeem"' not in listed.text

    before = balance_view(world.ctx, world.program, world.member_id).available
    confirm = anon.get(f"/portal/rewards/{rid}/redeem")
    fields = hidden_fields(confirm.text, f"/portal/rewards/{rid}/redeem")
    refused = anon.post(f"/portal/rewards/{rid}/redeem", data=fields)
    assert refused.status_code == 409
    assert "activate the offer of reward offer-mug first" in text_of(refused.text)
    assert balance_view(world.ctx, world.program, world.member_id).available == before
    assert rewards_svc.member_rewards(world.ctx, world.program, world.member_id) == []

    form = hidden_fields(listed.text, f"/portal/rewards/{rid}/activate")
    done = anon.post(f"/portal/rewards/{rid}/activate", data=form)
    assert done.status_code == 303
    assert done.headers["location"] == "/portal/rewards?done=1"
    again = anon.post(f"/portal/rewards/{rid}/activate", data=form)  # changes nothing
    assert again.status_code == 303
    listed = anon.get(done.headers["location"])
    assert "The offer is activated: the reward can be yours." in text_of(listed.text)
    assert f'href="/portal/rewards/{rid}/redeem"' in listed.text
    confirm = anon.get(f"/portal/rewards/{rid}/redeem")
    fields = hidden_fields(confirm.text, f"/portal/rewards/{rid}/redeem")
    got = anon.post(f"/portal/rewards/{rid}/redeem", data=fields)
    assert got.status_code == 303
    assert balance_view(world.ctx, world.program, world.member_id).available == before - 5

    offers_page = as_role("admin").get("/admin/offers")
    assert offers_page.status_code == 200
    text = text_of(offers_page.text)
    assert "Reward offers" in text
    assert "offer-mug" in text
    row = next(r for r in offers_page.text.split("<tr>") if "offer-mug" in r)
    assert [c for c in text_of(row).split() if c.isdigit()][-3:] == ["1", "1", "0"]


def test_reward_offer_in_russian(world, as_role, anon):
    """The rewards page and "My offers" name the offer and its button in Russian."""
    marketer = as_role("marketer")
    page = marketer.get("/admin/rewards")
    marketer.post(
        "/admin/rewards", data={**hidden_fields(page.text, "/admin/rewards"), **OFFER_FORM}
    )
    portal_sign_in(anon, world)
    ru = {"Accept-Language": "ru"}
    text = text_of(anon.get("/portal/rewards", headers=ru).text)
    assert "Ваше персональное предложение: активируйте его" in text
    assert "Активировать" in text
    assert "Кружка-предложение" in text_of(anon.get("/portal", headers=ru).text)
