"""The member portal in the member's words (issue 20): history lines say earned, spent,
reserved, returned, expired, never how the ledger books them; what the points are worth and
when the soonest expire; offers of now and the next 30 days with their dates; the card as a
QR code and a Code 128 barcode; an installable web app."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import barcode
import pytest
import segno

from kopilka.services import members as member_svc
from kopilka.services import points, rules
from kopilka.services.points import Capture, PlaceHold, VoidHold
from kopilka.web import words
from kopilka.web.card_codes import barcode_svg, qr_svg
from kopilka.web.i18n import using
from tests.e2e.web.world import portal_sign_in, text_of

BOOKING_WORDS = re.compile(r"\b(hold|capture|captured|reverse|reversed|entry|резерв\w*)\b", re.I)


def _item(kind: str, pts: int, **extra: object) -> dict[str, object]:
    item: dict[str, object] = {
        "kind": kind,
        "points": pts,
        "reference": "R00001-0010",
        "reason": None,
        "hold_id": 432,
        "entry_id": 7089,
        "changes": {},
        "spent": False,
    }
    item.update(extra)
    return item


ITEMS = {
    "earn": _item("earn", 40, changes={"available": 40}),
    "earn pending": _item("earn", 13, changes={"pending": 13}),
    "earn pending until": _item(
        "earn", 13, changes={"pending": 13}, pending_until="2026-03-28 15:00 MSK"
    ),
    "redeem": _item("redeem", 170, changes={"available": -170}),
    "hold open": _item("hold", 170, changes={"available": -170, "held": 170}),
    "hold spent": _item("hold", 170, changes={"available": -170, "held": 170}, spent=True),
    "capture": _item("capture", 170, changes={"held": -170}),
    "void": _item("void", 170, changes={"available": 170, "held": -170}),
    "hold_expire": _item("hold_expire", 170, changes={"available": 170, "held": -170}),
    "reverse back": _item("reverse", 5, changes={"available": 5}),
    "reverse taken": _item("reverse", 3, changes={"available": -3}),
    "reverse expired at once": _item("reverse", 100, meta={"expired_on_return": 100}),
    "activate": _item("activate", 50, changes={"pending": -50, "available": 50}),
    "expire": _item("expire", 120, changes={"available": -120}),
    "adjust": _item("adjust", 25, changes={"available": 25}, reason="goodwill: late order"),
    "adjust told": _item(
        "adjust",
        25,
        changes={"available": 25},
        reason="goodwill: late order",
        meta={"reason_code": "goodwill", "member_text": "Sorry for the wait"},
    ),
    "adjust removed": _item("adjust", 30, changes={"available": -30}, reason="fraud: shared"),
    "void told": _item(
        "void",
        9,
        changes={"available": 9, "held": -9},
        reason="customer_request",
        meta={"member_text": "Cancelled at your request"},
    ),
}

EXPECTED = {
    "en": {
        "earn": ("earned", "earned 40 points on purchase R00001-0010"),
        "earn pending": ("earned", "earned 13 points on purchase R00001-0010 (pending"),
        "earn pending until": (
            "earned",
            "earned 13 points on purchase R00001-0010 (pending until 2026-03-28 15:00 MSK)",
        ),
        "redeem": ("spent", "spent 170 points on purchase R00001-0010"),
        "hold open": ("reserved", "170 points reserved at the till on purchase R00001-0010"),
        "hold spent": ("spent", "spent 170 points on purchase R00001-0010"),
        "capture": ("spent", "spent 170 points on purchase R00001-0010"),
        "void": ("returned", "170 reserved points returned to your balance: the purchase"),
        "hold_expire": ("returned", "170 reserved points returned to your balance"),
        "reverse back": ("purchase returned", "5 points returned to you for a returned purchase"),
        "reverse taken": ("purchase returned", "3 points taken back for a returned purchase"),
        "reverse expired at once": (
            "purchase returned",
            "100 points returned to you for a returned purchase (R00001-0010), of which 100"
            " expired at once",
        ),
        "activate": ("available", "50 pending points became available"),
        "expire": ("expired", "120 points expired"),
        "adjust": ("corrected", "25 points added by customer service"),
        "adjust told": ("corrected", "25 points added: Sorry for the wait"),
        "adjust removed": ("corrected", "30 points removed by customer service"),
        "void told": ("returned", "9 reserved points returned to your balance: Cancelled at"),
    },
    "ru": {
        "earn": ("начислено", "начислено 40 баллов за покупку R00001-0010"),
        "earn pending": ("начислено", "начислено 13 баллов за покупку R00001-0010 (ожидают"),
        "earn pending until": (
            "начислено",
            "начислено 13 баллов за покупку R00001-0010 (ожидают до 2026-03-28 15:00 MSK)",
        ),
        "redeem": ("списано", "списано 170 баллов за покупку R00001-0010"),
        "hold open": ("отложено", "170 баллов отложены на кассе за покупку R00001-0010"),
        "hold spent": ("списано", "списано 170 баллов за покупку R00001-0010"),
        "capture": ("списано", "списано 170 баллов за покупку R00001-0010"),
        "void": ("возвращено", "170 отложенных баллов вернулись на ваш счёт: покупка отменена"),
        "hold_expire": ("возвращено", "170 отложенных баллов вернулись на ваш счёт"),
        "reverse back": ("возврат", "5 баллов вернулись к вам за возвращённую покупку (R00001"),
        "reverse taken": ("возврат", "3 балла списаны за возвращённую покупку (R00001-0010)"),
        "reverse expired at once": (
            "возврат",
            "100 баллов вернулись к вам за возвращённую покупку (R00001-0010), из них 100",
        ),
        "activate": ("доступно", "50 ожидающих баллов стали доступны"),
        "expire": ("сгорело", "120 баллов сгорели"),
        "adjust": ("исправлено", "служба поддержки начислила 25 баллов"),
        "adjust told": ("исправлено", "начислено 25 баллов: Sorry for the wait"),
        "adjust removed": ("исправлено", "служба поддержки списала 30 баллов"),
        "void told": ("возвращено", "9 отложенных баллов вернулись на ваш счёт: Cancelled"),
    },
}


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("case", sorted(ITEMS))
def test_each_history_line_reads_in_plain_words(lang, case):
    """Every kind of line has a plain word and sentence in English and in Russian, and none
    names a hold, a capture, a reversal or an entry number."""
    with using(lang):
        word, sentence = words.member_kind(ITEMS[case]), words.member_why(ITEMS[case])
    want_word, want_start = EXPECTED[lang][case]
    assert word == want_word
    assert sentence.startswith(want_start), sentence
    # the agent's own note is internal: never in the member's sentence
    assert "late order" not in sentence
    assert "shared" not in sentence
    for text in (word, sentence):
        assert not BOOKING_WORDS.search(text), text
        assert "7089" not in text
        assert "432" not in text


def test_a_hold_paid_at_the_till_reads_as_points_spent_on_the_purchase(world, anon):
    """A hold placed and captured shows as one line "spent N points on purchase X"; an open
    hold reads "reserved at the till"; a cancelled one as points returned."""
    ctx, program, member = world.ctx, world.program, world.member_id
    paid = points.hold(ctx, program, PlaceHold(member, 17, key="h1", reference="R00001-0010"))
    points.capture(ctx, program, Capture(int(paid["hold_id"]), key="c1"))
    dropped = points.hold(ctx, program, PlaceHold(member, 5, key="h2", reference="R00001-0011"))
    points.void(ctx, program, VoidHold(int(dropped["hold_id"]), key="v1"))
    points.hold(ctx, program, PlaceHold(member, 9, key="h3", reference="R00001-0012"))
    portal_sign_in(anon, world)
    page = anon.get("/portal").text
    text = text_of(page)
    assert "spent 17 points on purchase R00001-0010" in text
    assert text.count("17 points") == 1  # the capture is not a second line
    assert "5 reserved points returned to your balance: the purchase was cancelled" in text
    assert "9 points reserved at the till on purchase R00001-0012" in text
    history = text[text.index("History") : text.index("How to earn")]
    assert not BOOKING_WORDS.search(history), history
    anon.cookies.set("kopilka_lang", "ru")
    ru = text_of(anon.get("/portal").text)
    assert "списано 17 баллов за покупку R00001-0010" in ru
    history = ru[ru.index("История") : ru.index("Как получить баллы")]
    assert not BOOKING_WORDS.search(history), history


def test_the_balance_says_what_points_are_worth_and_when_the_soonest_expire(world, anon):
    """Near the balance: the available points in money at the program's point value, and
    the soonest expiry as a headline; pending points say until when, in both languages."""
    portal_sign_in(anon, world)
    text = text_of(anon.get("/portal").text)
    assert "300 points = RUB 300.00" in text
    assert "350 points expire: end of 2027-03-14" in text
    # the purchase's points wait out the program's 14 days
    assert "earned 13 points on purchase" in text
    assert "(pending until 2026-03-28 15:00 MSK)" in text
    anon.cookies.set("kopilka_lang", "ru")
    ru = text_of(anon.get("/portal").text)
    assert "300 баллов = 300,00\xa0₽" in ru or "300 баллов = 300,00 ₽" in ru
    assert "350 баллов сгорят: до конца дня 14.03.2027" in ru
    assert "(ожидают до 28.03.2026, 15:00 MSK)" in ru


DATED_RULES = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    description: "1 point for every 100 RUB"
    rate: {points: 1, per: "100"}
  - id: new-year
    kind: bonus
    description: "New year days: +50 points"
    points: 50
    when:
      dates: [{from: 2027-01-01, to: 2027-01-10}]
  - id: march-8
    kind: bonus
    description: "8 March: +100 points"
    points: 100
    when:
      dates: [{from: 2027-03-08, to: 2027-03-08}]
  - id: gold-only
    kind: multiplier
    description: "Gold members: points x3"
    factor: 3
    when:
      tiers: [gold]
  - id: for-women
    kind: bonus
    description: "For women: +20 points"
    points: 20
    when:
      member: {gender: female}
  - id: last-week
    kind: bonus
    description: "Last week's sale"
    points: 10
    when:
      dates: [{from: 2026-11-20, to: 2026-11-30}]
"""


def test_how_to_earn_lists_offers_of_now_and_the_next_30_days_with_dates(world, anon, clock):
    """In December "how to earn" shows the always-on rate and the new year days (with their
    dates), not 8 March (months away), a sale that ended, nor offers for members this
    member is not (another tier, a profile attribute she does not have)."""
    clock.set(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    rules.publish(world.ctx, world.program, DATED_RULES, actor="test")
    portal_sign_in(anon, world)
    text = text_of(anon.get("/portal").text)
    offers = text[text.index("How to earn") : text.index("Invite a friend")]
    assert "1 point for every 100 RUB" in offers
    assert "New year days: +50 points from 2027-01-01 to 2027-01-10" in offers
    assert "8 March" not in offers
    assert "Last week" not in offers
    assert "Gold members" not in offers  # Anna has no tier
    assert "For women" not in offers  # nor a gender on file
    member_svc.update_profile(
        world.ctx,
        world.program,
        member_svc.UpdateProfile(
            world.member_id, member_svc.Profile(gender="female"), frozenset({"gender"})
        ),
    )
    assert "For women: +20 points" in text_of(anon.get("/portal").text)
    clock.set(datetime(2027, 2, 20, 12, 0, tzinfo=UTC))  # now 8 March is within 30 days
    portal_sign_in(anon, world)  # the session of December has timed out
    offers = text_of(anon.get("/portal").text)
    assert "8 March: +100 points on 2027-03-08" in offers
    assert "New year days" not in offers


def _qr_cells(svg: str) -> set[tuple[int, int]]:
    """The dark modules of segno's SVG path (relative moves and horizontal lines)."""
    path = re.search(r' d="([^"]+)"', svg)
    assert path
    x = y = 0.0
    cells: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            cells.update((int(x) + i, int(y)) for i in range(int(a)))
            x += float(a)
    return cells


def _matrix_cells(card: str) -> set[tuple[int, int]]:
    qr = segno.make(card, error="m", micro=False)
    return {(c + 4, r + 4) for r, row in enumerate(qr.matrix) for c, dark in enumerate(row) if dark}


def _bars(svg: str) -> str:
    """The barcode's modules (1 dark, 0 light) read back from the SVG's bars."""
    rects = [(int(x), int(w)) for x, w in re.findall(r'<rect x="(\d+)" y="0" width="(\d+)"', svg)]
    start, out = rects[0][0], ""
    for x, w in rects:
        out += "0" * (x - start - len(out)) + "1" * w
    return out


def test_the_card_is_drawn_as_a_qr_code_and_a_code_128_barcode(world, anon):
    """The portal shows the card as inline SVG (no script, no image host): a QR code whose
    modules are the card number's, a Code 128 barcode whose bars are the card number's,
    and the number in text below."""
    card = world.card
    assert _qr_cells(qr_svg(card)) == _matrix_cells(card)  # 4 modules of quiet zone
    assert _qr_cells(qr_svg(card)) != _qr_cells(qr_svg(card + "1"))
    assert _bars(barcode_svg(card)) == barcode.get("code128", card).build()[0]
    portal_sign_in(anon, world)
    page = anon.get("/portal").text
    section = page[page.index('id="card-h"') :]
    assert section.index('class="qr"') < section.index('class="barcode"')
    assert f'<p class="card-number code">{card}</p>' in section
    assert "<script" not in page
    assert "<img" not in section[: section.index("</section>")]


def test_the_portal_is_an_installable_web_app(world, anon):
    """/portal/manifest.webmanifest names the app, starts at /portal standalone with the
    favicon as its icon; the portal's pages link it, the console's do not."""
    response = anon.get("/portal/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"]
    assert manifest["short_name"]
    assert manifest["start_url"] == "/portal"
    assert manifest["display"] == "standalone"
    assert {"src": "/web-static/favicon.svg", "sizes": "any", "type": "image/svg+xml"} in (
        manifest["icons"]
    )
    assert anon.get("/web-static/favicon.svg").status_code == 200
    link = '<link rel="manifest" href="/portal/manifest.webmanifest">'
    assert link in anon.get("/portal/sign-in").text
    portal_sign_in(anon, world)
    assert link in anon.get("/portal").text
    assert link not in anon.get("/admin/sign-in").text


def test_the_worth_follows_the_rules_point_value_for_paying(world, anon):
    """Where the rules set their own point value for paying with points (0.50 RUB), the
    balance's worth is counted at that value, not the program's 1 RUB."""
    rules.publish(
        world.ctx,
        world.program,
        'schema_version: 1\ncurrency: RUB\nredemption: {point_value: "0.50"}\nrules: []\n',
        actor="test",
    )
    portal_sign_in(anon, world)
    assert "300 points = RUB 150.00" in text_of(anon.get("/portal").text)
