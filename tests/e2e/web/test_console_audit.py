"""The console's audit log page (/admin/audit): the roles that read the audit log through the
API read it here, linked from the navigation; entries are newest first, named by who did
them, filtered by actor, action, member and dates, a keyset page at a time, in Russian and
English."""

from __future__ import annotations

from datetime import timedelta

from kopilka.services import back_office
from kopilka.services.apikeys import list_keys
from kopilka.services.back_office import SetBlocked
from kopilka.services.points import Adjust
from kopilka.web import audit_pages
from tests.e2e.web.world import text_of

RU = {"Accept-Language": "ru"}


def rows(html: str) -> str:
    """The text of the entries' table (the filters' options name every action too)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return text_of(body)


def _actor(world, role: str) -> str:
    return next(k for k in list_keys(world.ctx, world.program.code) if k.role == role).actor


def _history(world, clock) -> None:
    """A support adjustment today, an admin block tomorrow (the world's points were given
    through the ledger's use cases, which the audit log does not record)."""
    back_office.adjust(
        world.ctx,
        world.program,
        Adjust(
            world.member_id, 7, key="audit-a", reason="goodwill", actor=_actor(world, "support")
        ),
    )
    clock.advance(timedelta(days=1))
    back_office.set_blocked(
        world.ctx,
        world.program,
        SetBlocked(world.member_id, True, "fraud", key="audit-b", actor=_actor(world, "admin")),
        answer=lambda _inner: {"status": "blocked"},
    )


def test_readers_of_the_audit_log_see_the_page_and_its_link(as_role):
    """Support, analyst and admin (audit:read) see the link and the page; a marketer, who
    cannot read the audit log through the API, sees neither."""
    for role in ("support", "analyst", "admin"):
        c = as_role(role)
        assert 'href="/admin/audit"' in c.get("/admin/members").text, role
        page = c.get("/admin/audit")
        assert page.status_code == 200, role
        assert "Audit log" in text_of(page.text)
    marketer = as_role("marketer")
    assert 'href="/admin/audit"' not in marketer.get("/admin").text
    assert marketer.get("/admin/audit").status_code == 403


def test_entries_newest_first_named_and_filtered(world, as_role, clock):
    """Entries come newest first with the actor's name and role and the action in words;
    each filter (actor, action, member, dates in the program's zone) narrows the list."""
    _history(world, clock)
    c = as_role("support")
    page = rows(c.get("/admin/audit").text)
    assert page.index("member blocked") < page.index("points adjusted")
    assert "admin desk (admin)" in page
    assert "support desk (support)" in page
    assert "apikey:" not in page.replace('value="apikey:', "")

    by_support = rows(c.get("/admin/audit", params={"actor": _actor(world, "support")}).text)
    assert "points adjusted" in by_support
    assert "member blocked" not in by_support
    blocks = rows(c.get("/admin/audit", params={"action": "member.block"}).text)
    assert "member blocked" in blocks
    assert "points adjusted" not in blocks
    other = rows(c.get("/admin/audit", params={"member": "999999"}).text)
    assert other == ""
    mine = rows(c.get("/admin/audit", params={"member": str(world.member_id)}).text)
    assert "member blocked" in mine
    first_day = rows(c.get("/admin/audit", params={"until": "2026-03-14"}).text)
    assert "points adjusted" in first_day
    assert "member blocked" not in first_day
    second_day = rows(c.get("/admin/audit", params={"since": "2026-03-15"}).text)
    assert "member blocked" in second_day
    assert "points adjusted" not in second_day


def test_bad_filters_are_explained_in_both_languages(as_role):
    """A date that is not one, a reversed range or a member that is no number answer 422
    with a sentence in the page's language, and list nothing."""
    c = as_role("analyst")
    bad = c.get("/admin/audit", params={"since": "14.03.2026", "member": "x"})
    assert bad.status_code == 422
    text = text_of(bad.text)
    assert "Dates are written as YYYY-MM-DD." in text
    assert "A member is named by the number of their page" in text
    reversed_range = c.get("/admin/audit", params={"since": "2026-03-15", "until": "2026-03-14"})
    assert reversed_range.status_code == 422
    assert "The first day comes after the last." in text_of(reversed_range.text)
    ru = c.get("/admin/audit", params={"since": "вчера"}, headers=RU)
    assert ru.status_code == 422
    assert "Даты пишутся как ГГГГ-ММ-ДД." in text_of(ru.text)


def test_pages_are_keyset_and_keep_the_filters(world, as_role, clock, monkeypatch):
    """With a page smaller than the log, "Older" links to the next page (before=<id>) with
    the filters kept, and the pages together list each entry once."""
    _history(world, clock)
    monkeypatch.setattr(audit_pages, "AUDIT_PAGE", 1)
    c = as_role("admin")
    seen: list[str] = []
    url = "/admin/audit?member=" + str(world.member_id)
    for _ in range(5):
        html = c.get(url).text
        text = rows(html)
        seen += [w for w in ("member blocked", "points adjusted") if w in text]
        older = [
            part.split('"')[0].replace("&amp;", "&")
            for part in html.split('href="/admin/audit?')[1:]
            if "before=" in part.split('"')[0]
        ]
        if not older:
            break
        assert f"member={world.member_id}" in older[0]
        url = "/admin/audit?" + older[0]
    # two pages of one entry each, the block (newest) first
    assert seen == ["member blocked", "points adjusted"]


def test_audit_page_in_russian(world, as_role, clock):
    """On a Russian page the heading, the actor's role, the action and the filters are Russian."""
    _history(world, clock)
    c = as_role("support")
    html = c.get("/admin/audit", headers=RU).text
    page = text_of(html)
    assert "Журнал действий" in page
    assert "участник заблокирован" in rows(html)
    assert "баллы скорректированы" in rows(html)
    assert "admin desk (администратор)" in page
    assert "Кто" in page
    assert "Audit log" not in page
    assert "points adjusted" not in page


def test_before_and_after_read_as_written_not_unicode_escaped(as_role):
    """A published rule's Russian description reads as Russian in the entry's "After" (it
    was ``\\u0414...`` escapes, unreadable), and markup in a stored value stays text."""
    from tests.e2e.web.test_console_rules import publish
    from tests.e2e.web.world import RULES

    c = as_role("admin")
    document = RULES.replace('"1 point for every 100 RUB"', '"Двойные баллы <b>1–10</b> января"')
    assert publish(c, document).status_code == 303
    html = c.get("/admin/audit", params={"action": "rules.publish"}).text
    assert "Двойные баллы &lt;b&gt;1–10&lt;/b&gt; января" in html
    assert "\\u04" not in html
    assert "<b>1–10</b>" not in html
