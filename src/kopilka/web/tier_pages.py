"""Tiers on the web: the console member card's tier panel (``_tier_panel.html``) with
its manual-tier form, the page the form answers on, and the portal's tier block
(``_portal_tier.html``). The sentences of progress ("spend 3,200 ₽ more by 31 March to
reach Gold") are built here, in the page's language, from the service's figures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.program import Program
from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.services import tiers as tiers_svc
from kopilka.services.apikeys import Permission
from kopilka.services.context import ServiceContext
from kopilka.services.tiers import MemberTier, ProgressPart, SetManualTier, TierName
from kopilka.web import membership_pages
from kopilka.web.console import Console
from kopilka.web.guard import Operator
from kopilka.web.i18n import N_, date_text, gettext, language, money, ngettext, number, tr
from kopilka.web.render import Form, PathId, WebRoute, redirect, status_of

REASONS = {
    ReasonCode.GOODWILL: N_("Goodwill gesture"),
    ReasonCode.SERVICE_FAILURE: N_("Service failure"),
    ReasonCode.CORRECTION: N_("Correction of a mistake"),
    ReasonCode.RETURN: N_("Goods returned"),
    ReasonCode.CUSTOMER_REQUEST: N_("The member asked"),
    ReasonCode.LOST_CARD: N_("Lost card"),
    ReasonCode.FRAUD: N_("Suspected fraud"),
    ReasonCode.OTHER: N_("Other (say why in the note)"),
}
CHANGES = {
    "purchase": N_("purchase"),
    "review": N_("tier review"),
    "manual": N_("set by support"),
    "return": N_("return"),
    "migration": N_("carried over"),
    "paid": N_("paid membership"),
    "event": N_("points of an event"),
    "adjustment": N_("adjustment"),
}


def tier_name(tier: TierName | None) -> str:
    """A tier's name in the page's language."""
    if tier is None:
        return ""
    return tier["name_ru"] if language() == "ru" else tier["name_en"]


def _benefits(tier: TierName | None) -> str:
    if tier is None:
        return ""
    return tier["benefits_ru"] if language() == "ru" else tier["benefits_en"]


def _amount(part: ProgressPart, currency: str) -> str:
    if part["metric"] == "spend":
        return money(part["missing"], currency)
    return number(int(part["missing"]))


def _to_reach(part: ProgressPart, tier: str, day: str, currency: str) -> str:
    n = int(part["missing"]) if part["metric"] != "spend" else 0
    values = {"amount": _amount(part, currency), "tier": tier, "day": day}
    if part["metric"] == "spend":
        text = (
            gettext("Spend %(amount)s more by %(day)s to reach %(tier)s")
            if day
            else gettext("Spend %(amount)s more to reach %(tier)s")
        )
    elif part["metric"] == "points":
        text = (
            ngettext(
                "Earn %(amount)s more point by %(day)s to reach %(tier)s",
                "Earn %(amount)s more points by %(day)s to reach %(tier)s",
                n,
            )
            if day
            else ngettext(
                "Earn %(amount)s more point to reach %(tier)s",
                "Earn %(amount)s more points to reach %(tier)s",
                n,
            )
        )
    else:
        text = (
            ngettext(
                "Make %(amount)s more purchase by %(day)s to reach %(tier)s",
                "Make %(amount)s more purchases by %(day)s to reach %(tier)s",
                n,
            )
            if day
            else ngettext(
                "Make %(amount)s more purchase to reach %(tier)s",
                "Make %(amount)s more purchases to reach %(tier)s",
                n,
            )
        )
    return text % values


def _to_keep(part: ProgressPart, tier: str, day: str, currency: str) -> str:
    n = int(part["missing"]) if part["metric"] != "spend" else 0
    values = {"amount": _amount(part, currency), "tier": tier, "day": day}
    if part["metric"] == "spend":
        return gettext("Spend %(amount)s by %(day)s to keep %(tier)s") % values
    if part["metric"] == "points":
        return (
            ngettext(
                "Earn %(amount)s point by %(day)s to keep %(tier)s",
                "Earn %(amount)s points by %(day)s to keep %(tier)s",
                n,
            )
            % values
        )
    return (
        ngettext(
            "Make %(amount)s purchase by %(day)s to keep %(tier)s",
            "Make %(amount)s purchases by %(day)s to keep %(tier)s",
            n,
        )
        % values
    )


def panel(view: MemberTier, program: Program) -> dict[str, Any]:
    """What the console panel and the portal block show: the tier's name and benefits,
    a progress bar, and the sentences of what the next tier needs and what keeps this one."""
    progress = view["progress"]
    name = tier_name(view["tier"]) or (view["tier_code"] or "")
    out: dict[str, Any] = {
        "view": view,
        "name": name,
        "benefits": _benefits(view["tier"]),
        "next_name": "",
        "to_next": [],
        "to_keep": [],
        "kept": None,
        "share": None,
        "either": False,
        "tiers": [{"code": t["code"], "name": tier_name(t)} for t in view["tiers"]],
    }
    if progress is None:
        return out
    day = date_text(date.fromisoformat(progress["deadline"])) if progress["deadline"] else ""
    nxt = progress["next_tier"]
    if nxt is not None and progress["to_next"]:
        out["next_name"] = tier_name(nxt)
        missing = [p for p in progress["to_next"] if p["missing"] not in ("0", "0.00")]
        out["to_next"] = [_to_reach(p, tier_name(nxt), day, program.currency) for p in missing]
        shares = [p["share"] for p in progress["to_next"]]
        any_one = progress["combine"] == "any"
        out["share"] = max(shares) if any_one else min(shares)
        out["either"] = any_one and len(missing) > 1
    # keeping the tier has its own date: the day before an anniversary review
    keep = progress["keep_deadline"]
    keep_day = date_text(date.fromisoformat(keep)) if keep else ""
    if progress["keep_met"]:
        if name and keep_day:
            out["kept"] = tr(
                "%(tier)s is kept until the review after %(day)s", tier=name, day=keep_day
            )
    elif keep_day:
        missing = [p for p in progress["keep"] if p["missing"] not in ("0", "0.00")]
        out["to_keep"] = [_to_keep(p, name, keep_day, program.currency) for p in missing]
    return out


def member_panel(ctx: ServiceContext, program: Program, member_id: int) -> dict[str, Any] | None:
    """The panel of a member (``None`` when the program's rules define no tiers and the
    member has no tier and no history)."""
    view = tiers_svc.member_tier(ctx, program, member_id, history=10)
    if view["progress"] is None and view["tier_code"] is None and not view["history"]:
        return None
    return panel(view, program)


FORM_FIELDS = ("tier_code", "until", "reason_code", "reason_note")


def card_context(
    ctx: ServiceContext,
    op: Operator,
    member_id: int,
    error: KopilkaError | None = None,
    form: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What ``_tier_panel.html`` reads on the member card (one line of the card's page)."""
    tier = member_panel(ctx, op.program, member_id)
    return {
        "tier": tier,
        "sales_shown": True,
        **membership_pages.card_context(ctx, op.program, member_id, tier),
        "tier_member": member_id,
        "tier_reasons": REASONS,
        "tier_changes": CHANGES,
        "tier_error": error,
        "tier_form": {k: (form or {}).get(k, "") for k in FORM_FIELDS},
        "can_set_tier": op.can(Permission.MEMBERS_BLOCK),
    }


def _until(raw: str, program: Program) -> datetime | None:
    """The manual tier's last day (local) as the instant it ends: the next local midnight."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(tr("Enter a date as YYYY-MM-DD."), field="until") from None
    zone = ZoneInfo(program.timezone)
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)


def tier_router(console: Console) -> APIRouter:
    """The manual-tier form's page: ``/admin/members/{id}/tier``."""
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    @router.get("/tiers")
    def overview(request: Request) -> Response:
        """The program's tiers: members per tier now, moves between tiers by month."""
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        found = tiers_svc.tier_overview(ctx, op.program)
        names = {t["code"]: tier_name(t) for t in found["tiers"]}

        def named(code: str | None) -> str:
            return names.get(code, code) if code is not None else str(tr("No tier"))

        return console.page(
            op,
            "admin_tiers.html",
            tiers=found["tiers"],
            distribution=[
                {**c, "name": named(c["code"]), "percent": round(c["share"] * 100)}
                for c in found["distribution"]
            ],
            moves=[
                {**m, "from_name": named(m["from_tier"]), "to_name": named(m["to_tier"])}
                for m in found["moves"]
            ],
            nav="tiers",
        )

    def page(
        request: Request,
        member_id: int,
        status: int = 200,
        error: KopilkaError | None = None,
        form: dict[str, str] | None = None,
    ) -> Response:
        op = console.operator(request)
        return console.page(
            op,
            "admin_member_tier.html",
            status,
            **card_context(ctx, op, member_id, error, form),
            notice=tr("Tier saved.") if request.query_params.get("done") == "1" else None,
            nav="members",
        )

    @router.get("/members/{member_id}/tier")
    def tier(request: Request, member_id: PathId) -> Response:
        op = console.operator(request)
        op.require(Permission.MEMBERS_READ)
        return page(request, member_id)

    @router.post("/members/{member_id}/tier")
    def set_tier(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_BLOCK)  # support and admins: a member's standing
        try:
            code = form.get("reason_code", "")
            if code not in set(ReasonCode):
                raise ValidationError(tr("Choose a reason."), field="reason_code")
            reason = Reason(ReasonCode(code), form.get("reason_note", "").strip() or None)
            tier_code = form.get("tier_code", "").strip() or None
            cmd = SetManualTier(
                member_id, tier_code, reason, _until(form.get("until", ""), op.program)
            )
            tiers_svc.set_manual_tier(ctx, op.program, cmd, actor=op.key.actor)
        except KopilkaError as e:
            return page(request, member_id, status_of(e), e, dict(form))
        return redirect(f"/admin/members/{member_id}/tier?done=1")

    return router
