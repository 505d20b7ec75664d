"""The words a page shows for the program's codes (entry kinds, statuses, consent
purposes, roles) and the sentence of each history line, in the page's language.

The services describe a history line in English (``services.audit.explain``); the pages
build it here from the line's figures, with the plural forms of the page's language. Two
figures the services do not hand to the portal (what a return reversed, and the details of
held points released) keep the services' English sentence on English pages; Russian pages
say what the line's figures do show.
"""

from __future__ import annotations

from typing import Any

from kopilka.web.i18n import N_, gettext, language, ngettext, number, signed

KINDS = {
    "earn": N_("earn"),
    "redeem": N_("redeem"),
    "adjust": N_("adjust"),
    "activate": N_("activate"),
    "expire": N_("expire"),
    "hold": N_("hold"),
    "capture": N_("capture"),
    "void": N_("void"),
    "hold_expire": N_("hold expire"),
    "reverse": N_("reverse"),
}
STATUSES = {"active": N_("active"), "blocked": N_("blocked")}
PURPOSES = {
    "personal_data": N_("personal data"),
    "marketing_email": N_("marketing e-mail"),
    "marketing_sms": N_("marketing SMS"),
    "sms": N_("SMS"),
    "push": N_("push notifications"),
    "email": N_("e-mail"),
}
ROLES = {
    "pos": N_("till"),
    "ecommerce": N_("web shop"),
    "support": N_("support"),
    "marketer": N_("marketer"),
    "analyst": N_("analyst"),
    "admin": N_("admin"),
}
IDENTIFIER_KINDS = {
    "card": N_("Card number"),
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "external": N_("External id"),
}


def _word(table: dict[str, str], code: object) -> str:
    text = str(code)
    return gettext(table[text]) if text in table else text.replace("_", " ")


def entry_kind(code: object) -> str:
    """A journal entry's kind, as a word."""
    return _word(KINDS, code)


def status(code: object) -> str:
    return _word(STATUSES, code)


def purpose(code: object) -> str:
    """A consent purpose; one the program made up shows as written."""
    return _word(PURPOSES, code)


def role(code: object) -> str:
    return _word(ROLES, code)


def identifier_kind(code: object) -> str:
    return _word(IDENTIFIER_KINDS, code)


def _released(meta: dict[str, Any]) -> str:
    expired, reissued = meta.get("expired_on_return", 0), meta.get("reissued", 0)
    text = ""
    if expired:
        text += ngettext(
            ", of which %(num)s expired at once (their validity had ended)",
            ", of which %(num)s expired at once (their validity had ended)",
            expired,
        ) % {"num": number(expired)}
    if reissued:
        text += ngettext(
            ", of which %(num)s came back with a new expiry date",
            ", of which %(num)s came back with a new expiry date",
            reissued,
        ) % {"num": number(reissued)}
    return text


def _points(singular: str, plural: str, n: int, **values: object) -> str:
    return ngettext(singular, plural, n) % {"num": number(n), **values}


def why(item: dict[str, Any]) -> str:
    """The sentence of one history line (``services.audit.history``'s item)."""
    kind, pts = item["kind"], item["points"]
    meta = item.get("meta")
    ref = f" ({item['reference']})" if item.get("reference") else ""
    reason = f": {item['reason']}" if item.get("reason") else ""
    if language() == "en" and (
        kind == "reverse" or (meta is None and kind in ("capture", "void", "hold_expire"))
    ):
        return str(item["why"])  # the figures these need are the services' alone
    if kind == "earn":
        rule = ""
        if item.get("rule_id"):
            rule = gettext(" under rule %(rule)s v%(version)s") % {
                "rule": item["rule_id"],
                "version": item["rule_version"],
            }
        return _points("earned %(num)s point", "earned %(num)s points", pts) + rule + ref + reason
    if kind == "adjust":
        delta = int((meta or {}).get("delta", pts))
        text = ngettext("adjusted by %(delta)s point", "adjusted by %(delta)s points", abs(delta))
        text %= {"delta": signed(delta)}
        if item.get("actor"):
            text += gettext(" by %(actor)s") % {"actor": item["actor"]}
        return text + f": {item.get('reason') or ''}"
    released = _released(meta or {})
    hold = item.get("hold_id")
    if kind == "activate":
        return _points(
            "%(num)s pending point became available", "%(num)s pending points became available", pts
        )
    if kind == "redeem":
        return _points("spent %(num)s point", "spent %(num)s points", pts) + ref
    if kind == "hold":
        return (
            _points(
                "reserved %(num)s point at the till", "reserved %(num)s points at the till", pts
            )
            + ref
        )
    if kind == "capture":
        return (
            _points(
                "paid %(num)s point from hold %(hold)s",
                "paid %(num)s points from hold %(hold)s",
                pts,
                hold=hold,
            )
            + ref
            + released
        )
    if kind == "void":
        return (
            _points(
                "hold %(hold)s cancelled, %(num)s point released",
                "hold %(hold)s cancelled, %(num)s points released",
                pts,
                hold=hold,
            )
            + released
        )
    if kind == "hold_expire":
        return (
            _points(
                "hold %(hold)s timed out, %(num)s point released",
                "hold %(hold)s timed out, %(num)s points released",
                pts,
                hold=hold,
            )
            + released
        )
    if kind == "expire":
        return _points("%(num)s point expired", "%(num)s points expired", pts)
    if kind == "reverse":
        change = sum((item.get("changes") or {}).values())
        if change > 0:
            return (
                _points("return: %(num)s point restored", "return: %(num)s points restored", pts)
                + ref
                + released
            )
        if change < 0:
            return (
                _points(
                    "return: %(num)s point taken back",
                    "return: %(num)s points taken back",
                    -change,
                )
                + ref
            )
        return _points("return: %(num)s point reversed", "return: %(num)s points reversed", pts)
    return f"{entry_kind(kind)} {number(pts)}"
