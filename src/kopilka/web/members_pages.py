"""Console pages for support: find a member, see and explain their points, adjust,
block or unblock, and read a purchase's breakdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services import audit as audit_svc
from kopilka.services import back_office
from kopilka.services import members as member_svc
from kopilka.services.apikeys import Permission
from kopilka.services.back_office import SetBlocked
from kopilka.services.balance_view import balance_view
from kopilka.services.points import Adjust
from kopilka.services.purchases import get_purchase
from kopilka.web import tier_pages
from kopilka.web.console import Console
from kopilka.web.guard import Operator, form_key
from kopilka.web.i18n import N_, tr
from kopilka.web.member_list_pages import list_context
from kopilka.web.render import Cursor, Form, PathId, ReceiptRef, WebRoute, Word, redirect, status_of

HISTORY_PAGE = 25
MAX_REASON = 500
NOTICES = {
    "adjusted": N_("The adjustment is recorded."),
    "blocked": N_("The member is blocked."),
    "unblocked": N_("The member is unblocked."),
}


def parse_delta(raw: str | None) -> int:
    """A whole, signed number of points from a form field."""
    text = (raw or "").strip().replace("\u202f", "").replace(" ", "")
    try:
        return int(text)
    except ValueError:
        raise ValidationError(
            tr("points must be a whole number, e.g. 50 or -20"), field="delta"
        ) from None


def parse_reason(raw: str | None, *, required: bool) -> str | None:
    reason = (raw or "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationError(
            tr("the reason is limited to %(max)s characters", max=MAX_REASON), field="reason"
        )
    if required and not reason:
        raise ValidationError(tr("a reason is required"), field="reason")
    return reason or None


def looks_like_a_name(value: str) -> bool:
    """Letters and no digits: a name typed where a card was expected, searched as one."""
    return any(ch.isalpha() for ch in value) and not any(ch.isdigit() for ch in value)


def named_actors(history: Any, named: Callable[[object], str]) -> Any:
    """A history page whose lines name their actor as a person reads it (the recorded
    ``apikey:4:…`` becomes the key's name and role)."""
    items = [
        {**item, "actor": named(item["actor"])} if item.get("actor") else item
        for item in history["items"]
    ]
    return {**history, "items": items}


def members_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def search_page(
        op: Operator,
        status: int = 200,
        error: KopilkaError | None = None,
        params: dict[str, str] | None = None,
        **form: str,
    ) -> Response:
        try:
            listing = list_context(console, op, params or {})
        except ValidationError as e:  # a filter as typed: shown with an unfiltered list
            status, error = status_of(e), e
            listing = list_context(console, op, {})
            listing["filters"] = {k: (params or {}).get(k, "") for k in listing["filters"]}
        return console.page(
            op,
            "admin_search.html",
            status,
            kinds=list(IdentifierKind),
            form=form,
            error=error,
            nav="members",
            **listing,
        )

    # the list, searched and filtered, and the exact-identifier lookup's form
    @router.get("/members")
    def search_form(request: Request) -> Response:
        op = console.operator(request)
        op.require(Permission.MEMBERS_READ)
        return search_page(op, params=dict(request.query_params))

    # a POST, so card numbers, phones and e-mails stay out of URLs and access logs
    @router.post("/members/search")
    def search(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_READ)
        kind, value = form.get("kind", "card"), form.get("value", "")
        if kind == "name":  # a name is searched in the list, never read as a card number
            return redirect(f"/admin/members?{urlencode({'q': value.strip()})}")
        try:
            member = member_svc.lookup(ctx, op.program, kind, value)
        except KopilkaError as e:
            if kind == "card" and looks_like_a_name(value):
                return redirect(f"/admin/members?{urlencode({'q': value.strip()})}")
            return search_page(op, status_of(e), e, kind=kind, value=value)
        return redirect(f"/admin/members/{member.id}")

    def member_page(
        op: Operator,
        member_id: int,
        *,
        before: int | None = None,
        status: int = 200,
        error: KopilkaError | None = None,
        failed: str = "",
        form: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)
        can_history = op.can(Permission.HISTORY_READ)
        return console.page(
            op,
            "admin_member.html",
            status,
            member=member,
            view=balance_view(ctx, program, member_id),
            consents=member_svc.current_consents(ctx, program, member_id),
            history=named_actors(
                audit_svc.history(ctx, program, member_id, limit=HISTORY_PAGE, before=before),
                console.actor(op),
            )
            if can_history
            else None,
            purchases=member_svc.member_purchases(ctx, program, member_id) if can_history else None,
            before=before,
            error=error,
            failed=failed,
            form=form or {},
            notice=notice,
            nav="members",
            **tier_pages.card_context(ctx, op, member_id),
        )

    @router.get("/members/{member_id}")
    def member(
        request: Request, member_id: PathId, before: Cursor = None, done: Word = ""
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.MEMBERS_READ)
        notice = tr(NOTICES[done]) if done in NOTICES else None
        return member_page(op, member_id, before=before, notice=notice)

    @router.post("/members/{member_id}/adjust")
    def adjust(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.POINTS_ADJUST)
        program = op.program
        try:
            key = form_key(form, op.caller)
            delta = parse_delta(form.get("delta"))
            reason = parse_reason(form.get("reason"), required=True)

            back_office.adjust(
                ctx,
                program,
                Adjust(member_id, delta, key=key, reason=str(reason), actor=op.key.actor),
            )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="adjust", form=form
            )
        return redirect(f"/admin/members/{member_id}?done=adjusted")

    @router.post("/members/{member_id}/status")
    def set_status(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_BLOCK)
        program = op.program
        blocked = form.get("action") == "block"
        action = "block" if blocked else "unblock"
        try:
            key = form_key(form, op.caller)
            reason = parse_reason(form.get("reason"), required=True)

            back_office.set_blocked(
                ctx,
                program,
                SetBlocked(member_id, blocked, reason, key=key, actor=op.key.actor),
                answer=lambda inner: {"status": "blocked" if blocked else "active"},
            )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="status", form=form
            )
        return redirect(f"/admin/members/{member_id}?done={action}ed")

    @router.get("/purchases")
    def purchase(request: Request, receipt_id: ReceiptRef = "") -> Response:
        op = console.operator(request)
        op.require(Permission.HISTORY_READ)
        found = get_purchase(ctx, op.program, receipt_id, scope=op.key.scope)
        return console.page(op, "admin_purchase.html", purchase=found, nav="members")

    return router
