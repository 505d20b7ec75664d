"""The console's members list: search by name, phone, e-mail or card prefix, the filters,
the orders, keyset pages, the CSV export and who may see personal data."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from kopilka.services import members as member_svc
from kopilka.services import points
from kopilka.services.points import Adjust
from tests.e2e.web.world import hidden_fields, text_of

# (first, last, card, phone, e-mail, days after the world's member, balance, tier, blocked)
PEOPLE = [
    ("Boris", "Ivanov", "CRD-1001", "+79001112233", "boris@north.org", 1, 100, "gold", False),
    ("Bella", "Smirnova", "CRD-1002", "+79001119999", "bella@south.org", 2, 500, None, True),
    ("Viktor", "Orlov", "ZZZ-9", "+74951234567", "viktor@east.org", 3, 0, None, False),
]


@pytest.fixture
def crowd(world, clock):
    """The world's Anna Petrova (enrolled first, bought on 2026-03-14) and three more."""
    ids = {"Anna": world.member_id}
    for first, last, card, phone, email, _days, balance, tier, blocked in PEOPLE:
        clock.advance(timedelta(days=1))
        member = member_svc.enroll(
            world.ctx,
            world.program,
            member_svc.Enroll(
                member_svc.identifiers([("card", card), ("phone", phone), ("email", email)]),
                profile=member_svc.Profile(first_name=first, last_name=last, tier_code=tier),
            ),
        )
        if balance:
            points.adjust(
                world.ctx,
                world.program,
                Adjust(member.id, balance, key=f"gift-{card}", reason="gift", actor="test"),
            )
        if blocked:
            member_svc.set_blocked(world.ctx, world.program, member.id, True, "fraud check")
        ids[first] = member.id
    return ids


def listed(html: str) -> list[int]:
    """The member ids the list shows, in its order."""
    return [int(i) for i in re.findall(r'<td><a href="/admin/members/(\d+)">', html)]


def names(crowd, html: str) -> list[str]:
    by_id = {v: k for k, v in crowd.items()}
    return [by_id[i] for i in listed(html)]


def test_the_list_shows_everyone_newest_first(crowd, as_role):
    """With no search the page lists the program's members, the newest enrolled first."""
    page = as_role("support").get("/admin/members")
    assert page.status_code == 200
    assert names(crowd, page.text) == ["Viktor", "Bella", "Boris", "Anna"]
    assert "+79001112233" in page.text  # support sees personal data


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("bo", ["Boris"]),  # a first name's beginning, any case
        ("PETR", ["Anna"]),  # a last name's beginning
        ("8 900 111", ["Bella", "Boris"]),  # a phone's beginning, as typed, normalised
        ("+7495", ["Viktor"]),
        ("bella@", ["Bella"]),  # an e-mail's beginning
        ("BORIS@NORTH", ["Boris"]),
        ("crd-10", ["Bella", "Boris"]),  # a card's beginning
        ("zzz", ["Viktor"]),
        ("nobody", []),
    ],
)
def test_search_by_name_phone_email_or_card_prefix(crowd, as_role, q, found):
    """The search box matches the beginning of a name (any case), of a phone (normalised
    as at enrollment: 8 … reads +7 …), of an e-mail or of a card."""
    page = as_role("support").get("/admin/members", params={"q": q})
    assert page.status_code == 200
    assert names(crowd, page.text) == found


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"status": "blocked"}, ["Bella"]),
        ({"status": "active"}, ["Viktor", "Boris", "Anna"]),
        ({"tier": "gold"}, ["Boris"]),
        ({"enrolled_from": "2026-03-15", "enrolled_to": "2026-03-16"}, ["Bella", "Boris"]),
        ({"balance_min": "400"}, ["Bella"]),
        ({"balance_min": "50", "balance_max": "200"}, ["Boris"]),
        ({"last_purchase_before": "2026-03-20"}, ["Anna"]),
        ({"last_purchase_before": "2026-03-14"}, []),
        ({"q": "b", "status": "active"}, ["Boris"]),
    ],
)
def test_each_filter(crowd, as_role, params, found):
    """Status, tier, enrolled between (days in the program's zone, both included),
    balance between, last purchase before a day, and a search with a filter."""
    page = as_role("support").get("/admin/members", params=params)
    assert page.status_code == 200
    assert names(crowd, page.text) == found


@pytest.mark.parametrize(
    ("params", "order"),
    [
        ({"sort": "name"}, ["Boris", "Viktor", "Anna", "Bella"]),  # Ivanov … Smirnova
        ({"sort": "name", "order": "desc"}, ["Bella", "Anna", "Viktor", "Boris"]),
        ({"sort": "balance", "status": "active", "q": "b"}, ["Boris"]),
        ({"sort": "enrolled", "order": "asc"}, ["Anna", "Boris", "Bella", "Viktor"]),
    ],
)
def test_sorting(crowd, as_role, params, order):
    """The list sorts by last name, balance or enrollment, either way."""
    page = as_role("support").get("/admin/members", params=params)
    assert names(crowd, page.text) == order


def test_sorting_by_balance_richest_first(crowd, as_role):
    """By balance the richest come first; ties keep a stable order."""
    page = as_role("support").get("/admin/members", params={"sort": "balance", "q": "crd"})
    assert names(crowd, page.text) == ["Bella", "Boris"]


def test_keyset_pages_cover_everyone_once(world, clock, as_role):
    """30 members show as 25 and 5: 'Next page' carries a cursor (no offset), the pages
    do not overlap and together list everyone, in every order."""
    for i in range(29):
        clock.advance(timedelta(minutes=1))
        member_svc.enroll(
            world.ctx,
            world.program,
            member_svc.Enroll(
                member_svc.identifiers([("card", f"PAGE-{i:04d}")]),
                # some without a last name: they follow the named ones by name
                profile=member_svc.Profile(
                    first_name="Page", last_name=f"Member{i % 7}" if i % 5 else None
                ),
            ),
        )
    c = as_role("support")
    for sort, order in [(s, o) for s in ("enrolled", "name", "balance") for o in ("asc", "desc")]:
        first = c.get("/admin/members", params={"sort": sort, "order": order})
        assert len(listed(first.text)) == 25
        found = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert found, "the first page links the next"
        second = c.get(found.group(1).replace("&amp;", "&"))
        assert second.status_code == 200
        assert len(listed(second.text)) == 5
        assert 'rel="next"' not in second.text
        everyone = listed(first.text) + listed(second.text)
        assert len(set(everyone)) == 30


def test_a_bad_cursor_or_filter_is_a_validation_error(crowd, as_role):
    """A tampered cursor, a date that is not one or an unknown sort is a 422 on the page."""
    c = as_role("support")
    assert c.get("/admin/members", params={"after": "not-a-cursor"}).status_code == 422
    bad_date = c.get("/admin/members", params={"enrolled_from": "14.03.2026"})
    assert bad_date.status_code == 422
    assert "a date is written as 2026-03-14" in bad_date.text
    assert c.get("/admin/members", params={"sort": "shoe size"}).status_code == 422
    assert c.get("/admin/members", params={"balance_min": "lots"}).status_code == 422


def test_a_name_in_the_lookup_form_searches_names(crowd, as_role):
    """A name typed into the lookup is searched among names, not refused as a card; an
    exact identifier still opens the member."""
    c = as_role("support")
    fields = hidden_fields(c.get("/admin/members").text, "/admin/members/search")
    by_name = c.post("/admin/members/search", data={**fields, "kind": "name", "value": "Bor"})
    assert by_name.status_code == 303
    assert by_name.headers["location"] == "/admin/members?q=Bor"
    as_card = c.post(
        "/admin/members/search", data={**fields, "kind": "card", "value": "Anna Petrova"}
    )
    assert as_card.status_code == 303
    page = c.get(as_card.headers["location"])
    assert names(crowd, page.text) == ["Anna"]
    exact = c.post("/admin/members/search", data={**fields, "kind": "card", "value": "CRD-1002"})
    assert exact.headers["location"] == f"/admin/members/{crowd['Bella']}"


@pytest.mark.parametrize("role", ["support", "admin"])
def test_csv_export_of_the_filtered_list(crowd, as_role, role):
    """Roles that see personal data export the filtered list, unmasked, as CSV."""
    response = as_role(role).get("/admin/members.csv", params={"q": "crd", "sort": "name"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["name"] for r in rows] == ["Boris Ivanov", "Bella Smirnova"]
    assert rows[0]["phone"] == "+79001112233"
    assert rows[0]["email"] == "boris@north.org"
    assert rows[0]["card"] == "CRD-1001"
    assert rows[0]["tier"] == "gold"
    assert rows[1]["status"] == "blocked"
    assert rows[1]["balance"] == "500"


def test_csv_export_reads_in_batches(crowd, as_role, monkeypatch):
    """The export reads the list in keyset batches and still lists everyone once."""
    from kopilka.services import member_list

    monkeypatch.setattr(member_list, "EXPORT_BATCH", 1)
    response = as_role("support").get("/admin/members.csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(int(r["id"]) for r in rows) == sorted(crowd.values())


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_roles_without_personal_data_see_it_masked_and_cannot_export(crowd, as_role, role):
    """A marketer (or an analyst) sees names, phones, e-mails and cards masked, is offered
    no export, and the export itself is refused."""
    c = as_role(role)
    page = c.get("/admin/members")
    assert page.status_code == 200
    text = text_of(page.text)
    assert names(crowd, page.text) == ["Viktor", "Bella", "Boris", "Anna"]
    for secret in ("Boris", "Ivanov", "+79001112233", "boris@north.org", "CRD-1001"):
        assert secret not in text
    assert "B*** I***" in text
    assert "b***@north.org" in text
    assert "2233" in text
    assert "members.csv" not in page.text
    refused = c.get("/admin/members.csv")
    assert refused.status_code == 403
    assert "Boris" not in refused.text


def test_the_list_in_russian_and_english(crowd, as_role):
    """The list's labels follow the language: English and Russian."""
    c = as_role("support")
    en = text_of(c.get("/admin/members", headers={"Accept-Language": "en"}).text)
    assert "Last purchase before" in en
    assert "Export this list as CSV" in en
    ru = text_of(c.get("/admin/members", headers={"Accept-Language": "ru"}).text)
    assert "Последняя покупка до" in ru
    assert "Выгрузить этот список в CSV" in ru


def test_csv_export_does_not_carry_formulas(ctx, world, as_role):
    """A name typed like a spreadsheet formula is exported quoted, never as a formula."""
    member_svc.enroll(
        world.ctx,
        world.program,
        member_svc.Enroll(
            member_svc.identifiers([("card", "EVIL-0001")]),
            profile=member_svc.Profile(first_name="=HYPERLINK(1)", last_name="Evil"),
        ),
    )
    response = as_role("support").get("/admin/members.csv", params={"q": "evil-"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(1) Evil"]


@pytest.mark.parametrize("q", ["кузьм", "КУЗЬМ", "Кузьмина", "ёлка кузь"])
def test_search_by_a_name_in_cyrillic_in_any_case(world, as_role, q):
    """A Russian name is found by its beginning in any case, on SQLite too (whose own
    lower() folds ASCII letters only); a name with "ё" as well."""
    member = member_svc.enroll(
        world.ctx,
        world.program,
        member_svc.Enroll(
            member_svc.identifiers([("card", "CRD-RU-1")]),
            profile=member_svc.Profile(first_name="Ёлка", last_name="Кузьмина"),
        ),
    )
    page = as_role("support").get("/admin/members", params={"q": q})
    assert page.status_code == 200
    assert listed(page.text) == [member.id]
