"""The console's receipt page: a purchase's lines, points by line and rule, payment with
points, the returns made so far, and the return of all of it or of chosen lines and
quantities by support, confirmed on a page of its own and given a reason (the member
card's reason fields and labels, ``members_pages``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.services import back_office
from kopilka.services import receipt_list as list_svc
from kopilka.services.apikeys import Permission
from kopilka.services.purchases import (
    ProcessReturn,
    PurchaseView,
    ReturnLine,
    get_purchase,
    preview_return,
)
from kopilka.web.console import Console
from kopilka.web.guard import Operator, form_key
from kopilka.web.i18n import N_, tr
from kopilka.web.members_pages import REASON_LABELS, parse_reason_fields, reason_label
from kopilka.web.render import Form, PathId, ReceiptRef, WebRoute, Word, redirect, status_of

NOTICES = {"returned": N_("The return is recorded.")}
# a quantity as people type it: digits, one decimal mark (a point or a comma)
_QUANTITY = re.compile(r"^\d{1,9}([.,]\d{1,6})?$")


def left_to_return(purchase: PurchaseView) -> dict[str, Decimal]:
    """Each line's quantity not yet returned."""
    returned: dict[str, Decimal] = {}
    for r in purchase["returns"]:
        for x in r["lines"]:
            returned[x["line_id"]] = returned.get(x["line_id"], Decimal(0)) + Decimal(x["quantity"])
    return {
        ln["line_id"]: Decimal(ln["quantity"]) - returned.get(ln["line_id"], Decimal(0))
        for ln in purchase["lines"]
    }


def _quantity(raw: str, line_id: str, left: Decimal) -> Decimal | None:
    text = raw.strip()
    if not text:
        return None
    if not _QUANTITY.match(text):
        raise ValidationError(
            tr("line %(line)s: a quantity is a number such as 1 or 0.5", line=line_id),
            field=f"qty_{line_id}",
        )
    try:
        q = Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValidationError(tr("a quantity is a number"), field=f"qty_{line_id}") from None
    if q == 0:
        return None
    if q > left:
        raise ValidationError(
            tr(
                "line %(line)s: %(asked)s asked, %(left)s left to return",
                line=line_id,
                asked=text,
                left=f"{left.normalize():f}",
            ),
            field=f"qty_{line_id}",
        )
    return q


def chosen_lines(purchase: PurchaseView, form: Mapping[str, str]) -> tuple[ReturnLine, ...] | None:
    """What the form returns: None for all that is left (``what=all``), else the lines
    whose quantity was filled in, each checked against what is left of it."""
    left = left_to_return(purchase)
    if not any(q > 0 for q in left.values()):
        raise ValidationError(tr("the receipt has been returned in full already"), field="what")
    what = form.get("what", "lines")
    if what == "all":
        return None
    if what != "lines":
        raise ValidationError(tr("return all of it or the chosen lines"), field="what")
    chosen = []
    for ln in purchase["lines"]:
        q = _quantity(form.get(f"qty_{ln['line_id']}", ""), ln["line_id"], left[ln["line_id"]])
        if q is not None:
            chosen.append(ReturnLine(ln["line_id"], q))
    if not chosen:
        raise ValidationError(tr("give the quantity to return of at least one line"), field="what")
    return tuple(chosen)


def return_id_for(key: str) -> str:
    """The return's id for a confirmed form: derived from its (caller-scoped) idempotency
    key, so a second submit of the same form names the same return and replays it."""
    return "web-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def receipt_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def load(op: Operator, purchase_id: int) -> PurchaseView:
        receipt_id = list_svc.receipt_id_of(ctx, op.program, purchase_id, scope=op.key.scope)
        return get_purchase(ctx, op.program, receipt_id, scope=op.key.scope)

    def receipt_page(
        op: Operator,
        purchase_id: int,
        *,
        status: int = 200,
        error: KopilkaError | None = None,
        form: Mapping[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        purchase = load(op, purchase_id)
        left = left_to_return(purchase)
        reasons = list_svc.return_reasons(
            ctx,
            op.program,
            purchase["receipt_id"],
            purchase["member_id"],
            [r["return_id"] for r in purchase["returns"]],
        )
        return console.page(
            op,
            "admin_purchase.html",
            status,
            purchase=purchase,
            purchase_id=purchase_id,
            reasons_of=reasons,
            reason_labels={c.value: tr(label) for c, label in REASON_LABELS.items()},
            left={k: f"{v.normalize():f}" for k, v in left.items()},
            can_return=op.can(Permission.PURCHASES_RETURN) and any(v > 0 for v in left.values()),
            reasons=[(c.value, tr(label)) for c, label in REASON_LABELS.items()],
            error=error,
            form=form or {},
            notice=notice,
            nav="receipts",
        )

    @router.get("/receipts/{purchase_id}")
    def receipt(request: Request, purchase_id: PathId, done: Word = "") -> Response:
        op = console.operator(request)
        op.require(Permission.PURCHASES_READ)
        notice = tr(NOTICES[done]) if done in NOTICES else None
        return receipt_page(op, purchase_id, notice=notice)

    # the receipt page's former address (links in members' pages and bookmarks)
    @router.get("/purchases")
    def by_receipt_id(request: Request, receipt_id: ReceiptRef = "") -> Response:
        op = console.operator(request)
        op.require(Permission.PURCHASES_READ)
        found = list_svc.purchase_id_of(ctx, op.program, receipt_id, scope=op.key.scope)
        return redirect(f"/admin/receipts/{found}")

    def command(
        op: Operator, purchase: PurchaseView, form: Mapping[str, str], return_id: str
    ) -> ProcessReturn:
        return ProcessReturn(
            purchase["receipt_id"],
            return_id,
            chosen_lines(purchase, form),
            reason=parse_reason_fields(form, for_member=True),
            actor=op.key.actor,
        )

    @router.post("/receipts/{purchase_id}/return")
    def confirm_return(request: Request, purchase_id: PathId, form: Form) -> Response:
        """The confirmation step: what the return would do, nothing written yet."""
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.PURCHASES_RETURN)
        purchase = load(op, purchase_id)
        try:
            cmd = command(op, purchase, form, "preview")
            preview = preview_return(ctx, op.program, cmd, scope=op.key.scope)
        except KopilkaError as e:
            return receipt_page(op, purchase_id, status=status_of(e), error=e, form=form)
        assert cmd.reason is not None
        return console.page(
            op,
            "admin_receipt_return.html",
            purchase=purchase,
            purchase_id=purchase_id,
            preview=preview,
            whole=cmd.lines is None,
            reason_label=reason_label(cmd.reason.code),
            reason=cmd.reason,
            carried={
                k: v
                for k, v in form.items()
                if k in ("what", "reason_code", "reason_note", "member_text")
                or (k.startswith("qty_") and v.strip())
            },
            nav="receipts",
        )

    @router.post("/receipts/{purchase_id}/return/confirm")
    def do_return(request: Request, purchase_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.PURCHASES_RETURN)
        purchase = load(op, purchase_id)
        try:
            key = form_key(form, op.caller)
            return_id = return_id_for(key)
            if any(r["return_id"] == return_id for r in purchase["returns"]):
                # the same form submitted again: it was returned once, and is not again
                return redirect(f"/admin/receipts/{purchase_id}?done=returned")
            back_office.return_purchase(
                ctx,
                op.program,
                command(op, purchase, form, return_id),
                key=key,
                member_id=purchase["member_id"],
                scope=op.key.scope,
            )
        except KopilkaError as e:
            return receipt_page(op, purchase_id, status=status_of(e), error=e, form=form)
        return redirect(f"/admin/receipts/{purchase_id}?done=returned")

    return router
