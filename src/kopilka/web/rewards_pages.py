"""Rewards on the web. The console: the catalog with stock, issue and pool figures, a new
reward, stock and partner codes, the refund settings (``/admin/rewards``); issued rewards
with a search and a cancel that asks first (``/admin/rewards/issued``). The portal: the
rewards the member may redeem, a confirmation before redeeming (``/portal/rewards``), and
the member's coupons with their QR codes and expiry (``/portal/coupons``).

Every form's fields are read here once into the service's command (the edge); the
services' and the domain's checks answer in the page's language."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from kopilka.app import Kopilka
from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.money import parse_money, to_decimal
from kopilka.domain.program import Program
from kopilka.domain.rewards import (
    Audience,
    CouponKind,
    CouponTerms,
    EarlyAccess,
    IssuedStatus,
    Limits,
    Period,
    Reward,
    RewardKind,
    Text,
    Validity,
    parse_pool_csv,
    reward_offer_id,
)
from kopilka.services import members as member_svc
from kopilka.services import offers as offers_svc
from kopilka.services import rewards as rewards_svc
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
from kopilka.web.card_codes import qr_svg
from kopilka.web.console import Console
from kopilka.web.guard import Area, form_key, new_idempotency_key
from kopilka.web.i18n import N_, language, money, tr
from kopilka.web.portal import signed_in_member
from kopilka.web.render import RENDERER, Form, PathId, Refused, WebRoute, redirect, status_of

KINDS = {
    "gift": N_("gift"),
    "coupon": N_("discount coupon"),
    "voucher": N_("money voucher"),
    "partner": N_("partner coupon"),
}
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
FORM_FIELDS = (
    "code",
    "kind",
    "name_en",
    "name_ru",
    "description_en",
    "description_ru",
    "points",
    "stock",
    "coupon_kind",
    "coupon_amount",
    "min_basket",
    "categories",
    "valid_days",
    "tier_points",
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
    "requires_activation",
)
# the domain's names of the fields a refusal points at, as the form names them (so the
# message is shown next to its field)
FORM_FIELD_OF = {
    "limits.per_member": "limit_per_member",
    "limits.per_period": "limit_per_period",
    "limits.period": "limit_period",
    "limits.total": "limit_total",
    "audience.segments": "audience_segments",
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


def coupon_text(coupon: CouponView | None, currency: str) -> str:
    """A coupon's terms in words: "10 % off from 500,00 ₽ on dairy"."""
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
        text += str(tr(" on %(categories)s", categories=", ".join(coupon["categories"])))
    return text


def _int(form: Form | dict[str, str], name: str, *, required: bool = False) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        if required:
            raise ValidationError(tr("Fill in %(field)s.", field=name), field=name)
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise ValidationError(tr("%(field)s must be a whole number.", field=name), field=name)
    return int(raw)


def _list(form: Form | dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated field: its non-empty items, once each, in order (at most 100)."""
    items = (x.strip() for x in form.get(name, "").split(","))
    return tuple(dict.fromkeys(x for x in items if x))[:100]


def _local_time(form: Form | dict[str, str], name: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` field read in the program's time zone (empty: none)."""
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=zone)
    except ValueError:
        raise ValidationError(tr("Give a date and time."), field=name) from None


def _tier_points(form: Form | dict[str, str]) -> dict[str, int]:
    """``gold=80, silver=90``: the price for each tier named."""
    prices: dict[str, int] = {}
    for item in _list(form, "tier_points"):
        tier, _, raw = item.partition("=")
        tier, raw = tier.strip(), raw.strip()
        if not tier or not raw.isdigit() or len(raw) > 10 or int(raw) <= 0:
            raise ValidationError(
                tr("Write prices by tier as tier=points, separated by commas."),
                field="tier_points",
            )
        prices[tier] = int(raw)
    return prices


def _audience(form: Form | dict[str, str]) -> Audience:
    members: list[int] = []
    for raw in _list(form, "audience_members"):
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationError(
                tr("Members are listed by their ids, separated by commas."),
                field="audience_members",
            )
        members.append(int(raw))
    return Audience(_list(form, "audience_tiers"), tuple(members), _list(form, "audience_segments"))


def _limits(form: Form | dict[str, str]) -> Limits:
    period_raw = form.get("limit_period", "").strip()
    if period_raw and period_raw not in {str(p) for p in Period}:
        raise ValidationError(tr("Choose a period."), field="limit_period")
    return Limits(
        _int(form, "limit_per_member"),
        _int(form, "limit_per_period"),
        Period(period_raw) if period_raw else None,
        _int(form, "limit_total"),
    )


def reward_from_form(form: dict[str, str], program: Program) -> Reward:
    """The console's new-reward form read into the domain's reward (every field checked
    here; the domain's own checks follow in its constructors)."""
    kind_raw = form.get("kind", "")
    if kind_raw not in KINDS:
        raise ValidationError(tr("Choose a kind."), field="kind")
    kind = RewardKind(kind_raw)
    code = form.get("code", "").strip()
    if not code or len(code) > 64 or not all(c.isalnum() or c in "_.-" for c in code):
        raise ValidationError(
            tr("The code is 1-64 letters, digits, '_', '.' or '-'."), field="code"
        )
    names = Text(form.get("name_en", "").strip(), form.get("name_ru", "").strip())
    if not names.en or not names.ru or len(names.en) > 200 or len(names.ru) > 200:
        raise ValidationError(tr("Give the name in both languages."), field="name_en")
    description = Text(
        form.get("description_en", "").strip()[:2000], form.get("description_ru", "").strip()[:2000]
    )
    points = _int(form, "points", required=True)
    if not points:
        raise ValidationError(tr("The price is at least 1 point."), field="points")
    coupon = None
    if kind in (RewardKind.COUPON, RewardKind.VOUCHER):
        coupon_kind = CouponKind.FIXED if kind == RewardKind.VOUCHER else CouponKind.PERCENT
        if form.get("coupon_kind") == "fixed":
            coupon_kind = CouponKind.FIXED
        raw_amount = form.get("coupon_amount", "").strip()
        if coupon_kind == CouponKind.PERCENT:
            amount = _int(form, "coupon_amount", required=True) or 0
        else:
            amount = parse_money(raw_amount or "0", program.currency, field="coupon_amount")
        minimum = parse_money(
            form.get("min_basket", "").strip() or "0", program.currency, field="min_basket"
        )
        categories = tuple(c.strip() for c in form.get("categories", "").split(",") if c.strip())[
            :100
        ]
        coupon = CouponTerms(coupon_kind, amount, minimum, categories)
    valid_days = _int(form, "valid_days")
    zone = ZoneInfo(program.timezone)
    starts_at, ends_at = _local_time(form, "starts_at", zone), _local_time(form, "ends_at", zone)
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError(tr("The reward must end after it starts."), field="ends_at")
    early_tier = form.get("early_tier", "").strip()
    early_opens = _local_time(form, "early_opens_at", zone)
    if bool(early_tier) != (early_opens is not None):
        raise ValidationError(
            tr("Early access needs both the tier and the date."), field="early_tier"
        )
    return Reward(
        id=0,
        program_id=program.id,
        code=code,
        kind=kind,
        name=names,
        description=description,
        points=points,
        coupon=coupon,
        stock=_int(form, "stock"),
        tier_points=_tier_points(form),
        limits=_limits(form),
        starts_at=starts_at,
        ends_at=ends_at,
        early=EarlyAccess(early_tier, early_opens) if early_opens is not None else None,
        audience=_audience(form),
        validity=Validity(timedelta(0), valid_days or None),
        requires_activation=form.get("requires_activation") == "1",
    )


def _field_of(error: KopilkaError | None) -> str | None:
    field = error.details.get("field") if error is not None else None
    return str(field) if field else None


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
        return console.page(
            op,
            "admin_rewards.html",
            status,
            rewards=[
                {
                    **r,
                    "kind_word": kind_word(r["kind"]),
                    "title": name_of(r["name"]),
                    "terms": coupon_text(r["coupon"], op.program.currency),
                }
                for r in rows
            ],
            kinds=KINDS,
            settings=settings,
            error=error,
            bad_field=FORM_FIELD_OF.get(field, field) if (field := _field_of(error)) else None,
            form={k: (form or {}).get(k, "") for k in FORM_FIELDS},
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
            value = _int(form, "stock")
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
        return [
            {
                **i,
                "kind_word": kind_word(i["kind"]),
                "title": name_of(i["name"]),
                "text": name_of(i["description"]) if i["description"]["en"] else "",
                "terms": coupon_text(i["coupon"], program.currency),
                "why_not": str(tr(REASONS[i["reason"]])) if i["reason"] in REASONS else "",
            }
            for i in rewards_svc.visible_catalog(ctx, program, member_id)
        ]

    def browse_page(
        program: Program,
        member_id: int,
        csrf: str,
        status: int = 200,
        error: KopilkaError | None = None,
        notice: str | None = None,
    ) -> Response:
        return page(
            "portal_rewards.html",
            program,
            member_id,
            csrf,
            rewards=items(program, member_id),
            available=balance_view(ctx, program, member_id).available,
            status=status,
            error=error,
            notice=notice,
        )

    @router.get("/rewards")
    def browse(request: Request, done: Annotated[str, Query(max_length=16)] = "") -> Response:
        program, member_id, csrf = signed_in_member(area, ctx, request)
        notice = tr("The offer is activated: the reward can be yours.") if done == "1" else None
        return browse_page(program, member_id, csrf, notice=notice)

    @router.post("/rewards/{reward_id}/activate")
    def activate(request: Request, reward_id: PathId, form: Form) -> Response:
        """The member activates a reward offered as a personal offer (again: no change)."""
        program, member_id, csrf = signed_in_member(area, ctx, request)
        area.check_csrf(request, form)
        offer_id = reward_offer_id(reward_id)
        try:
            offers_svc.activate_offer(
                ctx, program, offers_svc.ActivateOffer(member_id, offer_id, "portal")
            )
        except KopilkaError as e:
            return browse_page(program, member_id, csrf, status_of(e), e)
        return redirect("/portal/rewards?done=1")

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
                    "terms": coupon_text(r["coupon"], program.currency),
                    "qr": qr_svg(r["code"]) if r["status"] == "issued" else None,
                }
                for r in rows
            ],
            notice=tr("Done: the reward is yours.") if done == "1" else None,
        )

    return router
