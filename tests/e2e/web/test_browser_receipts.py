"""The support agent's receipt task in a real browser (Debian's Chromium, Playwright), in
English and in Russian: find a receipt by filters, open it, return one line with a
reason, confirm, and read the return on the receipt."""

from __future__ import annotations

import pytest

from kopilka.services import purchases
from tests import commands
from tests.e2e.web.test_browser import pytestmark, served  # noqa: F401

WORDS = {
    "en": {
        "sign_in": "Sign in",
        "receipts": "Receipts",
        "store": "Store",
        "amount_from": "Amount from",
        "show": "Show",
        "qty": "Quantity of line 2 to return",
        "reason": "Reason",
        "note": "Note for support (internal)",
        "member_text": "Text the member sees (optional)",
        "return": "Return the chosen quantities…",
        "confirm_heading": "Confirm the return of receipt",
        "confirm": "Confirm the return",
        "done": "The return is recorded.",
        "amount": "1000.50",
    },
    "ru": {
        "sign_in": "Войти",
        "receipts": "Чеки",
        "store": "Магазин",
        "amount_from": "Сумма от",
        "show": "Показать",
        "qty": "Количество к возврату по строке 2",
        "reason": "Причина",
        "note": "Заметка для поддержки (внутренняя)",
        "member_text": "Текст для участника (необязательно)",
        "return": "Вернуть указанное количество…",
        "confirm_heading": "Подтвердите возврат по чеку",
        "confirm": "Подтвердить возврат",
        "done": "Возврат оформлен.",
        "amount": "1000,50",
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_support_finds_a_receipt_and_returns_one_line_with_a_reason(served, browser, lang):  # noqa: F811
    """A receipt of store BR-<lang> (a tea and a cake, 1,200.00) is found by its store and
    a smallest amount, opened, and its cake returned as damaged after confirming."""
    from playwright.sync_api import expect

    base, world = served
    receipt = f"BR-{lang}"
    body = {
        "receipt_id": receipt,
        "member_id": world.member_id,
        "store": f"BR-{lang}",
        "lines": [
            {"line_id": "1", "sku": "TEA", "quantity": "1", "amount": "700"},
            {"line_id": "2", "sku": "CAKE", "quantity": "1", "amount": "500"},
        ],
    }
    purchases.commit(world.ctx, world.program, commands.purchase(world.ctx, world.program, body))
    w = WORDS[lang]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{base}/admin/sign-in")
        page.locator("#api_key").fill(world.keys["support"])
        page.get_by_role("button", name=w["sign_in"]).click()
        page.get_by_role("link", name=w["receipts"], exact=True).click()
        page.get_by_label(w["store"]).fill(f"BR-{lang}")
        page.get_by_label(w["amount_from"]).fill(w["amount"])
        page.get_by_role("button", name=w["show"]).click()
        rows = page.locator("tr.receipt-row")
        expect(rows).to_have_count(1)
        rows.get_by_role("link", name=receipt).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(receipt)

        page.get_by_label(w["qty"]).fill("1")
        page.get_by_label(w["reason"]).select_option("return")
        page.get_by_label(w["note"]).fill("crushed box")
        page.get_by_label(w["member_text"]).fill("Cake returned")
        page.get_by_role("button", name=w["return"]).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(w["confirm_heading"])
        expect(page.locator("main")).to_contain_text("CAKE")
        page.get_by_role("button", name=w["confirm"]).click()
        expect(page.get_by_role("status")).to_contain_text(w["done"])
        page.screenshot(path=f"/tmp/kopilka-web-receipt-{lang}.png", full_page=True)
    finally:
        context.close()
    found = purchases.get_purchase(world.ctx, world.program, receipt)
    assert [(x["line_id"], x["quantity"]) for x in found["returns"][0]["lines"]] == [("2", "1")]
