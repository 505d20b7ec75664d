"""Keeping the web UI's catalogs in step with its sources (``make messages``).

``python -m kopilka.web.catalogs`` extracts every marked string of the web layer's Python
and templates and every ``msg("...")`` of the domain, the ledger and the services
(``babel.cfg``), brings each language's ``kopilka.po`` up to them (new
strings added untranslated, gone ones dropped), fills the English catalog (English is
the source language: each message is its own translation) and lists the Russian entries
still to translate. The tests use :func:`extract` to fail
when a page holds a string the catalogs lack.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from kopilka.web.i18n import DOMAIN, LOCALE_DIR, SUPPORTED

ROOT = LOCALE_DIR.parent.parent.parent  # the repository (src/kopilka/locale -> ../../..)
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "tr": None,
    "N_": None,
    "_points": (1, 2),  # web/words.py: a plural with the number filled in
    "msg": None,  # domain/messages.py: what the domain, the ledger and the services raise
}
MessageId = str | tuple[str, str]


def extract(root: Path = ROOT) -> dict[MessageId, list[str]]:
    """Every message the web layer marks, with the files that use it."""
    with (root / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: dict[MessageId, list[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        key: MessageId = message if isinstance(message, str) else (message[0], message[1])
        found.setdefault(key, []).append(filename)
    return found


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(lang: str) -> Catalog:
    with catalog_path(lang).open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def template() -> Catalog:
    """The catalog template (``.pot``) of what the sources mark today."""
    pot = Catalog(project="kopilka", domain=DOMAIN, fuzzy=False)
    for message in sorted(extract(), key=lambda m: m if isinstance(m, str) else m[0]):
        pot.add(message)
    return pot


def update() -> list[str]:
    """Bring every catalog up to the sources; the Russian messages left to translate."""
    pot = template()
    missing: list[str] = []
    for lang in SUPPORTED:
        path = catalog_path(lang)
        if path.exists():
            catalog = load(lang)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=lang, domain=DOMAIN, project="kopilka")
        created, revised = catalog.creation_date, catalog.revision_date
        catalog.update(pot, no_fuzzy_matching=True)
        # the header stays as it was: a run that changes no message changes no file
        catalog.creation_date, catalog.revision_date = created, revised
        catalog.fuzzy = False
        catalog.project, catalog.version = "kopilka", "0.1"
        catalog.copyright_holder = "Kopilka contributors"
        catalog.msgid_bugs_address = catalog.last_translator = "Kopilka contributors"
        catalog.language_team = f"{lang} (Kopilka)"
        for message in catalog:
            if not message.id:
                continue
            if lang == "en":  # the source language: a message is its own translation
                message.string = message.id
                message.flags.discard("fuzzy")
            elif not all(message.string if isinstance(message.string, tuple) else [message.string]):
                missing.append(str(message.id))
        catalog.obsolete.clear()
        with path.open("wb") as out:
            write_po(out, catalog, sort_output=True, no_location=True, width=100)
    return missing


def main() -> int:
    missing = update()
    for message in missing:
        print(f"ru: not translated: {message!r}")
    print(f"catalogs updated in {LOCALE_DIR}; {len(missing)} Russian messages to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
