"""The rules page's form for the common rule kinds: it makes the same rule as the document
editor, prefills from a rule of a document, refuses bad fields in both languages, and
sends rules it cannot show to the editor; and publishing is confirmed first."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest

from kopilka.domain.rules import parse_ruleset
from kopilka.domain.rules.model import Rule
from kopilka.services import rule_drafts
from kopilka.services import rules as rules_svc
from kopilka.services.audit_log import audit_page
from kopilka.web.i18n import using
from kopilka.web.rule_form import FormErrors, fields_of, rule_of
from tests.e2e.web.world import RULES, hidden_fields, text_of

RU = {"Accept-Language": "ru"}
DRAFT = """\
# a draft with comments, which the form keeps
schema_version: 1
currency: RUB
rules:
  - id: base            # the base rate
    kind: rate
    rate: {points: 1, per: "100"}
redemption: {max_percent: 50, step: 10}
"""

# each kind as a person writes it in the editor, and as the form's fields say it
BY_HAND = {
    "rate": (
        """\
  - id: fresh
    kind: rate
    description: "Fresh: 3 points per 100"
    priority: 50
    stacking: exclusive
    rate: {points: 3, per: "100"}
    scope: {categories: [vegetables, fruit]}
    when:
      stores: [S1, S2]
      channels: [till]
    limits: {per_purchase: 500}
""",
        {
            "kind": "rate",
            "id": "fresh",
            "description": "Fresh: 3 points per 100",
            "priority": "50",
            "stacking": "exclusive",
            "rate_points": "3",
            "rate_per": "100",
            "categories": "vegetables, fruit",
            "stores": "S1, S2",
            "channel_till": "yes",
            "per_purchase": "500",
        },
    ),
    "multiplier": (
        """\
  - id: spring-x2
    kind: multiplier
    description: "Spring weekends: double points"
    factor: 2
    scope: {brands: [domashniy], skus: [MILK-1L]}
    when:
      dates: [{from: 2026-03-20, to: 2026-04-20}]
      days_of_week: [sat, sun]
      hours: {from: "08:00", to: "11:00"}
      tiers: [gold]
    limits: {per_member_day: 200, per_member_month: 1000, budget: 50000}
""",
        {
            "kind": "multiplier",
            "id": "spring-x2",
            "description": "Spring weekends: double points",
            "priority": "100",
            "factor": "2",
            "brands": "domashniy",
            "skus": "MILK-1L",
            "date_from": "2026-03-20",
            "date_to": "2026-04-20",
            "day_sat": "yes",
            "day_sun": "yes",
            "hours_from": "08:00",
            "hours_to": "11:00",
            "tiers": "gold",
            "per_member_day": "200",
            "per_member_month": "1000",
            "budget": "50000",
        },
    ),
    "bonus": (
        """\
  - id: big-basket
    kind: bonus
    visible: false
    campaign: spring
    points: 50
    min_amount: "3000.50"
    every_nth_purchase: 3
    when:
      channels: [web, app]
""",
        {
            "kind": "bonus",
            "id": "big-basket",
            "hidden": "yes",
            "campaign": "spring",
            "bonus_points": "50",
            "min_amount": "3000.50",
            "every_nth": "3",
            "channel_web": "yes",
            "channel_app": "yes",
        },
    ),
}


def by_hand(rule_text: str) -> str:
    """DRAFT with the rule written into it by hand, after the base rate."""
    return DRAFT.replace("redemption:", rule_text + "redemption:")


def compiled(document: str, rule_id: str) -> Rule:
    """The compiled rule of a document, without its predicates (functions compare by
    identity; the gate they are made from compares by value)."""
    return dataclasses.replace(parse_ruleset(document).rule(rule_id), checks=())


@pytest.mark.parametrize("kind", sorted(BY_HAND))
def test_the_form_and_the_editor_make_the_same_rule(kind):
    """For each kind: the form's fields put into the draft give exactly the rule written by
    hand (same compiled rule, same rule as the document holds it); and that rule read back
    into the form's fields gives the same fields again, so editing it changes nothing."""
    text, fields = BY_HAND[kind]
    hand = by_hand(text)
    rule = rule_of(fields, "RUB")
    drafted = rule_drafts.put_rule(rule_drafts.PutRule(DRAFT, "yaml", rule))
    rule_id = fields["id"]
    assert compiled(drafted, rule_id) == compiled(hand, rule_id)
    written = rule_drafts.find_rule(hand, "yaml", rule_id)
    assert written is not None
    assert rule_drafts.find_rule(drafted, "yaml", rule_id) == written
    prefilled = fields_of(written)
    assert prefilled is not None
    assert rule_of(prefilled, "RUB") == rule
    again = rule_drafts.put_rule(rule_drafts.PutRule(hand, "yaml", rule, replacing=rule_id))
    assert compiled(again, rule_id) == compiled(hand, rule_id)
    # the rest of the draft, comments included, is kept as written
    assert "# a draft with comments, which the form keeps" in drafted
    assert "  - id: base            # the base rate" in drafted


def test_the_form_edits_a_json_draft_too():
    """A JSON draft gets the same rule (JSON keeps no comments, so it is written again)."""
    text, fields = BY_HAND["multiplier"]
    hand = by_hand(text)
    as_json = rule_drafts.put_rule(
        rule_drafts.PutRule('{"schema_version": 1, "rules": []}', "json", rule_of(fields, "RUB"))
    )
    assert compiled(as_json, "spring-x2") == compiled(hand, "spring-x2")


def test_rules_the_form_cannot_show_are_left_to_the_editor():
    """A pilot, segments, several date ranges or an event rule cannot be shown in the
    form: reading its fields back would give another rule, so it has none."""
    assert (
        fields_of(
            {"id": "p", "kind": "rate", "rate": {"percent": 2}, "pilot": {"share_percent": 10}}
        )
        is None
    )
    assert (
        fields_of({"id": "s", "kind": "bonus", "points": 5, "when": {"segments": ["vip"]}}) is None
    )
    two = [{"from": "2026-01-01", "to": "2026-01-02"}, {"from": "2026-02-01", "to": "2026-02-02"}]
    assert fields_of({"id": "d", "kind": "multiplier", "factor": 2, "when": {"dates": two}}) is None
    assert fields_of({"id": "e", "kind": "event", "event": "review", "points": 5}) is None
    assert fields_of({"id": "ok", "kind": "rate", "rate": {"percent": "2.5"}}) is not None


def test_each_field_in_error_is_named_in_both_languages():
    """Bad fields are refused at the edge, each with its own message, in English and in
    Russian; nothing is built."""
    bad = {
        "kind": "multiplier",
        "id": "Bad Id",
        "campaign": "Spring Sale",
        "factor": "1",
        "date_from": "2026-05-01",
        "date_to": "2026-04-01",
        "hours_from": "25:00",
        "per_purchase": "-5",
    }
    with pytest.raises(FormErrors) as en:
        rule_of(bad, "RUB")
    assert set(en.value.errors) == {
        "id",
        "campaign",
        "factor",
        "date_to",
        "hours_from",
        "hours_to",
        "per_purchase",
    }
    assert en.value.errors["factor"] == "Enter a factor greater than 1 and at most 100."
    with using("ru"), pytest.raises(FormErrors) as ru:
        rule_of(bad, "RUB")
    assert ru.value.errors["factor"] == "Введите множитель больше 1 и не больше 100."
    assert ru.value.errors["date_to"] == "Последний день не может быть раньше первого."
    with pytest.raises(FormErrors) as money:
        rule_of({"kind": "bonus", "id": "b", "bonus_points": "5", "min_amount": "10.005"}, "RUB")
    assert money.value.errors == {"min_amount": "Too many decimal places for RUB."}
    with pytest.raises(FormErrors) as both:
        rule_of(
            {"kind": "rate", "id": "r", "rate_points": "1", "rate_per": "100", "rate_percent": "2"},
            "RUB",
        )
    assert "rate_percent" in both.value.errors


def form_page(c, *, kind: str | None = None, rule: str | None = None, headers=None):
    """Open the rule form from the editor's buttons, carrying the editor's draft."""
    page = c.get("/admin/rules").text
    fields = hidden_fields(page, "/admin/rules/publish")
    data = {**fields, "document": RULES, "format": "yaml", "kind": "edit" if rule else kind}
    if rule:
        data["rule"] = rule
    return c.post("/admin/rules/form", data=data, headers=headers or {})


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the rule form (CSRF token and the draft it carries)."""
    return hidden_fields(page, "/admin/rules/form/apply")


def textarea(page: str, ident: str) -> str:
    found = re.search(rf'<textarea id="{ident}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, ident
    return html.unescape(found.group(1))


def test_the_console_adds_a_multiplier_to_the_draft_through_the_form(world, as_role):
    """Every input of the form has a label; applying it shows the rules page with the draft
    holding the new rule in both editors (nothing published); the draft previews."""
    c = as_role("marketer")
    opened = form_page(c, kind="multiplier")
    assert opened.status_code == 200, text_of(opened.text)
    ids = set(re.findall(r'<input id="(rf-[a-z_]+)"', opened.text))
    labelled = set(re.findall(r'<label for="(rf-[a-z_]+)"', opened.text))
    assert ids
    assert ids <= labelled
    assert opened.text.count('type="checkbox"') == opened.text.count(
        '<label class="check"><input type="checkbox"'
    )
    data = {**form_fields(opened.text), **BY_HAND["multiplier"][1]}
    applied = c.post("/admin/rules/form/apply", data=data)
    assert applied.status_code == 200, text_of(applied.text)
    assert "Rule spring-x2 is added to the draft" in text_of(applied.text)
    draft = textarea(applied.text, "publish-document")
    assert textarea(applied.text, "preview-document") == draft
    assert compiled(draft, "spring-x2") == compiled(by_hand(BY_HAND["multiplier"][0]), "spring-x2")
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_a_form_with_errors_shows_them_by_their_fields_in_both_languages(world, as_role):
    """Errors come back on the form, beside their fields, 422, with the fields as typed and
    the draft unchanged; in Russian too."""
    c = as_role("marketer")
    opened = form_page(c, kind="bonus")
    data = {**form_fields(opened.text), "kind": "bonus", "id": "base", "bonus_points": "0"}
    refused = c.post("/admin/rules/form/apply", data=data)
    assert refused.status_code == 422
    assert 'id="rf-bonus_points-error"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert "Enter a whole number from 1 to" in text_of(refused.text)
    ru = c.post("/admin/rules/form/apply", data=data, headers=RU)
    assert "Введите целое число от 1 до" in text_of(ru.text)
    duplicate = {**data, "bonus_points": "5"}
    taken = c.post("/admin/rules/form/apply", data=duplicate)
    assert taken.status_code == 422
    assert "The draft already has a rule with this id." in text_of(taken.text)
    assert form_fields(taken.text)["document"] == RULES
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1


def test_editing_a_rule_in_force_opens_the_form_prefilled_or_the_editor(world, as_role):
    """The list of rules in force links each common rule to the form, prefilled; a rule the
    form cannot show says so and leads to the document editor."""
    pilot = RULES.replace(
        "redemption:",
        "  - id: app-pilot\n    kind: rate\n    rate: {percent: 2}\n"
        "    pilot: {share_percent: 10}\nredemption:",
    )
    rules_svc.publish(world.ctx, world.program, pilot, actor="test")
    c = as_role("marketer")
    page = c.get("/admin/rules").text
    assert 'href="/admin/rules/form?rule=dairy-x2"' in page
    assert 'href="/admin/rules/form?rule=app-pilot"' not in page
    prefilled = c.get("/admin/rules/form?rule=dairy-x2")
    assert prefilled.status_code == 200
    assert 'name="factor" type="text" value="2"' in prefilled.text
    assert 'name="categories" type="text" value="dairy"' in prefilled.text
    data = {
        **form_fields(prefilled.text),
        "kind": "multiplier",
        "id": "dairy-x2",
        "factor": "3",
        "categories": "dairy",
    }
    changed = c.post("/admin/rules/form/apply", data=data)
    assert "Rule dairy-x2 is changed in the draft" in text_of(changed.text)
    assert parse_ruleset(textarea(changed.text, "publish-document")).rule("dairy-x2").factor == 3
    other = c.get("/admin/rules/form?rule=app-pilot")
    assert "edit it in the document editor" in text_of(other.text)
    ru = c.get("/admin/rules/form?rule=app-pilot", headers=RU)
    assert "измените его в редакторе документа" in text_of(ru.text)
    assert c.get("/admin/rules/form?rule=nope").status_code == 422


def test_the_form_is_for_those_who_publish(as_role):
    """An analyst cannot open the form (403)."""
    assert as_role("analyst").get("/admin/rules/form?kind=rate").status_code == 403


def confirm(c, document: str, headers=None, **extra: str):
    """Post the publish form without confirming: the confirmation page."""
    fields = hidden_fields(c.get("/admin/rules").text, "/admin/rules/publish")
    return c.post(
        "/admin/rules/publish",
        data={**fields, "document": document, **extra},
        headers=headers or {},
    )


def test_publishing_is_confirmed_with_version_time_and_changes(world, as_role):
    """The publish button shows a confirmation first: the version number, when it takes
    effect and the rules added, changed and removed against the version in force, in both
    languages; nothing is published until it is confirmed, with the same form key."""
    c = as_role("marketer")
    draft = RULES.replace("factor: 2", "factor: 3").replace(
        "redemption:", "  - id: extra\n    kind: bonus\n    points: 7\nredemption:"
    )
    page = confirm(c, draft, effective_at="2026-04-01T00:00")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Publish version 2?" in text
    assert "2026-04-01 00:00" in text
    assert "Rules added extra" in text
    assert "Rules changed dairy-x2" in text
    assert "Rules removed none" in text
    assert "+4 added, −1 removed" in text
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1
    ru = text_of(confirm(c, draft, headers=RU).text)
    assert "Опубликовать версию 2?" in ru
    assert "Добавлены правила extra" in ru
    confirmed = hidden_fields(page.text, "/admin/rules/publish")
    assert confirmed["confirmed"] == "yes"
    published = c.post("/admin/rules/publish", data=confirmed)
    assert published.status_code == 303
    assert published.headers["location"] == "/admin/rules?published=2"
    assert c.post("/admin/rules/publish", data=confirmed).status_code == 303  # once
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 2
    assert [e.action for e in audit_page(world.ctx, world.program.id, target="rules")["items"]] == [
        "rules.publish"
    ]


def test_a_broken_draft_is_refused_before_the_confirmation(world, as_role):
    """A draft with an error never reaches the confirmation: the editor shows the error."""
    response = confirm(as_role("marketer"), RULES.replace("factor: 2", "factor: 0"))
    assert response.status_code == 422
    assert "rules[1].factor" in text_of(response.text)


def test_back_from_the_confirmation_keeps_the_draft(as_role):
    """The confirmation's back button returns to the editor with the draft as it was."""
    c = as_role("marketer")
    draft = RULES.replace("factor: 2", "factor: 3")
    fields = hidden_fields(confirm(c, draft).text, "/admin/rules/publish")
    back = c.post("/admin/rules/edit", data=fields)
    assert back.status_code == 200
    assert textarea(back.text, "publish-document") == draft


def test_the_first_rule_of_a_program_goes_into_an_empty_draft():
    """With no rules yet (the draft an empty document, flow-style ``rules: []``), the form's
    rule makes a whole valid document holding just that rule."""
    empty = "schema_version: 1\ncurrency: RUB\nrules: []\n"
    text, fields = BY_HAND["rate"]
    drafted = rule_drafts.put_rule(rule_drafts.PutRule(empty, "yaml", rule_of(fields, "RUB")))
    assert [r.id for r in parse_ruleset(drafted).rules] == ["fresh"]
    hand = "schema_version: 1\ncurrency: RUB\nrules:\n" + text
    assert compiled(drafted, "fresh") == compiled(hand, "fresh")


def test_every_common_rule_of_the_grocery_example_goes_through_the_form_unchanged():
    """Each rule of the example document the form can show, read into the form's fields
    and put back, leaves the compiled rule set as it was, and the example's comments; the
    rules it cannot show (a pilot, member attributes, a birthday, events) are left to the
    editor."""
    from pathlib import Path

    import kopilka.domain.rules as rules_pkg

    example = (Path(rules_pkg.__file__).parent / "examples" / "grocery.yaml").read_text()
    before = parse_ruleset(example)
    shown, left = [], []
    for raw in rule_drafts.draft_rules(example, "yaml"):
        fields = fields_of(raw)
        if fields is None:
            left.append(raw["id"])
            continue
        shown.append(raw["id"])
        again = rule_drafts.put_rule(
            rule_drafts.PutRule(example, "yaml", rule_of(fields, "RUB"), replacing=raw["id"])
        )
        after = parse_ruleset(again)
        assert [dataclasses.replace(r, checks=()) for r in after.rules] == [
            dataclasses.replace(r, checks=()) for r in before.rules
        ]
        assert "# never any points for these, whatever the rule" in again
    assert set(left) == {
        "birthday-x2",
        "march-8",
        "app-pilot",
        "review-photo",
        "review",
        "registration",
        # the newer mechanics: tenders, a quantity condition, a promo code
        "sbp-bonus",
        "dairy-3-packs",
        "friends-code",
    }
    assert "january-double" in shown
    assert "morning-hours" in shown


def test_a_version_published_meanwhile_asks_for_a_new_confirmation(world, as_role):
    """The confirmation names version 2; when someone publishes version 2 before it is
    confirmed, the confirmed draft is refused (409, in the editor, nothing published), and
    confirming again shows version 3."""
    c = as_role("marketer")
    draft = RULES.replace("factor: 2", "factor: 3")
    confirmed = hidden_fields(confirm(c, draft).text, "/admin/rules/publish")
    assert confirmed["version"] == "2"
    rules_svc.publish(world.ctx, world.program, RULES, actor="test")
    refused = c.post("/admin/rules/publish", data=confirmed)
    assert refused.status_code == 409
    assert "was published meanwhile" in text_of(refused.text)
    assert textarea(refused.text, "publish-document") == draft
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 2
    assert "Publish version 3?" in text_of(confirm(c, draft).text)


def test_the_newer_mechanics_are_left_to_the_editor():
    """A negated list, a purchase amount or quantity condition, a promo code, tenders or
    points per unit have no field in the form: such a rule opens in the document editor."""
    rate = {"id": "r", "kind": "rate", "rate": {"percent": 2}}
    for when in (
        {"stores": {"not": ["S1"]}},
        {"channels": {"not": ["web"]}},
        {"tiers": {"not": ["gold"]}},
        {"purchase_amount": {"min": "500.00"}},
        {"quantity": {"min": 3, "categories": ["dairy"]}},
    ):
        assert fields_of({**rate, "when": when}) is None, when
    assert fields_of({**rate, "scope": {"categories": {"not": ["tobacco"]}}}) is None
    assert fields_of({**rate, "tenders": ["sbp"]}) is None
    assert fields_of({"id": "u", "kind": "rate", "rate": {"points": 5, "per_unit": True}}) is None
