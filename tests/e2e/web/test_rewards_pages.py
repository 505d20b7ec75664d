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


GIFT_FORM = {"code": "g1", "kind": "gift", "name_en": "Mug", "name_ru": "Кружка", "points": "9"}


def test_console_form_sets_limits_dates_and_audience(world, as_role):
    """The new-reward form sets limits, the window (in the program's time zone) and an
    audience of segments and members: the saved reward holds each of them."""
    marketer = as_role("marketer")
    made = _new_reward(
        marketer,
        **GIFT_FORM,
        limit_per_member="2",
        limit_per_period="1",
        limit_period="week",
        limit_total="50",
        starts_at="2030-01-01T09:00",
        ends_at="2030-02-01T09:00",
        audience_segments="vip, students, vip",
        audience_members=str(world.member_id),
    )
    assert made.status_code == 303, made.text
    (saved,) = [r for r in rewards_svc.catalog(world.ctx, world.program) if r["code"] == "g1"]
    assert saved["limits"] == {"per_member": 2, "per_period": 1, "period": "week", "total": 50}
    assert saved["starts_at"] is not None
    assert saved["starts_at"].startswith("2030-01-01")
    assert saved["audience"] == {
        "tiers": [],
        "members": [world.member_id],
        "segments": ["vip", "students"],
    }


BAD_FORMS = [
    ("period without count", {"limit_period": "week"}, "limits.period"),
    ("bad period", {"limit_per_period": "1", "limit_period": "year"}, "Choose a period"),
    (
        "ends before start",
        {"starts_at": "2030-02-01T00:00", "ends_at": "2030-01-01T00:00"},
        "end after",
    ),
    ("bad date", {"starts_at": "tomorrow"}, "Give a date and time"),
    ("early without date", {"early_tier": "gold"}, "Early access needs"),
    ("bad tier price", {"tier_points": "gold:5"}, "tier=points"),
    ("bad member id", {"audience_members": "12, bob"}, "ids"),
]


def test_console_form_refuses_bad_fields_and_writes_nothing(world, as_role):
    """Each malformed new field is a 422 page naming the problem, and nothing is saved."""
    marketer = as_role("marketer")
    for name, fields, words in BAD_FORMS:
        r = _new_reward(marketer, **GIFT_FORM, **fields)
        assert r.status_code == 422, name
        if "." not in words:
            assert words in text_of(r.text), (name, text_of(r.text)[:400])
        assert 'class="field-error"' in r.text, name  # the message sits next to its field
        assert 'aria-invalid="true"' in r.text, name
    assert all(r["code"] != "g1" for r in rewards_svc.catalog(world.ctx, world.program))


def test_console_form_errors_in_russian(world, as_role):
    """A refusal on the form is written in the page's language."""
    marketer = as_role("marketer")
    page = marketer.get("/admin/rewards", headers={"Accept-Language": "ru"})
    form = hidden_fields(page.text, "/admin/rewards")
    r = marketer.post(
        "/admin/rewards",
        data={**form, **GIFT_FORM, "starts_at": "tomorrow"},
        headers={"Accept-Language": "ru"},
    )
    assert r.status_code == 422
    assert "Укажите дату и время" in text_of(r.text)
