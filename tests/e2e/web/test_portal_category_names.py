"""Category names for members: with a ``categories:`` section in the rules in force, the
portal shows each category by its name in the page's language (the favourite categories
to pick and those picked, a personal offer's categories, a coupon's categories), a code
without a name as it is; the console's catalog names a coupon's categories too."""

from __future__ import annotations

from kopilka.domain.rewards import CouponKind, CouponTerms, Reward, RewardKind, Text
from kopilka.services import rewards as rewards_svc
from kopilka.services import rules
from tests.e2e.web.test_portal_offers import OFFERS
from tests.e2e.web.world import hidden_fields, portal_sign_in, text_of

NAMED = OFFERS.replace(
    "redemption:",
    """categories:
  dairy: {ru: Молочное, en: Dairy products}
  coffee: {ru: Кофе, en: Coffee beans}
  bread: {ru: Хлеб, en: Bread}
redemption:""",
)
RU = {"Accept-Language": "ru"}


def _coupon_on_dairy(world) -> None:
    coupon = Reward(
        0,
        0,
        "dairy-10",
        RewardKind.COUPON,
        Text("Ten off", "Минус десять"),
        Text("", ""),
        5,
        coupon=CouponTerms(CouponKind.PERCENT, 10, 0, ("dairy", "fruit")),
    )
    rewards_svc.save_reward(world.ctx, world.program, rewards_svc.SaveReward(coupon, "t"))


def test_the_portal_names_categories_in_english_and_russian(world, anon):
    """The same pages in both languages: the names of the page's language, "fruit" (no
    name) as its code; the form still sends the codes."""
    rules.publish(world.ctx, world.program, NAMED, actor="test")
    _coupon_on_dairy(world)
    portal_sign_in(anon, world)

    en = anon.get("/portal")
    text = text_of(en.text)
    assert '<option value="dairy" selected>Dairy products</option>' in en.text
    assert '<option value="fruit">fruit</option>' in en.text
    assert "Categories: Coffee beans" in text  # the personal offer's
    assert "Categories: Dairy products" in text  # "how to earn": dairy-x2
    ru = anon.get("/portal", headers=RU)
    text = text_of(ru.text)
    assert '<option value="dairy" selected>Молочное</option>' in ru.text
    assert "Категории: Кофе" in text

    fields = hidden_fields(en.text, "/portal/favourites")
    saved = anon.post(
        "/portal/favourites", data={**fields, "category_0": "dairy", "category_1": "fruit"}
    )
    assert saved.status_code == 303
    assert "Your favourites: Dairy products, fruit" in text_of(anon.get("/portal").text)
    assert "Ваши любимые: Молочное, fruit" in text_of(anon.get("/portal", headers=RU).text)

    assert "10 % off on Dairy products, fruit" in text_of(anon.get("/portal/rewards").text)
    assert "на Молочное, fruit" in text_of(anon.get("/portal/rewards", headers=RU).text)


def test_without_names_the_codes_are_shown(world, anon):
    """Rules without the section show the codes, as before."""
    rules.publish(world.ctx, world.program, OFFERS, actor="test")
    portal_sign_in(anon, world)
    page = anon.get("/portal", headers=RU)
    assert '<option value="dairy" selected>dairy</option>' in page.text
    assert "Категории: coffee" in text_of(page.text)


def test_the_console_catalog_names_a_coupons_categories(world, as_role):
    """A marketer reads the coupon's terms with the categories' names of the page's
    language."""
    rules.publish(world.ctx, world.program, NAMED, actor="test")
    _coupon_on_dairy(world)
    marketer = as_role("marketer")
    assert "on Dairy products, fruit" in text_of(marketer.get("/admin/rewards").text)
    ru = marketer.get("/admin/rewards", headers=RU)
    assert "на Молочное, fruit" in text_of(ru.text)
