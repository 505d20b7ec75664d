"""Rewards on the web: a marketer adds a coupon and a partner reward in the console, sets
stock and loads codes; a member browses, confirms and redeems in the portal and sees the
coupon with its QR code; support finds it and cancels it after a confirmation; both
languages."""

from __future__ import annotations

from kopilka.services import rewards as rewards_svc
from tests.e2e.web.world import hidden_fields, portal_sign_in, text_of


def _new_reward(c, **fields):
    page = c.get("/admin/rewards")
    assert page.status_code == 200
    form = hidden_fields(page.text, "/admin/rewards")
    return c.post("/admin/rewards", data={**form, **fields})


def test_console_catalog_portal_redeem_and_console_cancel(world, as_role, anon):
    """The whole path through the pages, with the figures each page shows."""
    marketer = as_role("marketer")
    bad = _new_reward(
        marketer,
        code="c1",
        kind="coupon",
        name_en="Ten",
        name_ru="Десять",
        points="5",
        coupon_kind="percent",
        coupon_amount="150",
    )
    assert bad.status_code == 422
    assert "1 to 100 percent" in text_of(bad.text)
    made = _new_reward(
        marketer,
        code="c1",
        kind="coupon",
        name_en="Ten off",
        name_ru="Минус десять",
        points="5",
        coupon_kind="percent",
        coupon_amount="10",
        min_basket="500",
        categories="dairy",
        valid_days="30",
        stock="3",
    )
    assert made.status_code == 303, made.text
    _new_reward(marketer, code="p1", kind="partner", name_en="Cinema", name_ru="Кино", points="7")
    catalog = rewards_svc.catalog(world.ctx, world.program)
    partner = next(r for r in catalog if r["code"] == "p1")
    page = marketer.get("/admin/rewards")
    loaded = marketer.post(
        f"/admin/rewards/{partner['id']}/pool",
        data={
            **hidden_fields(page.text, f"/admin/rewards/{partner['id']}/pool"),
            "codes": "code\nCIN-1\nCIN-2\n",
        },
    )
    assert "2 codes added" in text_of(loaded.text)
    page = text_of(marketer.get("/admin/rewards").text)
    assert "10 % off from a basket of" in page

    portal_sign_in(anon, world)
    listed = anon.get("/portal/rewards")
    assert listed.status_code == 200
    assert "Ten off" in listed.text
    coupon = next(r for r in catalog if r["code"] == "c1")
    confirm = anon.get(f"/portal/rewards/{coupon['id']}/redeem")
    assert "Get Ten off for 5 points?" in text_of(confirm.text)
    fields = hidden_fields(confirm.text, f"/portal/rewards/{coupon['id']}/redeem")
    done = anon.post(f"/portal/rewards/{coupon['id']}/redeem", data=fields)
    assert done.status_code == 303
    again = anon.post(f"/portal/rewards/{coupon['id']}/redeem", data=fields)  # replayed
    assert again.status_code == 303
    mine = anon.get("/portal/coupons")
    assert mine.text.count('class="qr"') == 1
    (issued,) = rewards_svc.member_rewards(world.ctx, world.program, world.member_id)
    assert issued["display_code"] in mine.text
    ru = anon.get("/portal/coupons", headers={"Accept-Language": "ru"})
    assert "Мои купоны" in ru.text or "My coupons" in ru.text

    support = as_role("support")
    found = support.get("/admin/rewards/issued", params={"q": issued["code"][:5]})
    assert issued["display_code"] in found.text
    ask = support.get(f"/admin/rewards/issued/{issued['id']}/cancel")
    assert "Cancel reward" in ask.text
    assert "gets the 5 points back" in text_of(ask.text)
    form = hidden_fields(ask.text, f"/admin/rewards/issued/{issued['id']}/cancel")
    refused = support.post(f"/admin/rewards/issued/{issued['id']}/cancel", data=form)
    assert refused.status_code == 422
    ended = support.post(
        f"/admin/rewards/issued/{issued['id']}/cancel", data={**form, "reason": "asked"}
    )
    assert ended.status_code == 303
    (after,) = rewards_svc.member_rewards(world.ctx, world.program, world.member_id)
    assert after["status"] == "cancelled"


def test_roles_that_may_not_manage(world, as_role):
    """An analyst reads the catalog but gets no forms and may not post them."""
    analyst = as_role("analyst")
    page = analyst.get("/admin/rewards")
    assert page.status_code == 200
    assert 'action="/admin/rewards"' not in page.text
    refused = analyst.post("/admin/rewards", data={"csrf_token": "x"})
    assert refused.status_code in (400, 403)
