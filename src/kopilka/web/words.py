"""The words a page shows for the program's codes (entry kinds, statuses, consent
purposes, roles) and the sentence of each history line, in the page's language.

The services describe a history line in English (``services.audit.explain``); the pages
build it here from the line's figures, with the plural forms of the page's language. Two
figures the services do not hand to the portal (what a return reversed, and the details of
held points released) keep the services' English sentence on English pages; Russian pages
say what the line's figures do show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kopilka.domain.rules.categories import CategoryNames, category_name
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
    "reward": N_("reward"),
    "reward_refund": N_("reward refund"),
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


def _told(meta: dict[str, Any] | None) -> str:
    """What the member was told (support's history line shows it beside the reason)."""
    text = (meta or {}).get("member_text")
    return gettext(" (the member reads: “%(text)s”)") % {"text": text} if text else ""


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
        return text + f": {item.get('reason') or ''}" + _told(meta)
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
        text = (
            _points(
                "hold %(hold)s cancelled, %(num)s point released",
                "hold %(hold)s cancelled, %(num)s points released",
                pts,
                hold=hold,
            )
            + released
        )
        if item.get("actor"):
            text += gettext(" by %(actor)s") % {"actor": item["actor"]}
        return text + (f": {item['reason']}" if item.get("reason") else "") + _told(meta)
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
    if kind == "reward":
        return _points("spent %(num)s point on reward", "spent %(num)s points on reward", pts) + ref
    if kind == "reward_refund":
        return (
            _points(
                "reward cancelled or expired: %(num)s point given back",
                "reward cancelled or expired: %(num)s points given back",
                pts,
            )
            + ref
            + released
        )
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


# the ledger's invariants (kopilka.ledger.verify.CHECKS), as the verify page says them
CHECKS = {
    "entries_balance": N_("every entry's postings sum to zero"),
    "program_sums_zero": N_("the sum over all accounts of each program is zero"),
    "member_balances_match_postings": N_("each member balance equals the sum of its postings"),
    "lots_match_draws": N_("each lot's remaining equals its amount less its recorded draws"),
    "pending_matches_lots": N_("pending balance equals the points left in not-yet-active lots"),
    "available_matches_lots": N_(
        "available balance equals the points left in active lots (or is a debt with none left)"
    ),
    "debt_only_under_debt_policy": N_(
        "a negative balance exists only where the program allows debt"
    ),
    "held_matches_holds": N_("held balance equals the active holds, and each hold its lot draws"),
    "holds_end_once": N_("a hold is active, or ended exactly once by a capture, void or expiry"),
    "captures_before_timeout": N_("no hold was captured at or after its expiry time"),
    "reversals_bounded": N_("no entry was reversed by more points than it moved"),
    "expiry_on_time": N_("a lot expired only at or after its expiry time, and at most once"),
    "spend_from_active_lots": N_("points were spent only from activated lots"),
    "references_exist": N_("every posting names an entry, every draw a lot and an entry"),
    "purchase_references_exist": N_(
        "every purchase line and line award names a purchase"
        " (whole-database runs only: such a row names no program of its own)"
    ),
}
# the verify page's totals, in the order an accountant reads them (as `kopilka verify`)
TOTALS = {
    "liability": N_("liability (sum of member balances)"),
    "issued": N_("issued"),
    "redeemed": N_("redeemed"),
    "breakage": N_("breakage (expired)"),
    "adjustments": N_("adjustments (net)"),
    "available": N_("available"),
    "pending": N_("pending"),
    "held": N_("held"),
    "members": N_("members"),
    "entries": N_("journal entries"),
    "lots": N_("lots"),
}
# program accounts the ledger keeps as the other side of member postings: shown negated,
# so that points issued to members read positive (as on the overview and in the CLI)
CONTRA_ACCOUNTS = frozenset({"issued", "adjustments"})
RULE_KINDS = {
    "rate": N_("rate"),
    "multiplier": N_("multiplier"),
    "bonus": N_("bonus"),
    "event": N_("event"),
}
# every standard event a rule may award (kopilka.domain.rules.schema.STANDARD_EVENTS); a
# custom event's name is shown as written
EVENTS = {
    "registration": N_("registration"),
    "profile_completed": N_("profile completed"),
    "review": N_("review"),
    "social_share": N_("social share"),
    "newsletter_subscription": N_("newsletter subscription"),
}
CHANNELS = {
    "till": N_("till"),
    "pos": N_("till"),
    "web": N_("web shop"),
    "app": N_("app"),
    "support": N_("support"),
    "import": N_("import"),
    "api": N_("API"),
    "portal": N_("portal"),
    "unsubscribe": N_("unsubscribe link"),
}
ACTIONS = {
    "purchase.return": N_("receipt returned by support"),
    "points.adjust": N_("points adjusted"),
    "member.consent.grant": N_("consent given"),
    "member.consent.withdraw": N_("consent withdrawn"),
    "member.consent.unsubscribe": N_("consent withdrawn by an unsubscribe link"),
    "notifications.template": N_("message template changed"),
    "notifications.template_reset": N_("message template reset to the default"),
    "notifications.settings": N_("notification settings changed"),
    "member.block": N_("member blocked"),
    "member.unblock": N_("member unblocked"),
    "member.profile_update": N_("profile changed"),
    "member.identifier_change": N_("phone or e-mail changed"),
    "member.card_replaced": N_("card replaced"),
    "hold.void": N_("hold voided by support"),
    "rules.publish": N_("rules published"),
    "rules.backdate": N_("rules published backdated"),
    "rules.propose": N_("rules proposed"),
    "rules.approve": N_("rules proposal approved"),
    "rules.reject": N_("rules proposal rejected"),
}


def check(name: str, fallback: str = "") -> str:
    """An invariant's description; one this layer does not know shows the ledger's words."""
    return gettext(CHECKS[name]) if name in CHECKS else fallback or name


def totals(raw: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The verify report's totals as (code, label, value) rows, program accounts turned to
    the sign the overview uses; totals this layer does not know follow, as written."""
    rows = [(k, gettext(label), raw[k]) for k, label in TOTALS.items() if k in raw]
    rows += [(k, k.replace("_", " "), raw[k]) for k in raw if k not in TOTALS]
    return [(k, label, -int(v) if k in CONTRA_ACCOUNTS else int(v)) for k, label, v in rows]


def category(code: str, names: CategoryNames) -> str:
    """A category as the page's language names it in the rules in force (``categories:``
    of the document), else its code."""
    return category_name(names, code, language())


def categories(codes: Iterable[str], names: CategoryNames) -> str:
    """Categories by their names, comma-separated, in the order given."""
    return ", ".join(category(code, names) for code in codes)


def rule_kind(code: object) -> str:
    return _word(RULE_KINDS, code)


def event(code: object) -> str:
    return _word(EVENTS, code)


def channel(code: object) -> str:
    """Where a consent was given (till, web, app, support, import...)."""
    return _word(CHANNELS, code)


def action(code: object) -> str:
    """An audit log action; a job's is named after the job."""
    text = str(code)
    if text.startswith("job."):
        return gettext("job: %(name)s") % {"name": text[4:].replace("_", " ")}
    return _word(ACTIONS, code)


def actor(code: object, keys: dict[int, tuple[str, str]] | None = None) -> str:
    """Who did something, as a person reads it: an API key by its name and role
    (``keys``: id → (name, role)), the CLI's operator, a member, a role-named agent.
    Recorded forms: ``apikey:<id>:<name>``, ``cli:<name>``, ``member:<id>``,
    ``<role>:<name>``, ``cron:<name>``; anything else shows as written."""
    text = "" if code is None else str(code)
    head, _, rest = text.partition(":")
    if head == "apikey":
        key_id, _, name = rest.partition(":")
        known = (keys or {}).get(int(key_id)) if key_id.isdigit() else None
        if known:
            return f"{known[0]} ({role(known[1])})"
        return gettext("%(name)s (API key)") % {"name": name or key_id}
    if not rest:
        return text
    if head == "cli":
        return gettext("cli: %(name)s") % {"name": rest}
    if head == "member":
        return gettext("member %(id)s") % {"id": rest}
    if head == "cron":
        return gettext("scheduled job: %(name)s") % {"name": rest}
    if head in ROLES:
        return f"{rest} ({role(head)})"
    return text


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
    "reward": N_("spent on a reward"),
    "reward_refund": N_("reward points returned"),
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
        told = _member_text(item)
        if told:
            text += f": {told}"
        elif item.get("reason") and item.get("rule_id"):  # a rule's description, for members
            text += f": {item['reason']}"
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
    if kind == "void" and _member_text(item):
        return (
            _points(
                "%(num)s reserved point returned to your balance",
                "%(num)s reserved points returned to your balance",
                pts,
            )
            + f": {_member_text(item)}"
        )
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
        # what support wrote for the member when returning the receipt from the console
        told = f": {_member_text(item)}" if _member_text(item) else ""
        if change > 0 or came_back:
            return (
                _points(
                    "%(num)s point returned to you for a returned purchase",
                    "%(num)s points returned to you for a returned purchase",
                    max(change, pts),
                )
                + (f" ({ref})" if ref else "")
                + _released(meta)
                + told
            )
        if change < 0:
            return (
                _points(
                    "%(num)s point taken back for a returned purchase",
                    "%(num)s points taken back for a returned purchase",
                    -change,
                )
                + (f" ({ref})" if ref else "")
                + told
            )
        return gettext("a returned purchase") + (f" ({ref})" if ref else "") + told
    if kind == "activate":
        return _points(
            "%(num)s pending point became available", "%(num)s pending points became available", pts
        )
    if kind == "expire":
        return _points("%(num)s point expired", "%(num)s points expired", pts)
    if kind == "reward":
        return _points(
            "%(num)s point spent on a reward", "%(num)s points spent on a reward", pts
        ) + (f" ({ref})" if ref else "")
    if kind == "reward_refund":
        return _points(
            "%(num)s point of a reward returned to your balance",
            "%(num)s points of a reward returned to your balance",
            pts,
        )
    if kind == "adjust":
        delta = int(changes.get("available", 0) + changes.get("pending", 0)) or pts
        told = _member_text(item)
        if told:
            text = (
                _points("%(num)s point added", "%(num)s points added", delta)
                if delta > 0
                else _points("%(num)s point removed", "%(num)s points removed", -delta)
            )
            return f"{text}: {told}"
        # never the agent's own note (``reason``): it is internal, also on entries older
        # than member texts
        return (
            _points(
                "%(num)s point added by customer service",
                "%(num)s points added by customer service",
                delta,
            )
            if delta > 0
            else _points(
                "%(num)s point removed by customer service",
                "%(num)s points removed by customer service",
                -delta,
            )
        )
    return member_kind(item)


def _member_text(item: dict[str, Any]) -> str:
    """The text support wrote for the member on this entry (``Reason.meta``), if any."""
    told = (item.get("meta") or {}).get("member_text")
    return told if isinstance(told, str) else ""
