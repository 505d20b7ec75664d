"""Rewards on the web. The console: the catalog with stock, issue and pool figures, a new
reward, stock and partner codes, the refund settings (``/admin/rewards``); issued rewards
with a search and a cancel that asks first (``/admin/rewards/issued``). The portal: the
rewards the member may redeem, a confirmation before redeeming (``/portal/rewards``), and
the member's coupons with their QR codes and expiry (``/portal/coupons``).

Every form's fields are read here once into the service's command (the edge); the
services' and the domain's checks answer in the page's language. The reward form itself
(new, or changing one) is ``reward_form.py``; a reward's own page, ``reward_edit_pages.py``.
A coupon's categories are shown by the names the rules in force give them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from kopilka.app import Kopilka
from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.money import to_decimal
from kopilka.domain.program import Program
from kopilka.domain.rewards import IssuedStatus, parse_pool_csv
from kopilka.domain.rules.categories import CategoryNames
from kopilka.services import members as member_svc
from kopilka.services import rewards as rewards_svc
from kopilka.services import rules as rules_svc
from kopilka.services.apikeys import Permission
from kopilka.services.balance_view import balance_view
from kopilka.services.rewards import (
    CancelIssued,
    IssuedQuery,
    LoadPool,
    RedeemReward,
    SaveReward,
    SetRefundSettings,
    SetStock,
)
from kopilka.services.rewards.views import CouponView
from kopilka.web import words
from kopilka.web.card_codes import qr_svg
from kopilka.web.console import Console
from kopilka.web.guard import Area, form_key, new_idempotency_key
from kopilka.web.i18n import N_, language, money, tr
from kopilka.web.portal import signed_in_member
from kopilka.web.render import RENDERER, Form, PathId, Refused, WebRoute, redirect, status_of
from kopilka.web.reward_form import FORM_FIELDS, KINDS, bad_field, reward_from_form, whole_number

STATUSES = {
    "issued": N_("issued"),
    "used": N_("used"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
}
REASONS = {
    "out_of_stock": N_("out of stock"),
    "pool_empty": N_("no codes left"),
    "member_limit": N_("you have reached the limit"),
    "period_limit": N_("limit reached for this period"),
    "total_limit": N_("all have been given out"),
}
SearchText = Annotated[str, Query(max_length=64)]
StatusQuery = Annotated[str, Query(max_length=16)]
MemberQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]


def kind_word(kind: str) -> str:
    """A reward kind in the page's language."""
    return str(tr(KINDS[kind])) if kind in KINDS else kind


def status_word(status: str) -> str:
    """An issued reward's status in the page's language."""
    return str(tr(STATUSES[status])) if status in STATUSES else status


def name_of(names: dict[str, str] | Any) -> str:
    """A name in the page's language (English when the Russian one is empty)."""
    return str(names.get("ru") or names.get("en")) if language() == "ru" else str(names["en"])


def coupon_text(coupon: CouponView | None, currency: str, names: CategoryNames) -> str:
    """A coupon's terms in words: "10 % off from 500,00 ₽ on Dairy" (each category by its
    name in the rules in force, ``names``, else its code)."""
    if coupon is None:
        return ""
    if coupon["kind"] == "percent":
        off = tr("%(n)s %% off", n=coupon["amount"])
    else:
        off = tr("%(amount)s off", amount=money(to_decimal(coupon["amount"], currency), currency))
    text = str(off)
    if coupon["min_basket_minor"]:
        minimum = money(to_decimal(coupon["min_basket_minor"], currency), currency)
        text += str(tr(" from a basket of %(amount)s", amount=minimum))
    if coupon["categories"]:
        text += str(
            tr(" on %(categories)s", categories=words.categories(coupon["categories"], names))
        )
    return text


def rewards_console_router(console: Console) -> APIRouter:
    """``/admin/rewards`` and ``/admin/rewards/issued``."""
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def catalog_page(
        request: Request,
        status: int = 200,
        error: KopilkaError | None = None,
        form: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.REWARDS_READ)
        rows = rewards_svc.catalog(ctx, op.program)
        settings = rewards_svc.refund_settings(ctx, op.program)
        names = rules_svc.category_names(ctx, op.program)
        return console.page(
            op,
            "admin_rewards.html",
            status,
            rewards=[
                {
                    **r,
                    "kind_word": kind_word(r["kind"]),
                    "title": name_of(r["name"]),
                    "terms": coupon_text(r["coupon"], op.program.currency, names),
                }
                for r in rows
            ],
            kinds=KINDS,
            settings=settings,
            error=error,
            bad_field=bad_field(error),
            form={k: (form or {}).get(k, "") for k in FORM_FIELDS},
            form_action="/admin/rewards",
            editing=False,
            notice=notice,
            can_manage=op.can(Permission.REWARDS_MANAGE),
            nav="rewards",
        )

    @router.get("/rewards")
    def catalog(request: Request, done: Annotated[str, Query(max_length=16)] = "") -> Response:
        notice = tr("Saved.") if done == "1" else None
        return catalog_page(request, notice=notice)

    def managed(request: Request, form: dict[str, str]) -> Any:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.REWARDS_MANAGE)
        return op

    @router.post("/rewards")
    def create(request: Request, form: Form) -> Response:
        op = managed(request, form)
        try:
            reward = reward_from_form(form, op.program)
            rewards_svc.save_reward(ctx, op.program, SaveReward(reward, op.key.actor))
        except KopilkaError as e:
            return catalog_page(request, status_of(e), e, dict(form))
        return redirect("/admin/rewards?done=1")

    @router.post("/rewards/settings")
    def settings(request: Request, form: Form) -> Response:
        op = managed(request, form)
        cmd = SetRefundSettings(
            form.get("refund_on_cancel") == "on", form.get("refund_on_expiry") == "on", op.key.actor
        )
        rewards_svc.set_refund_settings(ctx, op.program, cmd)
        return redirect("/admin/rewards?done=1")

    @router.post("/rewards/{reward_id}/stock")
    def stock(request: Request, reward_id: PathId, form: Form) -> Response:
        op = managed(request, form)
        try:
            value = whole_number(form, "stock")
            rewards_svc.set_stock(ctx, op.program, SetStock(reward_id, op.key.actor, stock=value))
        except KopilkaError as e:
            return catalog_page(request, status_of(e), e)
        return redirect("/admin/rewards?done=1")

    @router.post("/rewards/{reward_id}/pool")
    def pool(request: Request, reward_id: PathId, form: Form) -> Response:
        op = managed(request, form)
        try:
            codes = parse_pool_csv(form.get("codes", ""))
            if not codes:
                raise ValidationError(tr("Paste at least one code."), field="codes")
            loaded = rewards_svc.load_pool(
                ctx, op.program, LoadPool(reward_id, codes[:10_000], op.key.actor)
            )
        except KopilkaError as e:
            return catalog_page(request, status_of(e), e)
        notice = tr(
            "%(added)s codes added, %(duplicates)s duplicates skipped, %(free)s free.",
            added=loaded["added"],
            duplicates=loaded["duplicates"],
            free=loaded["free"],
        )
        return catalog_page(request, notice=str(notice))

    @router.get("/rewards/issued")
    def issued(
        request: Request,
        q: SearchText = "",
        status: StatusQuery = "",
        member: MemberQuery = None,
        done: Annotated[str, Query(max_length=16)] = "",
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.REWARDS_READ)
        if status and status not in STATUSES:
            raise Refused(422, tr("There is no such status."))
        code = q.strip()[:64] or None
        query = IssuedQuery(member, None, IssuedStatus(status) if status else None, code)
        rows = rewards_svc.issued_page(ctx, op.program, query)
        return console.page(
            op,
            "admin_rewards_issued.html",
            rows=[
                {**r, "title": name_of(r["name"]), "status_word": status_word(r["status"])}
                for r in rows
            ],
            statuses=STATUSES,
            q=q,
            status_filter=status,
            member=member or "",
            notice=tr("The reward is cancelled.") if done == "1" else None,
            can_cancel=op.can(Permission.REWARDS_CANCEL),
            nav="rewards",
        )

    def cancel_page(
        request: Request, issued_id: int, status: int = 200, error: KopilkaError | None = None
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.REWARDS_CANCEL)
        detail = rewards_svc.issued_detail(ctx, op.program, issued_id)
        settings = rewards_svc.refund_settings(ctx, op.program)
        return console.page(
            op,
            "admin_reward_cancel.html",
            status,
            issued=detail["issued"],
            title=name_of(detail["issued"]["name"]),
            status_word=status_word(detail["issued"]["status"]),
            history=[{**h, "status_word": status_word(h["status"])} for h in detail["history"]],
            refunds=settings.on_cancel,
            error=error,
            nav="rewards",
        )

    @router.get("/rewards/issued/{issued_id}/cancel")
    def confirm_cancel(request: Request, issued_id: PathId) -> Response:
        return cancel_page(request, issued_id)

    @router.post("/rewards/issued/{issued_id}/cancel")
    def do_cancel(request: Request, issued_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.REWARDS_CANCEL)
        try:
            reason = form.get("reason", "").strip()
            if not reason or len(reason) > 500:
                raise ValidationError(tr("Say why (up to 500 characters)."), field="reason")
            key = form_key(form, op.caller)
            cmd = CancelIssued(issued_id, key=key, actor=op.key.actor, reason=reason)
            rewards_svc.cancel_issued(ctx, op.program, cmd)
        except KopilkaError as e:
            return cancel_page(request, issued_id, status_of(e), e)
        return redirect("/admin/rewards/issued?done=1")

    return router


def rewards_portal_router(kopilka: Kopilka) -> APIRouter:
    """``/portal/rewards`` (browse, confirm, redeem) and ``/portal/coupons``."""
    router = APIRouter(prefix="/portal", route_class=WebRoute, include_in_schema=False)
    ctx = kopilka.services
    area = Area(ctx, kopilka.settings, "portal")

    def page(name: str, program: Program, member_id: int, csrf: str, **context: Any) -> Response:
        return RENDERER.page(
            name,
            context.pop("status", 200),
            area="portal",
            program=program,
            member=member_svc.get_member(ctx, program, member_id),
            csrf=csrf,
            new_key=new_idempotency_key,
            **context,
        )

    def items(program: Program, member_id: int) -> list[dict[str, Any]]:
        names = rules_svc.category_names(ctx, program)
        return [
            {
                **i,
                "kind_word": kind_word(i["kind"]),
                "title": name_of(i["name"]),
                "text": name_of(i["description"]) if i["description"]["en"] else "",
                "terms": coupon_text(i["coupon"], program.currency, names),
                "why_not": str(tr(REASONS[i["reason"]])) if i["reason"] in REASONS else "",
            }
            for i in rewards_svc.visible_catalog(ctx, program, member_id)
        ]

    @router.get("/rewards")
    def browse(request: Request) -> Response:
        program, member_id, csrf = signed_in_member(area, ctx, request)
        return page(
            "portal_rewards.html",
            program,
            member_id,
            csrf,
            rewards=items(program, member_id),
            available=balance_view(ctx, program, member_id).available,
        )

    def confirm_page(
        program: Program,
        member_id: int,
        csrf: str,
        reward_id: int,
        status: int = 200,
        error: KopilkaError | None = None,
    ) -> Response:
        found = next((i for i in items(program, member_id) if i["id"] == reward_id), None)
        if found is None:
            raise Refused(404, tr("There is no such reward."))
        return page(
            "portal_reward_confirm.html",
            program,
            member_id,
            csrf,
            reward=found,
            key=new_idempotency_key(),
            error=error,
            status=status,
        )

    @router.get("/rewards/{reward_id}/redeem")
    def confirm(request: Request, reward_id: PathId) -> Response:
        program, member_id, csrf = signed_in_member(area, ctx, request)
        return confirm_page(program, member_id, csrf, reward_id)

    @router.post("/rewards/{reward_id}/redeem")
    def redeem(request: Request, reward_id: PathId, form: Form) -> Response:
        program, member_id, csrf = signed_in_member(area, ctx, request)
        area.check_csrf(request, form)
        try:
            key = form_key(form, f"member-{member_id}")
            rewards_svc.redeem_reward(ctx, program, RedeemReward(member_id, reward_id, key=key))
        except KopilkaError as e:
            return confirm_page(program, member_id, csrf, reward_id, status_of(e), e)
        return redirect("/portal/coupons?done=1")

    @router.get("/rewards/{reward_id}/image")
    def image(request: Request, reward_id: PathId) -> Response:
        program, member_id, _ = signed_in_member(area, ctx, request)
        if all(i["id"] != reward_id for i in rewards_svc.visible_catalog(ctx, program, member_id)):
            raise Refused(404, tr("There is no such reward."))
        try:
            content_type, data, digest = rewards_svc.image(ctx, program, reward_id)
        except KopilkaError:
            raise Refused(404, tr("There is no such reward.")) from None
        return Response(
            data,
            media_type=content_type,
            headers={"ETag": f'"{digest}"', "X-Content-Type-Options": "nosniff"},
        )

    @router.get("/coupons")
    def coupons(request: Request, done: Annotated[str, Query(max_length=16)] = "") -> Response:
        program, member_id, csrf = signed_in_member(area, ctx, request)
        rows = rewards_svc.member_rewards(ctx, program, member_id)
        names = rules_svc.category_names(ctx, program)
        return page(
            "portal_coupons.html",
            program,
            member_id,
            csrf,
            coupons=[
                {
                    **r,
                    "title": name_of(r["name"]),
                    "status_word": status_word(r["status"]),
                    "terms": coupon_text(r["coupon"], program.currency, names),
                    "qr": qr_svg(r["code"]) if r["status"] == "issued" else None,
                }
                for r in rows
            ],
            notice=tr("Done: the reward is yours.") if done == "1" else None,
        )

    return router
