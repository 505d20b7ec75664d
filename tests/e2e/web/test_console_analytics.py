"""The console's analytics dashboard (/admin/analytics) on both databases: an analyst reads
the range's figures, five charts drawn as inline SVG (each with a title and a description)
with their numbers in tables and as CSV, in English and Russian, and no member's name; the
exports download for BI, personal data only for the roles that see it; roles without
analytics see neither the link nor the page."""

from __future__ import annotations

import csv
import io

from kopilka.services import analytics, audit, rules
from tests.e2e.web.world import RULES, text_of

RU = {"Accept-Language": "ru"}


def _range(world) -> str:
    day = world.ctx.now().date().isoformat()
    return f"from={day}&to={day}"


def test_the_analyst_reads_figures_charts_and_tables(world, as_role):
    """After a refresh, the page shows the ledger's issued points and liability as verify
    sums them, every chart as an SVG with its title and description, its table and CSV
    link; no member's name or card appears on it."""
    analytics.refresh(world.ctx, world.program)
    c = as_role("analyst")
    assert 'href="/admin/analytics"' in c.get("/admin").text
    page = c.get(f"/admin/analytics?{_range(world)}&grain=day&by=store")
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count("<svg") == 5  # liability, points, active, cohorts, budget
    for chart in ("liability", "points", "active", "cohorts", "budget", "rules"):
        assert f'href="/admin/analytics/{chart}.csv?' in html, chart
    assert '<title id="chart-liability-t">' in html
    assert '<desc id="chart-liability-d">' in html
    totals = audit.verify_ledger(world.ctx, world.program.id).totals
    text = text_of(html)
    assert f"Outstanding points {totals['liability']}" in text
    for personal in ("Anna", "Petrova", world.card):
        assert personal not in html
    assert "S1" in text  # the breakdown by store


def test_a_charts_csv_has_its_tables_numbers(world, as_role):
    """The points chart's CSV has the period and the issued, redeemed, expired and adjusted
    points of the day, as the rollups hold them."""
    analytics.refresh(world.ctx, world.program)
    r = as_role("analyst").get(f"/admin/analytics/points.csv?{_range(world)}&grain=day")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["period", "issued", "redeemed", "expired", "adjusted"]
    totals = audit.verify_ledger(world.ctx, world.program.id).totals
    assert int(rows[1][1]) == -totals["issued"]
    assert int(rows[1][4]) == -totals["adjustments"]
    assert as_role("analyst").get("/admin/analytics/nope.csv").status_code == 422


def test_the_page_reads_in_russian(world, as_role):
    """In Russian the headings and figures' words are Russian."""
    analytics.refresh(world.ctx, world.program)
    c = as_role("analyst")
    text = text_of(c.get(f"/admin/analytics?{_range(world)}", headers=RU).text)
    assert "Аналитика" in text
    assert "Начислено баллов" in text
    assert "Outstanding points" not in text


def test_exports_download_with_personal_data_only_for_allowed_roles(world, as_role):
    """An analyst downloads purchases as CSV and members without names; asking for
    personal data is refused; an admin gets the names."""
    analyst = as_role("analyst")
    r = analyst.get(f"/admin/analytics/export?dataset=purchases&{_range(world)}")
    assert r.status_code == 200
    assert world.receipt_id in r.text
    members = analyst.get(f"/admin/analytics/export?dataset=members&{_range(world)}")
    assert "Petrova" not in members.text
    refused = analyst.get(
        f"/admin/analytics/export?dataset=members&personal_data=1&{_range(world)}"
    )
    assert refused.status_code == 403
    full = as_role("admin").get(
        f"/admin/analytics/export?dataset=members&personal_data=1&{_range(world)}"
    )
    assert "Petrova" in full.text


def test_roles_without_analytics_are_refused(as_role):
    """Support and a marketer have no analytics:read: no link, and the page is a 403."""
    for role in ("support", "marketer"):
        c = as_role(role)
        assert 'href="/admin/analytics"' not in c.get("/admin/members").text
        assert c.get("/admin/analytics").status_code == 403


PILOT = """
  - id: trial
    kind: rate
    description: "Trial: 5 % back"
    rate: {percent: 5}
    pilot: {share_percent: 50}
"""


def test_the_pilots_table_and_its_csv(world, as_role):
    """With a rule piloted on half the members, the page lists it in the pilots' table
    (English and Russian headings) and its CSV has the stable columns and the rule's row,
    the program's one member in the pilot or in its control group."""
    assert "rules:\n" in RULES
    rules.publish(
        world.ctx, world.program, RULES.replace("rules:\n", "rules:" + PILOT, 1), actor="test"
    )
    analytics.refresh(world.ctx, world.program)
    c = as_role("analyst")
    html = c.get(f"/admin/analytics?{_range(world)}").text
    assert 'href="/admin/analytics/pilots.csv?' in html
    assert 'href="/admin/analytics/campaigns.csv?' in html
    text = text_of(html)
    assert "Pilots and their return" in text
    assert "trial" in text
    assert "Пилоты и их окупаемость" in text_of(
        c.get(f"/admin/analytics?{_range(world)}", headers=RU).text
    )
    rows = list(csv.reader(io.StringIO(c.get(f"/admin/analytics/pilots.csv?{_range(world)}").text)))
    assert rows[0][:4] == ["rule_id", "share_percent", "pilot_members", "control_members"]
    assert rows[1][0] == "trial"
    assert int(rows[1][2]) + int(rows[1][3]) == 1
