"""Tiers on the web: the console member card's tier panel and manual-tier form, and the
portal's tier block, in English and Russian."""

from __future__ import annotations

from kopilka.services import purchases, rules
from kopilka.services.audit_log import audit_page
from tests import commands
from tests.e2e.web.world import RULES, hidden_fields, portal_sign_in, text_of

TIERS = """
tiers:
  window: {kind: calendar_year}
  levels:
    - code: silver
      name: {ru: Серебряный, en: Silver}
      benefits: {ru: "1 балл за 100 ₽", en: "1 point per 100 RUB"}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


def _tiered(world, spend: str = "11300") -> None:
    """The world's program gains tiers; its member (500 RUB paid already) spends
    ``spend`` RUB more."""
    ctx, program = world.ctx, world.program
    rules.publish(ctx, program, RULES + TIERS, actor="test")
    body = {
        "receipt_id": "TIER-1",
        "member_id": world.member_id,
        "lines": [{"line_id": "1", "sku": "S", "amount": spend, "category": "food"}],
    }
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))


def test_card_shows_the_tier_and_what_the_next_one_needs(world, as_role):
    """The member card's tier panel names the tier, what reaching Gold still needs and by
    when, in English and in Russian."""
    _tiered(world)
    c = as_role("support")
    text = text_of(c.get(f"/admin/members/{world.member_id}").text)
    assert "Silver" in text
    assert "Spend RUB 3,200.00 more by 2026-12-31 to reach Gold" in text
    c.cookies.set("kopilka_lang", "ru")
    ru = " ".join(text_of(c.get(f"/admin/members/{world.member_id}").text).split())
    assert "Потратьте ещё 3 200,00 ₽ до 31.12.2026, чтобы получить уровень «Золотой»" in ru


def test_support_sets_a_manual_tier_with_a_reason(world, as_role):
    """Support's form sets Gold as a floor; the card shows it with its history line, and
    the audit log has it. A marketer sees no form."""
    _tiered(world)
    c = as_role("support")
    url = f"/admin/members/{world.member_id}/tier"
    fields = hidden_fields(c.get(f"/admin/members/{world.member_id}").text, url)
    refused = c.post(url, data={**fields, "tier_code": "gold", "reason_code": "other"})
    assert refused.status_code == 422
    assert "a note is required" in text_of(refused.text)
    done = c.post(
        url,
        data={**fields, "tier_code": "gold", "reason_code": "goodwill", "reason_note": "vip"},
    )
    assert done.status_code == 303
    text = text_of(c.get(done.headers["location"]).text)
    assert "Tier saved." in text
    assert "set by support until further notice" in text
    assert "Earned: silver" in text
    actions = [r.action for r in audit_page(world.ctx, world.program.id)["items"]]
    assert "member.tier" in actions
    marketer = as_role("marketer").get(f"/admin/members/{world.member_id}")
    assert "Set a manual tier" not in marketer.text


def test_portal_shows_tier_benefits_and_progress(world, anon):
    """The portal names the member's tier with its benefits and a bar to the next one."""
    _tiered(world)
    portal_sign_in(anon, world)
    page = anon.get("/portal").text
    assert '<progress class="tier-progress" max="100" value="79"' in page
    text = text_of(page)
    assert "My tier: Silver" in text
    assert "1 point per 100 RUB" in text
    assert "Spend RUB 3,200.00 more by 2026-12-31 to reach Gold" in text
    anon.cookies.set("kopilka_lang", "ru")
    ru = text_of(anon.get("/portal").text)
    assert "Мой уровень: Серебряный" in ru


def test_card_history_lists_tier_changes(world, as_role):
    """The member card's history shows the tier change beside the point movements, from,
    to and why, in English and in Russian."""
    _tiered(world, spend="16000")
    c = as_role("support")
    text = " ".join(text_of(c.get(f"/admin/members/{world.member_id}").text).split())
    assert "Tier changes in this part of the history" in text
    assert text.count("— gold purchase") == 2  # the tier panel's history and this one
    c.cookies.set("kopilka_lang", "ru")
    ru = " ".join(text_of(c.get(f"/admin/members/{world.member_id}").text).split())
    assert "Смены уровня в этой части истории" in ru


def test_tiers_page_shows_the_distribution_and_the_moves(world, as_role):
    """/admin/tiers (linked from the console's navigation) counts the members at each tier
    now and the month's move to Gold, in English and in Russian."""
    _tiered(world, spend="16000")
    c = as_role("analyst")
    page = c.get("/admin/tiers")
    assert page.status_code == 200
    assert 'href="/admin/tiers"' in c.get("/admin").text
    text = " ".join(text_of(page.text).split())
    assert "Members per tier now" in text
    assert "Gold 1" in text  # the member who reached it
    assert "No tier Gold up 1" in text  # this month's move
    c.cookies.set("kopilka_lang", "ru")
    ru = " ".join(text_of(c.get("/admin/tiers").text).split())
    assert "Переходы между уровнями по месяцам" in ru
    assert "Без уровня Золотой вверх 1" in ru
