"""The web UI's catalogs are complete: every string a page shows is marked for translation,
every marked string is in the Russian and English catalogs, translated in every plural form,
with the same placeholders as the English."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog

from kopilka.web import catalogs, i18n
from kopilka.web.render import TEMPLATES, make_environment

WEB = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# text outside tags that is no prose: punctuation, numbers, the brand's code samples
NO_LETTERS = re.compile(r"^[^A-Za-zА-Яа-яЁё]*$")
# string literals in templates that are codes compared or sent, never shown as prose
CODES = {
    "",
    # the rewards console's reward form (new and changing one) and its image form: field
    # names (a refusal shown next to its field) and the codes of a limit's period
    "tier_points",
    "code",
    "name_en",
    "points",
    "stock",
    "coupon_kind",
    "coupon_amount",
    "min_basket",
    "valid_days",
    "image",
    "limit_per_member",
    "limit_per_period",
    "limit_period",
    "limit_total",
    "starts_at",
    "ends_at",
    "early_tier",
    "early_opens_at",
    "audience_tiers",
    "audience_segments",
    "audience_members",
    "day",
    "week",
    "month",
    # the notification pages: the nav key, the done notices, the settings form's field
    # names and the time format of its fields
    "notifications",
    "saved",
    "reset",
    "settings",
    "cap_",
    "_count",
    "_days",
    "quiet_start",
    "quiet_end",
    "%H:%M",
    "default_language",
    # the reminder settings form: its switches and its days fields
    "expiry",
    "expiry_days",
    "win_back",
    "win_back_days",
    "tier_drop",
    "tier_drop_days",
    # the analytics page's nav key
    "analytics",
    # the tiers page's nav key
    "tiers",
    # the receipt page's return form (its reason fields are the member card's, below):
    # the quantity fields' prefix, the default reason code, the nav key
    "qty_",
    "return",
    "receipts",
    # the rewards pages (issue 24): the nav key, a reward's kind and an issued status
    # compared, a coupon's discount kind sent
    "rewards",
    "partner",
    "fixed",
    "issued",
    "_",
    " ",
    "adjust",
    "available",
    "backdate",
    "bad",
    "basket",
    "block",
    "blocked",
    "danger",
    "delta",
    "document",
    "earn",
    "effective_at",
    "errors",
    "format",
    "held",
    "home",
    "json",
    "kind",
    "line_id",
    "items",
    "admin",
    "ok",
    "overview",
    "pending",
    "portal",
    "program",
    "preview",
    "publish",
    "quantity",
    "reason",
    "redeem",
    "members",
    "rules",
    "status",
    "unblock",
    "value",
    "verify",
    "audit",
    "jobs",
    "card",
    "yaml",
    # the portal's sign-in form: the phone-or-e-mail field's name
    "address",
    # the member card's forms (issue 20): field names, reason codes, identifier kinds
    "attributes",
    "birthday",
    "contact",
    "customer_request",
    "email",
    "first",
    "first_name",
    "gender",
    "hold_id",
    "last_name",
    "lost_card",
    "member_text",
    "new_card",
    "old_card",
    "phone",
    "profile",
    "reason_code",
    "reason_note",
    "replaces",
    "void",
    "void-",
    # personal offers (issue 24): the console's page, an offer's states in the portal
    "offers",
    "open",
    "upcoming",
    # the webhooks pages (issue 23): the nav key, the form's fields and a checkbox's value,
    # the two actions a confirmation posts to
    "webhooks",
    "url",
    "type_",
    "on",
    "remove",
    "redeliver",
}
GETTEXT = {"_", "gettext", "ngettext"}


@pytest.fixture(scope="module")
def sources() -> dict[catalogs.MessageId, list[str]]:
    return catalogs.extract()


@pytest.fixture(scope="module", params=i18n.SUPPORTED)
def catalog(request: pytest.FixtureRequest) -> Catalog:
    return catalogs.load(request.param)


def _key(message_id: object) -> catalogs.MessageId:
    if isinstance(message_id, str):
        return message_id
    assert isinstance(message_id, tuple | list)
    return (str(message_id[0]), str(message_id[1]))


def test_every_marked_string_is_in_the_catalog_and_translated(sources, catalog):
    """Each string the templates and the web code mark is in the catalog (ru and en) with a
    translation in every plural form of the language, and the catalog keeps no string the
    sources dropped (``make messages`` brings them in step)."""
    entries = {_key(m.id): m for m in catalog if m.id}
    missing = [m for m in sources if m not in entries]
    assert not missing, f"{catalog.locale}: not in the catalog (run make messages): {missing}"
    stale = [m for m in entries if m not in sources]
    assert not stale, f"{catalog.locale}: no longer used (run make messages): {stale}"
    untranslated = []
    for key, entry in entries.items():
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = catalog.num_plurals if isinstance(key, tuple) else 1
        if len(forms) != wanted or not all(forms) or entry.fuzzy:
            untranslated.append(key)
    assert not untranslated, f"{catalog.locale}: not translated: {untranslated}"


def test_translations_keep_the_placeholders(catalog):
    """A translation fills the same named values as its English (a lost ``%(num)s`` would
    show a sentence without its number; a new one would fail to render)."""
    wrong = []
    for entry in catalog:
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for form in forms:
            if set(PLACEHOLDER.findall(form)) != wanted:
                wrong.append((entry.id, form))
    assert not wrong, f"{catalog.locale}: placeholders differ: {wrong}"


def test_russian_has_three_plural_forms():
    """Russian counts in three forms (1 балл, 2 балла, 5 баллов); English in two."""
    assert catalogs.load("ru").num_plurals == 3
    assert catalogs.load("en").num_plurals == 2


def _unmarked(source: str, env: jinja2.Environment) -> list[str]:
    """Prose in a template that does not pass through gettext: text between tags (but not
    in <code>), shown attributes, and string literals other than known codes."""
    found: list[str] = []
    skeleton: list[str] = []  # the template's text, each tag or expression one marker
    depth = 0  # the parentheses open in a gettext call
    previous = ""
    for _line, kind, value in env.lex(source):
        if kind == "data":
            skeleton.append(value)
        elif kind in ("variable_begin", "block_begin"):
            skeleton.append("\x00")
        elif kind == "name" and value in GETTEXT and not depth:
            previous = value
            continue
        elif kind == "operator" and value == "(" and (depth or previous in GETTEXT):
            depth += 1
        elif kind == "operator" and value == ")" and depth:
            depth -= 1
        elif kind == "string" and not depth:
            literal = value[1:-1]
            shown = literal not in CODES and not literal.endswith(".html")
            shown = shown and not literal.startswith("/")  # an address
            if shown and not NO_LETTERS.match(literal):
                found.append(repr(literal))
        previous = ""
    text = re.sub(r"<code>.*?</code>", "", "".join(skeleton), flags=re.S)
    for attr in re.findall(r'(?:aria-label|title|alt|placeholder)="([^"]*)"', text):
        if not NO_LETTERS.match(attr):
            found.append(attr)
    for chunk in re.split(r"<[^>]*>", text):
        if chunk.strip() and not NO_LETTERS.match(chunk):
            found.append(chunk.strip())
    return found


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_show_no_unmarked_text(name):
    """A template holds no text a person reads outside ``_()``/``ngettext`` (text between
    tags, aria-label/title attributes, quoted strings in expressions): such a string would
    not be in the catalogs and would stay English on a Russian page."""
    env = make_environment()
    source = (TEMPLATES / name).read_text()
    assert _unmarked(source, env) == []


def test_the_unmarked_text_check_finds_unmarked_text():
    """The check above sees text between tags, a shown attribute and a quoted literal."""
    env = make_environment()
    source = (
        '<p>Hello</p><a aria-label="Go">x</a>{{ "yes" if a else _("no") }}'
        '{{ ngettext("a %(num)s", "b %(num)s", n) }}'
    )
    assert _unmarked(source, env) == ["'yes'", "Go", "Hello", "x"]


# where each call that shows a message takes it: Refused(status, message),
# ValidationError(message), refusal(request, status, message), sign_in_page(request, status,
# error)
MESSAGE_ARGUMENT = {"Refused": 1, "ValidationError": 0, "refusal": 2, "sign_in_page": 2}


def test_web_code_shows_no_literal_message():
    """The web layer's messages shown on pages (refusals, validation errors, sign-in errors)
    are never plain string literals: each goes through ``tr``/``_``, so it is translated."""
    found = []
    # queries.py is on its way into the services: its messages are the services' (shown
    # after a translated summary of their code, render.problem_text)
    for path in sorted(p for p in WEB.glob("*.py") if p.name != "queries.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            position = MESSAGE_ARGUMENT.get(name)
            if position is None or len(node.args) <= position:
                continue
            message = node.args[position]
            if isinstance(message, ast.JoinedStr) or (
                isinstance(message, ast.Constant) and isinstance(message.value, str)
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
