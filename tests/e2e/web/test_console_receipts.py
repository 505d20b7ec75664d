"""The console's receipts list: each filter, the orders, keyset pages, who may read and
export it, and bad filters refused with a clear error."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest

from kopilka.services import apikeys, purchases
from kopilka.services import members as member_svc
from tests import commands
from tests.e2e.web.world import client, sign_in, text_of


def book(world, receipt, amount, *, member_id=None, store=None, channel="till", lines=None):
    """Book a receipt of one line of ``amount`` (or the given lines) now."""
    body = {
        "receipt_id": receipt,
        "member_id": member_id or world.member_id,
        "channel": channel,
        "lines": lines or [{"line_id": "1", "sku": "TEA", "quantity": "1", "amount": amount}],
    }
    if store is not None:
        body["store"] = store
    return purchases.commit(
        world.ctx, world.program, commands.purchase(world.ctx, world.program, body)
    )


@pytest.fixture
def shop(world, clock):
    """Besides the world's receipt (S1, till, 800.00, partly returned, on 2026-03-14):
    A (S1, till, 500.00, the 15th), B (Boris, S2, web, 2,500.00, the 16th) and
    C (S2, app, 1,200.50, the 17th); all at noon Moscow time."""
    boris = member_svc.enroll(
        world.ctx,
        world.program,
        member_svc.Enroll(
            member_svc.identifiers([("card", "BORIS-1"), ("phone", "+79005550011")]),
            profile=member_svc.Profile(first_name="Boris", last_name="Ivanov"),
        ),
    )
    clock.advance(timedelta(days=1))
    book(world, "A", "500", store="S1")
    clock.advance(timedelta(days=1))
    book(world, "B", "2500", member_id=boris.id, store="S2", channel="web")
    clock.advance(timedelta(days=1))
    book(world, "C", "1200.50", store="S2", channel="app")
    return {"boris": boris.id}


def listed(html: str) -> list[str]:
    """The receipt ids the list shows, in its order."""
    return re.findall(r'<td><a href="/admin/receipts/\d+">([^<]+)</a></td>', html)


def test_the_list_shows_every_receipt_newest_first(world, shop, as_role):
    """With no filter the page lists the program's receipts, the newest first, with their
    state: the world's receipt is partly returned."""
    page = as_role("support").get("/admin/receipts")
    assert page.status_code == 200
    assert listed(page.text) == ["C", "B", "A", world.receipt_id]
    text = text_of(page.text)
    assert "partly returned" in text
    assert "RUB 1,200.50" in text


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"date_from": "2026-03-16"}, ["C", "B"]),
        ({"date_to": "2026-03-15"}, ["A", "R"]),
        ({"date_from": "2026-03-15", "date_to": "2026-03-16"}, ["B", "A"]),
        ({"store": "S2"}, ["C", "B"]),
        ({"store": "S1"}, ["A", "R"]),
        ({"channel": "web"}, ["B"]),
        ({"channel": "app"}, ["C"]),
        ({"member_kind": "card", "member": "boris-1"}, ["B"]),  # normalised as at enrollment
        ({"member_kind": "phone", "member": "8 900 555-00-11"}, ["B"]),
        ({"amount_min": "1000"}, ["C", "B"]),
        ({"amount_min": "1,200.50"}, ["C", "B"]),  # English digits grouping
        ({"amount_min": "1,200.51"}, ["B"]),
        ({"amount_max": "800"}, ["A", "R"]),
        ({"amount_min": "600", "amount_max": "1500"}, ["C", "R"]),
        ({"status": "returned"}, ["R"]),
        ({"status": "booked"}, ["C", "B", "A"]),
    ],
)
def test_each_filter_keeps_what_matches_and_drops_what_does_not(
    world, shop, as_role, params, found
):
    """Every filter, alone or with its pair, lists exactly the receipts it matches ("R"
    is the world's receipt)."""
    page = as_role("support").get("/admin/receipts", params=params)
    assert page.status_code == 200, page.text
    named = ["R" if r == world.receipt_id else r for r in listed(page.text)]
    assert named == found


def test_the_member_filter_takes_a_member_number(world, shop, as_role):
    """A member's number lists their receipts only."""
    page = as_role("support").get(
        "/admin/receipts", params={"member_kind": "id", "member": str(world.member_id)}
    )
    assert listed(page.text) == ["C", "A", world.receipt_id]


def test_an_amount_in_russian_is_read_with_its_comma(world, shop, as_role):
    """On a Russian page "1 200,50" is one thousand two hundred and a half."""
    page = as_role("support").get(
        "/admin/receipts",
        params={"amount_min": "1 200,50"},
        headers={"Accept-Language": "ru"},
    )
    assert page.status_code == 200
    assert listed(page.text) == ["C", "B"]
    assert "Чеки" in text_of(page.text)


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"sort": "amount"}, ["B", "C", "R", "A"]),
        ({"sort": "amount", "order": "asc"}, ["A", "R", "C", "B"]),
        ({"sort": "date", "order": "asc"}, ["R", "A", "B", "C"]),
    ],
)
def test_the_list_sorts_by_amount_and_by_date(world, shop, as_role, params, found):
    """By amount, largest first by default or smallest first; by date, oldest first."""
    page = as_role("support").get("/admin/receipts", params=params)
    named = ["R" if r == world.receipt_id else r for r in listed(page.text)]
    assert named == found


@pytest.mark.parametrize("sort", ["date", "amount"])
def test_keyset_pages_list_every_receipt_once(world, as_role, sort):
    """60 receipts, half of them at one instant and with one amount: the pages of 25, in
    both orders, list each of the 61 once (ties broken by the purchase's id)."""
    for i in range(60):
        if i % 2:
            world.ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        book(world, f"P{i:02d}", "100" if i % 2 == 0 else str(100 + i))
    c = as_role("support")
    for order in ("desc", "asc"):
        seen: list[str] = []
        url, params = "/admin/receipts", {"sort": sort, "order": order}
        pages = 0
        while True:
            page = c.get(url, params=params)
            assert page.status_code == 200
            seen += listed(page.text)
            pages += 1
            after = re.search(r'rel="next" href="[^"]*after=([^"&]+)"', page.text)
            if after is None:
                break
            params = {"sort": sort, "order": order, "after": after.group(1)}
        assert pages == 3
        assert len(seen) == len(set(seen)) == 61


def test_the_export_lists_the_filtered_receipts_for_support_only(world, shop, as_role):
    """Support downloads the filtered list as CSV; an analyst reads the list but may not
    export it."""
    got = as_role("support").get("/admin/receipts.csv", params={"store": "S2"})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [r["receipt_id"] for r in rows] == ["C", "B"]
    assert rows[0]["total"] == "1200.50"
    analyst = as_role("analyst")
    assert analyst.get("/admin/receipts").status_code == 200
    assert "receipts.csv" not in analyst.get("/admin/receipts").text
    assert analyst.get("/admin/receipts.csv").status_code == 403


@pytest.mark.parametrize("url", ["/admin/receipts", "/admin/receipts.csv"])
def test_a_marketer_may_not_read_receipts(world, as_role, url):
    """Receipts are not a marketer's: 403, and no link in the navigation."""
    c = as_role("marketer")
    assert c.get(url).status_code == 403
    assert 'href="/admin/receipts"' not in c.get("/admin/members").text


def test_support_sees_the_receipts_link(world, as_role):
    """The navigation links the list for support, analysts and admins."""
    for role in ("support", "analyst", "admin"):
        assert 'href="/admin/receipts"' in as_role(role).get("/admin/members").text


@pytest.mark.parametrize(
    ("params", "field_text"),
    [
        ({"date_from": "2026-13-01"}, "a date is written as 2026-03-14"),
        ({"date_from": "2026-03-17", "date_to": "2026-03-15"}, "the last day is before the first"),
        ({"amount_min": "ten"}, "an amount is written as 1500 or 1500.50"),
        ({"amount_min": "-5"}, "an amount is written as 1500 or 1500.50"),
        ({"amount_min": "1.005"}, "an amount is written as 1500 or 1500.50"),
        ({"amount_min": "900", "amount_max": "100"}, "the largest amount is below the smallest"),
        ({"channel": "fax"}, "channel is till, web or app"),
        ({"sort": "colour"}, "sort by date or amount"),
        ({"store": "S 1"}, "a store's code is letters"),
        ({"member_kind": "id", "member": "anna"}, "a member number is a whole number"),
        ({"after": "bm90IGEgY3Vyc29y"}, "the page cursor is not valid"),
    ],
)
def test_a_bad_filter_is_a_clear_error_with_the_list_unfiltered(
    world, shop, as_role, params, field_text
):
    """A filter that cannot be read answers 422 naming what is wrong; the form keeps what
    was typed and the list below is unfiltered."""
    page = as_role("support").get("/admin/receipts", params=params)
    assert page.status_code == 422
    assert field_text in html.unescape(text_of(page.text))
    assert len(listed(page.text)) == 4
    for value in params.values():
        assert f'value="{value}"' in page.text or value in page.text


def test_a_member_nobody_has_is_not_found(world, shop, as_role):
    """A card no member has answers 404 and says so."""
    page = as_role("support").get(
        "/admin/receipts", params={"member_kind": "card", "member": "NOBODY-1"}
    )
    assert page.status_code == 404
    assert "card" in text_of(page.text)


def test_a_store_bound_support_key_lists_its_store_only(ctx, world, shop):
    """A support key made for store S2 lists S2's receipts, and an S1 filter finds none."""
    _, secret = apikeys.create_key(ctx, world.program.code, "support", "S2 desk", "S2")
    c = client(world)
    assert sign_in(c, secret).status_code == 303
    assert listed(c.get("/admin/receipts").text) == ["C", "B"]
    assert listed(c.get("/admin/receipts", params={"store": "S1"}).text) == []


def test_the_old_receipt_address_leads_to_the_receipt_page(world, as_role):
    """``/admin/purchases?receipt_id=...`` (links in history, bookmarks) redirects to the
    receipt's page."""
    c = as_role("support")
    found = c.get("/admin/purchases", params={"receipt_id": world.receipt_id})
    assert found.status_code == 303
    assert re.fullmatch(r"/admin/receipts/\d+", found.headers["location"])
    page = c.get(found.headers["location"])
    assert page.status_code == 200
    assert world.receipt_id in page.text


def test_an_amount_filter_finds_the_same_receipts_read_along_the_dates(
    world, shop, as_role, monkeypatch
):
    """When an amount range holds many receipts the list reads the date index and tests
    the amounts on the way: it finds what the amount index finds."""
    params = {"amount_min": "600", "amount_max": "1500"}
    c = as_role("support")
    by_amount_index = listed(c.get("/admin/receipts", params=params).text)
    monkeypatch.setattr("kopilka.store.repos.receipt_list.FEW", 1)
    assert (
        listed(c.get("/admin/receipts", params=params).text)
        == by_amount_index
        == [
            "C",
            world.receipt_id,
        ]
    )
