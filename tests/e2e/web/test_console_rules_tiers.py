"""The rules editor's tiers (/admin/rules): the draft's tiers: section summarised beside
the editor (levels with both names, the bars to reach and keep them, the window, review,
downgrade, qualifying points and returns in words), in both languages; shown again for
an edited draft without publishing it; a wrong section's errors at their lines."""

from __future__ import annotations

from kopilka.services import rules as rules_svc
from tests.e2e.web.world import RULES, hidden_fields, text_of

RU = {"Accept-Language": "ru"}
TIERS = """tiers:
  window: {kind: rolling, months: 12}
  review: {schedule: anniversary}
  qualifying_points: {from: [purchases, events]}
  downgrade: {mode: after_grace, grace_days: 30, on_return: false}
  soft_landing: true
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000", points: 500}
      keep: {spend: "10000", points: 300}
"""


def test_the_editor_shows_the_tiers_in_force_beside_the_draft(world, as_role):
    """With tiers in force, the editor's side table lists each level, its bars and the
    program's options, in English and in Russian."""
    rules_svc.publish(world.ctx, world.program, RULES + TIERS, actor="test")
    c = as_role("marketer")
    page = text_of(c.get("/admin/rules").text)
    assert "Tiers of this draft" in page
    assert "Gold (Золотой)" in page
    assert "15,000.00 spent or 500 points" in page.replace("\xa0", " ").replace("RUB ", "")
    assert "the last 12 months" in page
    assert "on the anniversary of reaching the tier" in page
    assert "after 30 days of grace" in page
    assert "one level at a time" in page
    assert "purchases, events" in page
    assert "at the next review" in page
    ru = text_of(c.get("/admin/rules", headers=RU).text)
    assert "Уровни в этом черновике" in ru
    assert "Золотой (Gold)" in ru
    assert "в годовщину достижения уровня" in ru
    assert "покупки, события" in ru


def test_show_the_drafts_tiers_checks_an_edited_draft_without_publishing(world, as_role):
    """An edited draft's tiers are shown on demand, the draft kept, nothing published; a
    wrong tiers: section shows its errors at their lines and fields, 200 (not a refusal)."""
    c = as_role("marketer")
    page = c.get("/admin/rules").text
    assert "This draft has no tiers: section." in text_of(page)
    fields = hidden_fields(page, "/admin/rules/publish")
    shown = c.post("/admin/rules/tiers", data={**fields, "document": RULES + TIERS})
    assert shown.status_code == 200
    assert "Gold (Золотой)" in text_of(shown.text)
    broken = RULES + TIERS.replace("kind: rolling, months: 12", "kind: calendar_year")
    refused = c.post("/admin/rules/tiers", data={**fields, "document": broken})
    assert refused.status_code == 200
    text = text_of(refused.text)
    assert "The tiers: section cannot be read" in text
    assert "tiers.review.schedule" in text
    assert "needs a rolling or lifetime window" in text
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1
