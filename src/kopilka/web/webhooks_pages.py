"""The console's webhooks pages: the program's subscriptions (add one, its secret shown
once; remove one after a confirmation), and each subscription's delivery log with
redelivery of one event or of a time range, each confirmed before it is done."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.services import outbox
from kopilka.services import webhooks as webhook_svc
from kopilka.services.apikeys import Permission
from kopilka.web.console import Console
from kopilka.web.guard import Operator
from kopilka.web.i18n import N_, ngettext, number, tr
from kopilka.web.render import Form, PathId, WebRoute, Word, redirect, status_of

LOG_SHOWN = 100
Count = Annotated[int, Query(ge=0, le=10**9)]
STATUSES = {"pending": N_("pending"), "delivered": N_("delivered"), "dead": N_("dead letter")}
NOTICES = {"removed": N_("The subscription was removed; its log stays.")}


def _local_instant(raw: str | None, field: str, zone: str) -> datetime | None:
    """A ``datetime-local`` field's value, read in the program's zone (empty: none)."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            tr("not a date and time: %(value)s", value=text), field=field
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(zone))
    return at.astimezone(UTC)


def webhooks_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def list_page(
        op: Operator,
        *,
        status: int = 200,
        error: KopilkaError | None = None,
        added: webhook_svc.SubscriptionAdded | None = None,
        form: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        return console.page(
            op,
            "admin_webhooks.html",
            status,
            subscriptions=webhook_svc.list_subscriptions(ctx, op.program),
            types=sorted(outbox.PAYLOADS),
            added=added,
            error=error,
            form=form or {},
            notice=notice,
            nav="webhooks",
        )

    def log_page(
        op: Operator,
        subscription_id: int,
        *,
        status: int = 200,
        error: KopilkaError | None = None,
        confirm: dict[str, object] | None = None,
        notice: str | None = None,
    ) -> Response:
        sub = webhook_svc.get_subscription(ctx, op.program, subscription_id)
        log = webhook_svc.delivery_log(ctx, op.program, subscription_id, LOG_SHOWN)
        return console.page(
            op,
            "admin_webhook.html",
            status,
            sub=sub,
            log=[
                {**row, "status_text": tr(STATUSES.get(row["status"], row["status"]))}
                for row in log
            ],
            error=error,
            confirm=confirm,
            notice=notice,
            nav="webhooks",
        )

    @router.get("/webhooks")
    def webhooks(request: Request, done: Word = "") -> Response:
        op = console.operator(request)
        op.require(Permission.WEBHOOKS_MANAGE)
        return list_page(op, notice=tr(NOTICES[done]) if done in NOTICES else None)

    @router.post("/webhooks")
    def add(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.WEBHOOKS_MANAGE)
        types = tuple(t for t in sorted(outbox.PAYLOADS) if form.get(f"type_{t}") == "on")
        try:
            added = webhook_svc.add_subscription(
                ctx, op.program, webhook_svc.AddSubscription((form.get("url") or "").strip(), types)
            )
        except KopilkaError as e:
            return list_page(op, status=status_of(e), error=e, form=form)
        # the secret is shown on this answer only: never in an address, never again
        return list_page(op, status=201, added=added)

    @router.get("/webhooks/{subscription_id}")
    def subscription(
        request: Request, subscription_id: PathId, done: Word = "", n: Count = 0
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.WEBHOOKS_MANAGE)
        notice = (
            ngettext(
                "%(n)s delivery is due again: the worker sends it on its next run.",
                "%(n)s deliveries are due again: the worker sends them on its next run.",
                n,
            )
            % {"n": number(n)}
            if done == "redelivered"
            else None
        )
        return log_page(op, subscription_id, notice=notice)

    @router.post("/webhooks/{subscription_id}/redeliver")
    def redeliver(request: Request, subscription_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.WEBHOOKS_MANAGE)
        event_id = (form.get("event_id") or "").strip() or None
        try:
            since = _local_instant(form.get("since"), "since", op.program.timezone)
            until = _local_instant(form.get("until"), "until", op.program.timezone)
            if event_id is None and since is None:
                raise ValidationError(
                    tr("name an event or the start of a time range"), field="since"
                )
            if form.get("confirmed") != "yes":
                webhook_svc.get_subscription(ctx, op.program, subscription_id)  # 404 first
                if event_id is not None:
                    summary = tr("Send event %(event)s again to this subscription?", event=event_id)
                else:
                    summary = tr(
                        "Send again every event created from %(since)s up to %(until)s "
                        "to this subscription?",
                        since=(form.get("since") or "").replace("T", " "),
                        until=(form.get("until") or "").replace("T", " ") or tr("now"),
                    )
                carried = {
                    k: v for k, v in form.items() if k in ("event_id", "since", "until") and v
                }
                return log_page(
                    op,
                    subscription_id,
                    confirm={"summary": summary, "carried": carried, "remove": False},
                )
            n = webhook_svc.redeliver(
                ctx, op.program, subscription_id, event_id=event_id, since=since, until=until
            )
        except KopilkaError as e:
            return log_page(op, subscription_id, status=status_of(e), error=e)
        return redirect(f"/admin/webhooks/{subscription_id}?done=redelivered&n={n}")

    @router.post("/webhooks/{subscription_id}/remove")
    def remove(request: Request, subscription_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.WEBHOOKS_MANAGE)
        if form.get("confirmed") != "yes":
            return log_page(
                op,
                subscription_id,
                confirm={
                    "summary": tr("Stop sending events to this subscription?"),
                    "carried": {},
                    "remove": True,
                },
            )
        webhook_svc.remove_subscription(ctx, op.program, subscription_id)
        return redirect("/admin/webhooks?done=removed")

    return router
