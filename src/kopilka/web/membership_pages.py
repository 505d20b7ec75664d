"""Paid membership on the web: the memberships of a member on the console member card's
tier panel and on the portal's tier block (``_memberships.html``), each as a sentence in
the page's language ("Gold for a month: Gold until 28 February, renews")."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kopilka.domain.program import Program
from kopilka.services import memberships as svc
from kopilka.services.context import ServiceContext
from kopilka.services.memberships import MembershipView, SaleView
from kopilka.web.i18n import date_text, language, money, tr


def _day(at: str, program: Program) -> str:
    return date_text(datetime.fromisoformat(at).astimezone(ZoneInfo(program.timezone)).date())


def _line(m: MembershipView, program: Program, names: dict[str, str]) -> dict[str, Any]:
    plan = m["plan_name_ru"] if language() == "ru" else m["plan_name_en"]
    tier = names.get(m["tier_code"], m["tier_code"])
    day = _day(m["ends_at"], program)
    if m["status"] == "refunded":
        state = tr("refunded on %(day)s", day=day)
    elif not m["active"]:
        state = tr("ended on %(day)s", day=day)
    elif m["renews"]:
        state = tr("%(tier)s until %(day)s, renews", tier=tier, day=day)
    else:
        state = tr("%(tier)s until %(day)s, cancelled: not renewed", tier=tier, day=day)
    return {
        "plan": plan,
        "state": state,
        "active": m["active"],
        "paid": money(m["paid"], m["currency"]),
        "sales": [{"at": s["at"], "line": _sale(s)} for s in m["sales"]],
    }


def _sale(sale: SaleView) -> str:
    values = {
        "amount": money(sale["amount"].lstrip("-"), sale["currency"]),
        "receipt": sale["receipt_id"],
    }
    if sale["kind"] == "refund":
        return tr("refund %(amount)s, receipt %(receipt)s", **values)
    if sale["kind"] == "renew":
        return tr("renewal %(amount)s, receipt %(receipt)s", **values)
    return tr("sale %(amount)s, receipt %(receipt)s", **values)


def membership_lines(
    ctx: ServiceContext, program: Program, member_id: int, tier_names: dict[str, str]
) -> list[dict[str, Any]]:
    """The member's memberships, newest first, as the card and the portal show them
    (``tier_names``: tier code to its name in the page's language)."""
    return [_line(m, program, tier_names) for m in svc.memberships_of(ctx, program, member_id)]


def names_of(panel: dict[str, Any] | None) -> dict[str, str]:
    """Tier code to name, from a tier panel (``web/tier_pages.py: panel``)."""
    if panel is None:
        return {}
    return {t["code"]: t["name"] for t in panel["tiers"]}


def card_context(
    ctx: ServiceContext, program: Program, member_id: int, panel: dict[str, Any] | None
) -> dict[str, Any]:
    """What ``_memberships.html`` reads on the member card and the portal."""
    return {
        "memberships": membership_lines(ctx, program, member_id, names_of(panel))
        if panel is not None
        else []
    }
