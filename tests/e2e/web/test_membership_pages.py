"""Paid membership on the web: the console card's tier panel shows the paid tier, its
term and its sales; the portal's tier block shows the membership; both languages."""

from __future__ import annotations

from kopilka.services import memberships, purchases, rules
from kopilka.services.memberships import CancelMembership, StartMembership
from tests import commands
from tests.e2e.web.world import RULES, portal_sign_in, text_of

TIERS = """
tiers:
  levels:
    - code: silver
      name: {ru: Серебряный, en: Silver}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
  paid:
    - code: gold_month
      tier: gold
      price: "299"
      term: {months: 1}
      name: {ru: Золотой на месяц, en: Gold for a month}
"""


def _paid(world) -> int:
    """The world's program sells Gold for a month; its member buys it."""
    ctx, program = world.ctx, world.program
    rules.publish(ctx, program, RULES + TIERS, actor="test")
    body = {
        "receipt_id": "PAID-0",
        "member_id": world.member_id,
        "lines": [{"line_id": "1", "sku": "S", "amount": "100", "category": "food"}],
    }
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    sale = StartMembership(world.member_id, "gold_month", "PAID-1")
    return memberships.start_membership(ctx, program, sale, actor="test")["id"]


def test_card_shows_the_paid_tier_and_its_sales(world, as_role):
    """The tier panel names Gold as paid until its end, the plan, and the sale with its
    receipt; after a cancel it says it will not renew; in Russian too."""
    membership = _paid(world)
    c = as_role("support")
    text = " ".join(text_of(c.get(f"/admin/members/{world.member_id}").text).split())
    assert "paid membership until" in text
    assert "Earned: silver" in text
    assert "Gold for a month : Gold until" in text
    assert "renews" in text
    assert "sale RUB 299.00, receipt PAID-1" in text
    cancel = CancelMembership(world.member_id, membership)
    memberships.cancel_membership(world.ctx, world.program, cancel, actor="test")
    text = " ".join(text_of(c.get(f"/admin/members/{world.member_id}").text).split())
    assert "cancelled: not renewed" in text
    c.cookies.set("kopilka_lang", "ru")
    ru = " ".join(text_of(c.get(f"/admin/members/{world.member_id}").text).split())
    assert "Платное участие" in ru
    assert "Золотой на месяц : Золотой до" in ru
    assert "продажа 299,00 ₽, чек PAID-1" in ru


def test_portal_shows_the_membership(world, anon):
    """The portal's tier block shows the paid tier and the membership's term, without
    receipts."""
    _paid(world)
    portal_sign_in(anon, world)
    text = " ".join(text_of(anon.get("/portal").text).split())
    assert "My tier: Gold" in text
    assert "Gold for a month : Gold until" in text
    assert "PAID-1" not in text
    anon.cookies.set("kopilka_lang", "ru")
    ru = " ".join(text_of(anon.get("/portal").text).split())
    assert "Золотой на месяц : Золотой до" in ru
