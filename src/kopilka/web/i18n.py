"""The languages of the web UI: gettext catalogs, the page's language, locale formats.

Every string a person reads on a page comes from the catalogs
``kopilka/locale/<lang>/LC_MESSAGES/kopilka.po`` (Babel; ``make messages`` extracts and
updates them). The ``.po`` files are the only form kept in the repository: each is compiled
in memory the first time a page needs it (Babel's ``read_po`` and ``write_mo``), so a fresh
clone, ``make demo`` and CI never run a stale compiled catalog.

A page's language is, in this order, the visitor's choice (the ``kopilka_lang`` cookie the
switch on every page sets, read only when it names a supported language), the browser's
``Accept-Language`` (Babel's ``negotiate_locale``), and the server's default
(``KOPILKA_DEFAULT_LANGUAGE``). :class:`kopilka.web.render.WebRoute` chooses it once per
request and keeps it in a context variable, which the threads that run the handlers
inherit; :func:`gettext` and the format filters read it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from babel import Locale, negotiate_locale
from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.dates import format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

Language = Literal["ru", "en"]
SUPPORTED: tuple[Language, ...] = ("ru", "en")
COOKIE = "kopilka_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
DOMAIN = "kopilka"
LOCALE_DIR = Path(__file__).parent.parent / "locale"
# English pages keep ISO 8601 dates (unambiguous for an international reader); Russian
# ones read as Russian documents write them
DATETIME_PATTERNS = {"en": "yyyy-MM-dd HH:mm", "ru": "dd.MM.yyyy, HH:mm"}
DATE_PATTERNS = {"en": "yyyy-MM-dd", "ru": "dd.MM.yyyy"}
_LETTERS_THEN_DIGIT = re.compile(r"^(-?[A-Za-z]+)(?=[-\d])")


@dataclass(frozen=True, slots=True)
class PageLanguage:
    """The language of the page being answered and the address its switch returns to."""

    lang: str
    here: str = "/"


_default: list[str] = ["en"]
_page: ContextVar[PageLanguage | None] = ContextVar("kopilka_page_language", default=None)


def set_default(lang: str) -> None:
    """The server's default language (``KOPILKA_DEFAULT_LANGUAGE``), for visitors who chose
    none and whose browser names no supported one."""
    if lang not in SUPPORTED:
        raise ValueError(f"unsupported language {lang!r}")
    _default[0] = lang


def default_language() -> str:
    return _default[0]


def language() -> str:
    """The current page's language (the default outside a request)."""
    page = _page.get()
    return page.lang if page is not None else _default[0]


def here() -> str:
    page = _page.get()
    return page.here if page is not None else "/"


def enter(page: PageLanguage) -> None:
    """Answer the current request in ``page.lang`` (called once per request)."""
    _page.set(page)


@contextmanager
def using(lang: str) -> Iterator[None]:
    """Speak ``lang`` inside the block (tests, and texts made outside a request)."""
    token = _page.set(PageLanguage(lang))
    try:
        yield
    finally:
        _page.reset(token)


def accepted(header: str | None) -> list[str]:
    """The languages an ``Accept-Language`` header names, most preferred first (q=0 and
    malformed entries dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > 0:
            ranked.append((-q, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def choose(cookie: str | None, accept_language: str | None, default: str | None = None) -> str:
    """The page's language: the remembered choice, else the browser's, else the default."""
    if cookie in SUPPORTED:
        return str(cookie)
    found = negotiate_locale(accepted(accept_language), list(SUPPORTED), sep="-")
    if found is None:  # "ru-RU" names ru too
        found = negotiate_locale(
            [tag.split("-")[0].lower() for tag in accepted(accept_language)], list(SUPPORTED)
        )
    return found or default or _default[0]


@cache
def translations(lang: str) -> Translations:
    """The compiled catalog of a language, built once from its ``.po`` in memory."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def gettext(message: str) -> str:
    """``message`` in the current page's language."""
    return translations(language()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message that suits the number ``n`` (Russian has three)."""
    return translations(language()).ungettext(singular, plural, n)


_ = gettext


class Translated(str):
    """A message already in the page's language (an error the web layer raised), which
    the error display must not look up again."""

    __slots__ = ()


def tr(message: str, **values: object) -> Translated:
    """``message`` translated, its ``%(name)s`` placeholders filled, marked as done."""
    text = gettext(message)
    return Translated(text % values if values else text)


def N_(message: str) -> str:
    """Marks a constant for extraction; it is translated where it is shown (``_(...)``)."""
    return message


def language_names() -> list[tuple[str, str, str]]:
    """The switch's choices: code, short label and the language's own name."""
    return [
        (code, code.upper(), Locale.parse(code).get_display_name(code) or code)
        for code in SUPPORTED
    ]


# -- locale formats (Jinja filters) ---------------------------------------------------


def number(value: int | Decimal | None) -> str:
    """A number as the page's language writes it ("1,234" / "1 234")."""
    return "" if value is None else format_decimal(value, locale=language())


def percent(share: float) -> str:
    """A share as a percentage, one decimal, the page's language's way ("12.5 %" /
    "12,5 %")."""
    return f"{format_decimal(round(share * 100, 1), format='#,##0.0', locale=language())} %"


def signed(value: int | None) -> str:
    """A change of a balance: "+50", "-20" (empty when there is none)."""
    if value is None:
        return ""
    return ("+" if value > 0 else "") + number(value)


def money(value: Decimal | str | int | None, currency: str) -> str:
    """An amount of money in the program's currency ("RUB800.00" / "800,00 ₽")."""
    if value is None or value == "":
        return ""
    text = format_currency(Decimal(str(value)), currency, locale=language())
    # CLDR's currency spacing, which Babel leaves out: a code written as letters is set
    # apart from the digits ("RUB 800.00", not "RUB800.00"; "-RUB 5.00" below zero)
    return _LETTERS_THEN_DIGIT.sub("\\1\xa0", text)


def datetime_text(at: datetime) -> str:
    """A moment, minutes precision, with its zone's abbreviation."""
    lang = language()
    text = babel_datetime(at, DATETIME_PATTERNS.get(lang, "short"), locale=lang)
    zone = at.tzname() if at.tzinfo else None
    return f"{text} {zone}" if zone else text


def ago(elapsed: timedelta) -> str:
    """How long ago, as the page's language says it ("12 minutes ago", "12 минут назад";
    under a minute: "0 minutes ago" reads oddly, so it is "1 minute ago" at least)."""
    seconds = max(elapsed.total_seconds(), 60.0)
    return format_timedelta(
        timedelta(seconds=-seconds), threshold=1.0, add_direction=True, locale=language()
    )


def date_text(day: date) -> str:
    """A calendar day as the page's language writes it."""
    lang = language()
    return babel_date(day, DATE_PATTERNS.get(lang, "short"), locale=lang)
