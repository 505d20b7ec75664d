"""The member's main task in a real browser (Debian's Chromium, headless, Playwright), on a
390 px phone in Russian and in English: sign in (the phone, then the code read from the SMS
sent, in the page's language), read the balance and the soonest expiry,
show the card, withdraw a consent through its confirmation with the keyboard, and change
the name; no page scrolls sideways. And the console overview's tiles, which fill even rows
at both widths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from tests.conftest import START
from tests.e2e.web.queries_check import latest_consents
from tests.e2e.web.test_browser import pytestmark, serving
from tests.e2e.web.world import INBOX, World, build_world, make_app

__all__ = ["pytestmark"]  # the browser mark and the skip when Chromium is missing

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
WORDS = {
    "en": {
        "worth": "300 points = RUB 300.00",
        "expiry": "350 points expire: end of 2027-03-14",
        "withdraw": "Withdraw consent to SMS",
        "confirm": "Withdraw consent to SMS?",
        "yes": "Yes, withdraw",
        "withdrawn": "Your consent is withdrawn.",
        "give": "Give consent to SMS",
        "details": "Change my details",
        "first name": "First name",
        "save": "Save",
        "saved": "Your details are saved.",
        "back": "Back to my points",
        "hello": "Hello, Anya",
        "enter code": "Enter the code",
        "sent": "we sent a 6-digit code to it by SMS",
        "code": "Code",
    },
    "ru": {
        "worth": "300 баллов = 300,00",
        "expiry": "350 баллов сгорят: до конца дня 14.03.2027",
        "withdraw": "Отозвать согласие: SMS",
        "confirm": "Отозвать согласие: SMS?",
        "yes": "Да, отозвать",
        "withdrawn": "Согласие отозвано.",
        "give": "Дать согласие: SMS",
        "details": "Изменить мои данные",
        "first name": "Имя",
        "save": "Сохранить",
        "saved": "Ваши данные сохранены.",
        "back": "Назад к моим баллам",
        "hello": "Здравствуйте, Anya",
        "enter code": "Введите код",
        "sent": "мы отправили на него код из 6 цифр по SMS",
        "code": "Код",
    },
}


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, World]]:
    """uvicorn on a free local port serving a fresh world (each language test changes it)."""
    url = f"sqlite:///{tmp_path / 'kopilka.db'}"
    upgrade(url)
    engine = make_engine(url)
    world = build_world(ServiceContext(engine, FrozenClock(START)))
    with serving(make_app(world.kopilka)) as base:
        yield base, world
    engine.dispose()


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.url


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_members_main_task_on_a_phone(served, browser, lang):
    """Sign in; the balance in money and the soonest expiry; the card's codes; withdraw the
    SMS consent through its confirmation using only the keyboard; change the first name.
    Every page fits 390 px."""
    from playwright.sync_api import expect

    base, world = served
    w = WORDS[lang]
    context = browser.new_context(**PHONE)
    context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{base}/portal")
        page.locator("#address").fill(world.phone)
        page.locator("#address").press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text(w["enter code"])
        expect(page.locator("#code_help")).to_contain_text(w["sent"])
        _fits(page)
        [message] = INBOX.to(world.phone)  # the SMS, written in the page's language
        assert message.language == lang
        code = INBOX.code(world.phone)
        assert code is not None
        page.get_by_label(w["code"], exact=True).fill(code)
        page.get_by_label(w["code"], exact=True).press("Enter")
        expect(page.locator(".worth")).to_contain_text(w["worth"])
        expect(page.locator(".expiry-headline")).to_contain_text(w["expiry"])
        expect(page.locator(".member-card svg.qr")).to_be_visible()
        expect(page.locator(".member-card svg.barcode")).to_be_visible()
        expect(page.locator(".card-number")).to_have_text(world.card)
        _fits(page)

        page.get_by_role("link", name=w["withdraw"]).focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text(w["confirm"])
        _fits(page)
        page.get_by_role("button", name=w["yes"]).focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_have_text(w["withdrawn"])
        expect(page.get_by_role("link", name=w["give"])).to_be_visible()
        assert latest_consents(world)["sms"] is False

        page.get_by_role("link", name=w["details"]).click()
        _fits(page)
        page.get_by_label(w["first name"], exact=True).fill("Anya")
        page.get_by_role("button", name=w["save"]).click()
        expect(page.get_by_role("status")).to_have_text(w["saved"])
        _fits(page)
        page.get_by_role("link", name=w["back"]).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(w["hello"])
        _fits(page)
        page.screenshot(path=f"/tmp/kopilka-web-portal-task-{lang}.png", full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize(("width", "per_row"), [(1280, 4), (390, 2)])
def test_the_console_overview_tiles_fill_even_rows(served, browser, lang, width, per_row):
    """The overview's eight tiles are a grid of even rows, none left alone on a row: four
    a row on a 1280 px desktop, two on a 390 px phone, all of one width, and the page
    does not scroll sideways."""
    base, world = served
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{base}/admin/sign-in")
        page.locator("#api_key").fill(world.keys["admin"])
        page.locator("#api_key").press("Enter")
        page.wait_for_url(f"{base}/admin")
        boxes = page.evaluate(
            "Array.from(document.querySelectorAll('.kpis > div'),"
            " d => { const r = d.getBoundingClientRect(); return [r.top, r.width]; })"
        )
        assert len(boxes) == 8
        rows: dict[float, int] = {}
        for top, _ in boxes:
            rows[top] = rows.get(top, 0) + 1
        assert sorted(rows.values()) == [per_row] * (8 // per_row)
        assert max(w for _, w in boxes) - min(w for _, w in boxes) < 1
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=f"/tmp/kopilka-web-overview-{width}-{lang}.png", full_page=True)
    finally:
        context.close()
