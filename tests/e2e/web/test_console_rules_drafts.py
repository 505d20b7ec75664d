"""The rules pages start a marketer from what is in force: the draft editor holds the
document in force, the sample basket names a real member, a version's document copies
whole (blank lines kept)."""

from __future__ import annotations

import html
import re

from kopilka.services import rules as rules_svc
from tests.e2e.web.test_console_rules import preview
from tests.e2e.web.world import RULES, hidden_fields, text_of

RU = {"Accept-Language": "ru"}


def textarea(page: str, ident: str) -> str:
    """The text a textarea of the page holds, unescaped as a browser shows it."""
    found = re.search(rf'<textarea id="{ident}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, ident
    return html.unescape(found.group(1))


def test_the_draft_editors_start_from_the_document_in_force(world, as_role):
    """Both the publish and the preview boxes hold the document of the version in force,
    in its format, so that editing starts from it rather than from an empty box."""
    page = as_role("marketer").get("/admin/rules").text
    assert textarea(page, "publish-document") == RULES
    assert textarea(page, "preview-document") == RULES
    assert "<option selected>yaml</option>" in page


def test_the_editor_explains_where_the_draft_starts_in_both_languages(as_role):
    """The publish form says the box starts from the document in force, in English and
    in Russian."""
    c = as_role("marketer")
    assert "Starts from the document in force" in text_of(c.get("/admin/rules").text)
    ru = text_of(c.get("/admin/rules", headers=RU).text)
    assert "Начинается с документа, который действует сейчас" in ru


def test_the_sample_basket_names_the_latest_purchases_member_and_previews(world, as_role):
    """The first basket names the member of the program's latest purchase by card, so
    that previewing the prefilled draft on it at once gives points, not an error."""
    c = as_role("marketer")
    page = c.get("/admin/rules").text
    basket = textarea(page, "basket")
    assert f'"card": "{world.card}"' in basket
    assert "CARD-NUMBER" not in basket
    response = preview(c, textarea(page, "preview-document"), basket)
    assert response.status_code == 200, text_of(response.text)
    assert f"points for member #{world.member_id}" in text_of(response.text)


def test_a_version_document_is_one_block_keeping_blank_lines(world, as_role):
    """A version's document is shown as one preformatted block, exactly as published,
    blank lines and indentation included, so that copying it loses nothing."""
    document = RULES.replace("rules:\n", "\nrules:\n").replace("redemption:", "\n\nredemption:")
    published = rules_svc.publish(world.ctx, world.program, document, actor="test")
    page = as_role("analyst").get(f"/admin/rules/{published['version']}").text
    block = re.search(r'<pre class="document"[^>]*><code>(.*?)</code></pre>', page, re.S)
    assert block
    assert html.unescape(block.group(1)) == document
    assert "\n\n\nredemption:" in html.unescape(block.group(1))


def compare(c, document: str, headers: dict[str, str] | None = None):
    """Post the preview form's "compare on recent receipts" button."""
    fields = hidden_fields(c.get("/admin/rules").text, "/admin/rules/preview#preview-h")
    return c.post(
        "/admin/rules/compare",
        data={**fields, "document": document, "format": "yaml"},
        headers=headers or {},
    )


def test_comparing_a_draft_on_recent_receipts_gives_points_and_cost_per_rule(world, as_role):
    """The service evaluates the version in force and the draft on the program's latest
    purchases: a draft that doubles the base rate doubles the base rule's points and the
    total's cost at the point value, and nothing is published."""
    draft = RULES.replace("rate: {points: 1,", "rate: {points: 2,")
    cmd = rules_svc.CompareOnReceipts(draft)
    result = rules_svc.compare_on_receipts(world.ctx, world.program, cmd)
    assert result["version"] == 1
    assert result["receipts"] == 1
    base = next(r for r in result["by_rule"] if r["rule"] == "base")
    assert base["after"] == 2 * base["before"] > 0
    assert result["points_after"] > result["points_before"]
    assert result["cost_after_minor"] == result["points_after"] * 100
    assert result["cost_before_minor"] == result["points_before"] * 100
    same = rules_svc.compare_on_receipts(
        world.ctx, world.program, rules_svc.CompareOnReceipts(RULES)
    )
    assert same["points_after"] == same["points_before"]
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_the_rules_page_shows_the_comparison_in_both_languages(world, as_role):
    """The console's compare button shows before, after and change per rule and the cost,
    in English and in Russian; a broken draft is refused with 422 and its line."""
    c = as_role("marketer")
    draft = RULES.replace("rate: {points: 1,", "rate: {points: 2,")
    response = compare(c, draft)
    assert response.status_code == 200, text_of(response.text)
    text = text_of(response.text)
    assert "On the latest 1 receipt:" in text
    assert "under version 1 in force" in text
    assert "Their cost at the point value" in text
    assert "base" in text
    ru = text_of(compare(c, draft, RU).text)
    assert "По последнему 1 чеку:" in ru
    assert "по действующей версии 1" in ru
    broken = compare(c, "schema_version: 1\nrules: [\n")
    assert broken.status_code == 422
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_diff_between_two_versions_shows_changed_lines_with_numbers(world, as_role):
    """/admin/rules/diff?a=1&b=2 shows difflib's unified diff as a table: the removed and
    the added line with their line numbers on each side; the versions list links each
    version to its changes from the one before; the same version twice has no changes."""
    draft = RULES.replace("rate: {points: 1,", "rate: {points: 2,")
    rules_svc.publish(world.ctx, world.program, draft, actor="test")
    c = as_role("analyst")
    assert 'href="/admin/rules/diff?a=1&amp;b=2"' in c.get("/admin/rules").text
    page = c.get("/admin/rules/diff?a=1&b=2")
    assert page.status_code == 200
    removed = re.search(r'<tr class="diff-removed">(.*?)</tr>', page.text, re.S)
    added = re.search(r'<tr class="diff-added">(.*?)</tr>', page.text, re.S)
    assert removed
    assert added
    assert "rate: {points: 1," in removed.group(1)
    assert "rate: {points: 2," in added.group(1)
    assert '<td class="num">7</td>' in removed.group(1)  # the line's number in version 1
    assert page.text.count('class="diff-removed"') == 1
    assert "Changes from version 1 to version 2" in text_of(page.text)
    ru = text_of(c.get("/admin/rules/diff?a=1&b=2", headers=RU).text)
    assert "Изменения от версии 1 к версии 2" in ru
    same = c.get("/admin/rules/diff?a=2&b=2")
    assert "The two documents are the same." in text_of(same.text)
    assert "Документы двух версий совпадают." in text_of(
        c.get("/admin/rules/diff?a=2&b=2", headers=RU).text
    )
    assert c.get("/admin/rules/diff").status_code == 200  # the latest against the one before
    assert c.get("/admin/rules/diff?a=1&b=99").status_code == 404
    assert c.get("/admin/rules/diff?a=0&b=1").status_code in (400, 422)


CAMPAIGNS = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
  - id: spring
    kind: multiplier
    description: "Spring in two stores"
    factor: 2
    when:
      dates: [{from: "2099-03-01", to: "2099-03-31"}]
      stores: [S1, S2]
      channels: [web, app]
  - id: winter
    kind: bonus
    points: 5
    when: {dates: [{from: "2020-01-01", to: "2020-01-31"}]}
redemption: {max_percent: 50, step: 10}
"""


def test_rules_in_force_are_listed_by_status_with_dates_stores_channels(world, as_role):
    """The rules of the version in force are grouped as running (no dates), scheduled (a
    date range ahead) and ended (every range past), with their dates, stores and channels
    from their conditions, in English and in Russian."""
    rules_svc.publish(world.ctx, world.program, CAMPAIGNS, actor="test")
    found = rules_svc.rule_campaigns(world.ctx, world.program)
    assert [(c["id"], c["status"]) for c in found] == [
        ("base", "running"),
        ("spring", "scheduled"),
        ("winter", "ended"),
    ]
    spring = found[1]
    assert (spring["starts"], spring["ends"]) == ("2099-03-01", "2099-03-31")
    assert spring["stores"] == ["S1", "S2"]
    assert spring["channels"] == ["web", "app"]
    assert found[0]["stores"] is None
    c = as_role("analyst")
    page = c.get("/admin/rules").text
    scheduled = re.search(r'id="campaigns-scheduled">(.*?)</table>', page, re.S)
    assert scheduled
    text = text_of(scheduled.group(1))
    assert "spring" in text
    assert "S1, S2" in text
    assert "2099" in text
    running = text_of(re.search(r'id="campaigns-running">(.*?)</table>', page, re.S).group(1))
    assert "all stores" in running
    assert "always" in running
    ru = text_of(c.get("/admin/rules", headers=RU).text)
    assert "Запланированы (1)" in ru
    assert "Завершились (1)" in ru
    assert "все магазины" in ru
