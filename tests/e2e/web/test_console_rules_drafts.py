"""The rules pages start a marketer from what is in force: the draft editor holds the
document in force, the sample basket names a real member, a version's document copies
whole (blank lines kept)."""

from __future__ import annotations

import html
import re

from kopilka.services import rules as rules_svc
from tests.e2e.web.test_console_rules import preview
from tests.e2e.web.world import RULES, text_of

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
