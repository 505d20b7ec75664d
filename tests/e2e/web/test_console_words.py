"""The console's figures and words agree across pages and languages: the verify report signs
program accounts as the overview does, its invariants and totals are in the page's language,
actors are named by who they are, and rule kinds, consent channels and the page title are
translated."""

from __future__ import annotations

import re

from kopilka.services import ledger_reports
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services.apikeys import list_keys
from kopilka.web import words
from tests.e2e.web.test_console_rules import publish
from tests.e2e.web.world import RULES, text_of

RU = {"Accept-Language": "ru"}


def test_verify_signs_program_accounts_as_the_overview_does(world, as_role):
    """Issued and adjustments are positive on /admin/verify, the same figures the overview
    shows (the ledger's raw program accounts are negative, and the page says so)."""
    c = as_role("analyst")
    ledger_reports.check_ledger(world.ctx, world.program, "job")
    totals = program_svc.program_totals(world.ctx, world.program)
    assert totals["issued"] > 0
    assert totals["adjustments"] > 0
    overview = text_of(c.get("/admin").text)
    assert f"Issued {totals['issued']}" in overview
    verify = text_of(c.get("/admin/verify").text)
    assert f"issued issued {totals['issued']} " in verify
    assert f"adjustments (net) adjustments {totals['adjustments']} " in verify
    assert f"liability (sum of member balances) liability {totals['liability']} " in verify
    assert not re.search(r"issued \S*[-−]\d", verify)
    assert "the ledger keeps them negated" in verify


def test_verify_page_in_russian_translates_invariants_and_totals(world, as_role):
    """On a Russian page every invariant's description and every totals label is Russian,
    none of the ledger's English descriptions shows."""
    c = as_role("analyst")
    ledger_reports.check_ledger(world.ctx, world.program, "job")
    page = text_of(c.get("/admin/verify", headers=RU).text)
    assert "проводки каждой записи в сумме дают ноль" in page
    assert "сумма по всем счетам каждой программы равна нулю" in page
    assert "начислено issued" in page
    assert "корректировки (итог) adjustments" in page
    assert "обязательства (сумма балансов участников)" in page
    assert "доступно available" in page
    from kopilka.ledger.verify import CHECKS

    for description in CHECKS.values():
        assert description not in page
    assert set(words.CHECKS) == set(CHECKS), "every ledger check has a translated label"


def test_actors_are_named_by_key_name_and_role(world, as_role):
    """The rules list's "By", a version's "published by" and a member's history name an
    API key by its name and role, in English and Russian, never as "apikey:<id>:<name>"."""
    c = as_role("admin")
    assert publish(c, RULES).status_code == 303
    rules = text_of(c.get("/admin/rules").text)
    assert "admin desk (admin)" in rules
    assert "apikey:" not in rules
    version = text_of(c.get("/admin/rules/2").text)
    assert "by admin desk (admin)" in version
    ru = text_of(c.get("/admin/rules/2", headers=RU).text)
    assert "admin desk (администратор)" in ru
    assert "apikey:" not in ru


def test_actor_words_in_both_languages(world):
    """Each recorded form of an actor reads as a person would say it, in the page's language."""
    from kopilka.web import i18n

    key = next(k for k in list_keys(world.ctx, world.program.code) if k.role == "marketer")
    keys = {key.id: (key.name, str(key.role))}
    i18n.enter(i18n.PageLanguage("en", "/"))
    assert words.actor(key.actor, keys) == "marketer desk (marketer)"
    assert words.actor("apikey:999:gone", keys) == "gone (API key)"
    assert words.actor("cli:anna") == "cli: anna"
    assert words.actor("member:12") == "member 12"
    assert words.actor("support:fraud-team") == "fraud-team (support)"
    assert words.actor("test") == "test"
    i18n.enter(i18n.PageLanguage("ru", "/"))
    try:
        assert words.actor(key.actor, keys) == f"marketer desk ({words.role('marketer')})"
        assert words.actor("cli:anna") == "командная строка: anna"
        assert words.actor("member:12") == "участник 12"
        assert words.actor("apikey:999:gone", keys) == "gone (API-ключ)"
    finally:
        i18n.enter(i18n.PageLanguage("en", "/"))


def test_rule_kinds_are_translated_on_a_version_page(world, as_role):
    """The "Kind" column of a rules version speaks the page's language."""
    c = as_role("marketer")
    en = text_of(c.get("/admin/rules/1").text)
    assert "base rate" in en
    assert "dairy-x2 multiplier" in en
    assert "secret-bonus bonus" in en
    ru = text_of(c.get("/admin/rules/1", headers=RU).text)
    assert "base ставка" in ru
    assert "dairy-x2 множитель" in ru
    assert "secret-bonus бонус" in ru


def test_consent_channel_and_title_are_translated(world, as_role):
    """A consent's channel is a word of the page's language ("till" / "касса"), and the
    console's title reads «Консоль Копилки» in Russian, "Kopilka console" in English."""
    member = member_svc.enroll(
        world.ctx,
        world.program,
        member_svc.Enroll(
            member_svc.identifiers([("card", world.card + "T")]),
            consents=(member_svc.ConsentChoice("sms", granted=True, channel="till"),),
        ),
    )
    c = as_role("support")
    url = f"/admin/members/{member.id}"
    en = c.get(url).text
    assert "· Kopilka console</title>" in en
    assert re.search(r"MSK, till</td>", en)
    ru = c.get(url, headers=RU).text
    assert "· Консоль Копилки</title>" in ru
    assert "Копилка консоль" not in ru
    assert re.search(r"MSK, касса</td>", ru)
    assert ", till</td>" not in ru


def test_every_standard_event_has_a_word_in_both_languages():
    """Each event a rule may award (registration, review, social share...) is named in the
    page's language on the rules pages, not shown as its code; a custom event keeps its name."""
    from kopilka.domain.rules.schema import STANDARD_EVENTS
    from kopilka.web import i18n

    assert set(words.EVENTS) == set(STANDARD_EVENTS)
    with i18n.using("ru"):
        ru = {code: words.event(code) for code in STANDARD_EVENTS}
        custom = words.event("loyalty_quiz")
    assert ru["registration"] == "регистрация"
    assert ru["social_share"] == "репост в соцсетях"
    assert custom == "loyalty quiz"
