"""Marketers' and analysts' pages: rules versions, publishing, preview, overview, verify."""

from __future__ import annotations

import json

import pytest

from kopilka.services import ledger_reports
from kopilka.services import rules as rules_svc
from kopilka.services.audit_log import audit_page
from tests.e2e.web.world import BAD_RULES, RULES, hidden_fields, text_of


def publish(c, document: str, **extra: str):
    """Post the publish form, confirmed (the confirmation step is tested on its own)."""
    fields = hidden_fields(c.get("/admin/rules").text, "/admin/rules/publish")
    data = {**fields, "document": document, "confirmed": "yes", **extra}
    return c.post("/admin/rules/publish", data=data)


def preview(c, document: str, basket: str):
    fields = hidden_fields(c.get("/admin/rules").text, "/admin/rules/preview#preview-h")
    return c.post("/admin/rules/preview", data={**fields, "document": document, "basket": basket})


def test_overview_shows_liability_totals_members_and_active_rules(as_role):
    """The overview states the liability, the account totals, members and the rules in force."""
    text = text_of(as_role("analyst").get("/admin").text)
    assert "Outstanding liability 350 points" in text
    assert "Members 1" in text
    assert "Issued 50" in text
    assert "Manual adjustments (net) +300" in text
    assert "Active rules version 1" in text


def test_rules_page_lists_versions_and_shows_a_document(as_role):
    """The versions table links each version to its document and rule list."""
    c = as_role("analyst")
    page = c.get("/admin/rules")
    assert 'href="/admin/rules/1"' in page.text
    assert "in force" in page.text
    assert "/admin/rules/publish" not in page.text  # analysts do not publish
    version = c.get("/admin/rules/1")
    assert version.status_code == 200
    assert "Double points on dairy" in version.text
    assert "secret-bonus" in version.text  # the console shows hidden rules too
    assert c.get("/admin/rules/99").status_code == 404


def test_publishing_an_invalid_document_shows_errors_with_line_numbers(world, as_role):
    """A document with an error is not published; the error names its line and field."""
    response = publish(as_role("marketer"), BAD_RULES)
    assert response.status_code == 422
    text = text_of(response.text)
    assert "line 7" in text
    assert "rules[0].rate.points" in text
    assert "points: -1" in response.text  # the document is kept in the form
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_publishing_a_valid_document_creates_a_version_once(world, as_role):
    """Publishing adds version 2; the same form submitted again adds nothing."""
    c = as_role("marketer")
    fields = hidden_fields(c.get("/admin/rules").text, "/admin/rules/publish")
    data = {**fields, "document": RULES, "effective_at": "2026-04-01T00:00", "confirmed": "yes"}
    response = c.post("/admin/rules/publish", data=data)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/rules?published=2"
    assert c.post("/admin/rules/publish", data=data).status_code == 303
    versions = rules_svc.list_versions(world.ctx, world.program)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["effective_at"] == "2026-03-31T21:00:00+00:00"  # Moscow midnight
    page = text_of(c.get(response.headers["location"]).text)
    assert "Version 2 is published." in page


def test_a_document_in_another_currency_is_refused(as_role):
    """The service's refusal (currency mismatch) is shown as the form's error."""
    response = publish(as_role("admin"), RULES.replace("currency: RUB", "currency: EUR"))
    assert response.status_code == 422
    assert "is not the program&#39;s RUB" in response.text


@pytest.mark.parametrize("role", ["support", "analyst"])
def test_roles_other_than_marketer_and_admin_cannot_publish(as_role, role):
    """Publishing is refused with 403 for support and analysts."""
    c = as_role(role)
    token = hidden_fields(c.get("/admin").text, "/admin/sign-out")["csrf_token"]
    response = c.post(
        "/admin/rules/publish",
        data={"csrf_token": token, "idempotency_key": "web-1", "document": RULES},
    )
    assert response.status_code == 403


def test_preview_shows_points_by_rule_without_publishing(world, as_role):
    """A draft evaluated on a sample basket shows its points by rule and writes nothing."""
    basket = json.dumps(
        {
            "member": {"card": world.card},
            "lines": [
                {"line_id": "1", "sku": "M", "quantity": "1", "amount": "1000", "category": "dairy"}
            ],
        }
    )
    response = preview(as_role("marketer"), RULES, basket)
    assert response.status_code == 200
    text = text_of(response.text)
    assert "20 points for member" in text
    assert "dairy-x2" in text
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_preview_takes_promo_codes_payments_and_the_order_discount(world, as_role):
    """A draft with a promo-code rule and an SBP bonus previews a basket that carries the
    code, its payments and an order discount as a quote would (quote and preview agree)."""
    draft = RULES.replace(
        "redemption:",
        """  - id: spring
    kind: rate
    rate: {points: 7, per: "100"}
    when: {promo_code: SPRING}
  - id: sbp
    kind: rate
    rate: {percent: 10}
    tenders: [sbp]
promo_codes: [{code: SPRING}]
redemption:""",
    )
    body = {
        "member": {"card": world.card},
        "lines": [{"line_id": "1", "sku": "B", "quantity": "1", "amount": "1100"}],
        "order_discount": "100",
        "promo_codes": ["spring"],
        "payments": [{"tender": "sbp", "amount": "500"}, {"tender": "card", "amount": "500"}],
    }
    response = preview(as_role("marketer"), draft, json.dumps(body))
    assert response.status_code == 200, text_of(response.text)
    # on 1000 RUB: base 10, SPRING 70, 10 % of the 500 paid by SBP 50
    assert "130 points for member" in text_of(response.text)
    short = {**body, "payments": [{"tender": "sbp", "amount": "1"}]}
    assert preview(as_role("marketer"), draft, json.dumps(short)).status_code == 422
    unknown = {**body, "promo_codes": ["NOPE"]}
    refused = preview(as_role("marketer"), draft, json.dumps(unknown))
    assert refused.status_code == 422
    assert "unknown promo code" in text_of(refused.text)


def test_preview_of_broken_json_names_the_line(as_role):
    """A basket that is not JSON is refused with the line of the problem."""
    response = preview(as_role("marketer"), RULES, '{\n  "lines": [\n  oops\n]}')
    assert response.status_code == 422
    assert "line 3" in text_of(response.text)


def test_verify_page_reports_every_invariant(world, as_role):
    """The verify page lists each invariant of the stored report as ok and the account
    totals."""
    ledger_reports.check_ledger(world.ctx, world.program, "job")
    page = as_role("analyst").get("/admin/verify")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Every invariant holds" in text
    assert "entries_balance" in text
    assert "FAILED" not in text
    assert "liability 350" in text


def test_publishing_a_document_with_yaml_aliases_shows_the_line(world, as_role):
    """The console refuses an anchored, aliased document (once a crash) with a 422 that
    names the line and the field, and publishes nothing."""
    response = publish(as_role("marketer"), "redemption: {enabled: false}\nrules: &a [*a]\n")
    assert response.status_code == 422
    text = text_of(response.text)
    assert "line 2" in text
    assert "anchor &amp;a is not allowed" in text  # as HTML shows it
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_backdating_in_the_console_is_for_admins_only_and_audited(world, as_role):
    """An effective time in the past is refused without the backdate box; only an admin
    sees the box, a marketer who sends it anyway gets 403, and an admin's backdated
    version is published and audited as rules.backdate."""
    past = "2025-01-01T00:00"
    marketer = as_role("marketer")
    assert 'name="backdate"' not in marketer.get("/admin/rules").text
    refused = publish(marketer, RULES, effective_at=past)
    assert refused.status_code == 422
    assert "in the past" in text_of(refused.text)
    assert publish(marketer, RULES, effective_at=past, backdate="yes").status_code == 403
    admin = as_role("admin")
    assert 'name="backdate"' in admin.get("/admin/rules").text
    assert publish(admin, RULES, effective_at=past).status_code == 422
    assert publish(admin, RULES, effective_at=past, backdate="yes").status_code == 303
    versions = rules_svc.list_versions(world.ctx, world.program)
    assert [v["effective_at"] for v in versions[1:]] == ["2024-12-31T21:00:00+00:00"]
    entries = audit_page(world.ctx, world.program.id, target="rules")["items"]
    assert [e.action for e in entries] == ["rules.backdate"]
    # version 1 (effective later) stays in force: the backdated one covers only before it
    page = admin.get("/admin/rules").text
    assert '<a href="/admin/rules/1">1</a> <span class="status status-active">in force' in page
    assert '<a href="/admin/rules/2">2</a> <span' not in page
