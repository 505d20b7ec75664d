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


# The member portal's words: what happened to the member's points, never how the ledger
# books it (no holds, captures, reversals or entry numbers).
MEMBER_KINDS = {
    "earn": N_("earned"),
    "redeem": N_("spent"),
    "capture": N_("spent"),
    "hold": N_("reserved"),
    "void": N_("returned"),
    "hold_expire": N_("returned"),
    "reverse": N_("purchase returned"),
    "activate": N_("available"),
    "expire": N_("expired"),
    "adjust": N_("corrected"),
}


def member_kind(item: dict[str, Any]) -> str:
    """The word on a portal history line: a hold whose purchase went through reads as
    spent (``portal.member_history`` marks it ``spent``)."""
    if item.get("spent"):
        return gettext(MEMBER_KINDS["capture"])
    return _word(MEMBER_KINDS, item["kind"])


def _on(ref: str | None) -> str:
    return gettext(" on purchase %(receipt)s") % {"receipt": ref} if ref else ""


def member_why(item: dict[str, Any]) -> str:
    """The sentence of one portal history line, in the member's words."""
    kind, pts, ref = item["kind"], int(item["points"]), item.get("reference")
    changes = item.get("changes") or {}
    if kind == "earn":
        text = _points("earned %(num)s point", "earned %(num)s points", pts) + _on(ref)
        text += f": {item['reason']}" if item.get("reason") else ""
        if "pending_until" in item:  # the portal worked out when (None: no longer pending)
            if item["pending_until"]:
                text += gettext(" (pending until %(day)s)") % {"day": item["pending_until"]}
        elif changes.get("pending", 0) > 0 and not changes.get("available", 0):
            text += gettext(" (pending: they become available later)")
        return text
    if kind in {"redeem", "capture"} or (kind == "hold" and item.get("spent")):
        return _points("spent %(num)s point", "spent %(num)s points", pts) + _on(ref)
    if kind == "hold":
        return _points(
            "%(num)s point reserved at the till", "%(num)s points reserved at the till", pts
        ) + _on(ref)
    if kind == "void":
        return _points(
            "%(num)s reserved point returned to your balance: the purchase was cancelled",
            "%(num)s reserved points returned to your balance: the purchase was cancelled",
            pts,
        )
    if kind == "hold_expire":
        return _points(
            "%(num)s reserved point returned to your balance",
            "%(num)s reserved points returned to your balance",
            pts,
        )
    if kind == "reverse":
        change = sum(changes.values())
        meta = item.get("meta") or {}
        came_back = int(meta.get("expired_on_return", 0)) + int(meta.get("reissued", 0))
        if change > 0 or came_back:
            return (
                _points(
                    "%(num)s point returned to you for a returned purchase",
                    "%(num)s points returned to you for a returned purchase",
                    max(change, pts),
                )
                + (f" ({ref})" if ref else "")
                + _released(meta)
            )
        if change < 0:
            return _points(
                "%(num)s point taken back for a returned purchase",
                "%(num)s points taken back for a returned purchase",
                -change,
            ) + (f" ({ref})" if ref else "")
        return gettext("a returned purchase") + (f" ({ref})" if ref else "")
    if kind == "activate":
        return _points(
            "%(num)s pending point became available", "%(num)s pending points became available", pts
        )
    if kind == "expire":
        return _points("%(num)s point expired", "%(num)s points expired", pts)
    if kind == "adjust":
        delta = int(changes.get("available", 0) + changes.get("pending", 0)) or pts
        text = (
            _points("%(num)s point added", "%(num)s points added", delta)
            if delta > 0
            else _points("%(num)s point removed", "%(num)s points removed", -delta)
        )
        return text + (f": {item['reason']}" if item.get("reason") else "")
    return member_kind(item)
