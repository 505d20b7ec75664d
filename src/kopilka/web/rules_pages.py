"""Console pages for marketers: rule-set versions, a version's document, publishing a
new version (errors shown with their line numbers) and previewing a draft on a basket."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.money import to_decimal
from kopilka.domain.program import Program
from kopilka.services import back_office, rule_drafts
from kopilka.services import rule_proposals as proposals_svc
from kopilka.services import rules as rules_svc
from kopilka.services.apikeys import Permission
from kopilka.services.member_lookup import member_ref_of
from kopilka.web.basket_json import parse_basket  # the preview form's JSON basket
from kopilka.web.console import Console, active_version
from kopilka.web.guard import KEY_FIELD, Operator, form_key
from kopilka.web.i18n import N_, tr
from kopilka.web.render import (
    Form,
    PathId,
    PathVersion,
    QueryVersion,
    WebRoute,
    redirect,
    status_of,
)
from kopilka.web.rule_form import KIND_TITLES, KINDS, fields_of
from kopilka.web.tier_summary import summary as tier_summary

SAMPLE_LINES = """  "lines": [
    {"line_id": "1", "sku": "MILK-1L", "quantity": "2", "amount": "180.00",
     "category": "dairy"},
    {"line_id": "2", "sku": "BREAD", "quantity": "1", "amount": "65.50", "category": "bakery"}
  ]"""


def sample_basket(member: Mapping[str, object] | None) -> str:
    """The preview form's first basket: for ``member`` (a real one, so that the first
    preview works), or a placeholder card before the program has any purchase."""
    named = member or {"member": {"card": "CARD-NUMBER"}}
    head = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in named.items())
    return "{\n" + head + ",\n" + SAMPLE_LINES + "\n}"


def parse_effective_at(raw: str | None, program: Program) -> datetime | None:
    """An optional effective time; without an offset it is read in the program's zone."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            tr("effective time must look like 2026-04-01T00:00"), field="effective_at"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(program.timezone))


def parse_basket_json(raw: str | None) -> dict[str, Any]:
    try:
        body = json.loads(raw or "")
    except json.JSONDecodeError as e:
        raise ValidationError(
            tr("the basket is not valid JSON: %(error)s", error=e.msg),
            field="basket",
            errors=[{"line": e.lineno, "path": "basket", "message": e.msg}],
        ) from None
    if not isinstance(body, dict):
        raise ValidationError(tr("the basket must be a JSON object"), field="basket")
    return body


PROPOSAL_STATUSES = {
    "proposed": N_("proposed"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
}


def proposal_status(code: str) -> str:
    """A proposal's status in the page's language."""
    return tr(PROPOSAL_STATUSES[code]) if code in PROPOSAL_STATUSES else code


class RulesPage:
    """The rules page: the rules in force as campaigns, proposals, versions, the draft
    editor (``form``: the draft, else the document in force) and what was last done."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(
        self,
        op: Operator,
        status: int = 200,
        *,
        error: KopilkaError | None = None,
        failed: str = "",
        form: Mapping[str, str] | None = None,
        preview: Mapping[str, Any] | None = None,
        compared: Mapping[str, Any] | None = None,
        notice: str | None = None,
    ) -> Response:
        console, ctx = self.console, self.console.ctx
        versions = rules_svc.list_versions(ctx, op.program)
        in_force = rules_svc.version_in_force(ctx, op.program)
        shown = dict(form or {})
        if form is None and in_force is not None:
            # a draft starts from the version in force
            shown["document"] = in_force.get("document", "")
            shown["format"] = in_force["format"]
        if "basket" not in shown:
            # on a basket of a real member's
            shown["basket"] = sample_basket(rules_svc.sample_member(ctx, op.program))
        campaigns = rules_svc.rule_campaigns(ctx, op.program)
        in_force_rules = {
            str(r.get("id")): r
            for r in (
                rule_drafts.draft_rules(in_force.get("document", ""), in_force["format"])
                if in_force
                else []
            )
        }
        # which rules in force the form can show (the others are edited in the document)
        by_form = {rid for rid, raw in in_force_rules.items() if fields_of(raw) is not None}
        titles = {"running": tr("Running"), "scheduled": tr("Scheduled"), "ended": tr("Ended")}
        by_status = [
            (state, title, [c for c in campaigns if c["status"] == state])
            for state, title in titles.items()
        ]
        try:
            draft_ids = [
                str(r.get("id"))
                for r in rule_drafts.draft_rules(
                    shown.get("document", ""), shown.get("format", "yaml")
                )
            ]
        except KopilkaError:
            draft_ids = []  # a draft that cannot be read: its error is the editor's
        # the draft's tiers beside the editor (or the tiers: section's errors at their lines)
        tiers = tier_summary(
            shown.get("document", ""), shown.get("format", "yaml"), op.program.currency
        )
        return console.page(
            op,
            "admin_rules.html",
            status,
            tiers=tiers,
            by_status=by_status,
            by_form=by_form,
            draft_ids=draft_ids,
            kinds=[(k, tr(KIND_TITLES[k])) for k in KINDS],
            proposals=proposals_svc.latest_proposals(ctx, op.program),
            approval=proposals_svc.approval_required(ctx, op.program),
            proposal_status=proposal_status,
            versions=list(reversed(versions)),
            active_version=active_version(versions, ctx.now()),
            error=error,
            failed=failed,
            form=shown,
            preview=preview,
            compared=compared,
            notice=notice,
            nav="rules",
        )


def rules_router(console: Console, rules_page: RulesPage) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    @router.get("/rules")
    def rules(
        request: Request, published: QueryVersion = None, proposed: QueryVersion = None
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        notice = tr("Version %(version)s is published.", version=published) if published else None
        if proposed:
            notice = tr("Proposal %(id)s is sent: an admin approves or rejects it.", id=proposed)
        return rules_page(op, notice=notice)

    @router.get("/rules/diff")
    def diff(request: Request, a: QueryVersion = None, b: QueryVersion = None) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        versions = rules_svc.list_versions(ctx, op.program)
        if not versions:
            return redirect("/admin/rules")
        # without both, the latest version against the one before it
        newest = versions[-1]["version"]
        b = b or (a + 1 if a and a < newest else newest)
        a = a or max(b - 1, 1)
        found = rules_svc.diff_versions(ctx, op.program, a, b)
        numbers = [v["version"] for v in reversed(versions)]
        return console.page(
            op, "admin_rules_diff.html", diff=found, numbers=numbers, a=a, b=b, nav="rules"
        )

    @router.get("/rules/{version}")
    def version(request: Request, version: PathVersion) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        found = rules_svc.get_version(ctx, op.program, version)
        return console.page(op, "admin_rules_version.html", version=found, nav="rules")

    @router.post("/rules/publish")
    def publish(request: Request, form: Form) -> Response:
        """Publishing is confirmed: without ``confirmed`` the draft is checked and the
        confirmation (version, effective time, changes against the version in force) is
        shown, with the same form key; with it, the draft is published, or proposed
        when the program asks that a marketer's rules be approved."""
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        program = op.program
        document, fmt = form.get("document", ""), form.get("format", "yaml")
        backdate = bool(form.get("backdate"))
        if backdate:
            op.require(Permission.RULES_BACKDATE)
        proposing = proposals_svc.approval_required(ctx, program) and not op.can(
            Permission.RULES_APPROVE
        )
        try:
            if fmt not in rules_svc.FORMATS:
                raise ValidationError(tr("format must be yaml or json"), field="format")
            key = form_key(form, op.caller)
            effective_at = parse_effective_at(form.get("effective_at"), program)
            if form.get("confirmed") != "yes":
                check = rules_svc.check_draft(
                    ctx, program, document, fmt=fmt, effective_at=effective_at, backdate=backdate
                )
                return console.page(
                    op,
                    "admin_rules_confirm.html",
                    check=check,
                    form=form,
                    form_key=form.get(KEY_FIELD, ""),
                    proposing=proposing,
                    nav="rules",
                )
            if proposing:
                cmd = proposals_svc.ProposeRules(
                    document,
                    rules_svc.RulesFormat(fmt),
                    effective_at,
                    key=key,
                    actor=op.key.actor,
                )
                proposal = proposals_svc.propose(ctx, program, cmd)
                return redirect(f"/admin/rules?proposed={proposal['id']}")
            confirmed = form.get("version", "")
            result = back_office.publish_rules(
                ctx,
                program,
                document,
                fmt=fmt,
                effective_at=effective_at,
                backdate=backdate,
                key=key,
                actor=op.key.actor,
                expected_version=int(confirmed) if confirmed.isdigit() else None,
            )
        except KopilkaError as e:
            return rules_page(op, status_of(e), error=e, failed="publish", form=form)
        return redirect(f"/admin/rules?published={int(result['version'])}")

    @router.post("/rules/tiers")
    def check_tiers(request: Request, form: Form) -> Response:
        """The editor's "show the draft's tiers": the page again with the draft kept and
        its tiers summarised beside it; nothing is checked beyond them, nothing stored."""
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        return rules_page(op, form=form)

    @router.post("/rules/edit")
    def edit(request: Request, form: Form) -> Response:
        """Back from the confirmation to the editor, the draft kept."""
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        return rules_page(op, form=form)

    @router.get("/rules/proposals/{proposal_id}")
    def proposal(request: Request, proposal_id: PathId) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        found, rows, in_force = proposals_svc.proposal_diff(ctx, op.program, proposal_id)
        return console.page(
            op,
            "admin_rules_proposal.html",
            proposal_status=proposal_status,
            proposal=found,
            rows=rows,
            in_force=in_force,
            nav="rules",
        )

    def decide(request: Request, proposal_id: int, form: dict[str, str], approve: bool) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.RULES_APPROVE)
        try:
            comment = form.get("comment", "").strip() or None
            if not approve and comment is None:
                raise ValidationError(tr("Say why the proposal is rejected."), field="comment")
            if comment is not None and len(comment) > proposals_svc.MAX_COMMENT:
                raise ValidationError(
                    tr("A comment is at most %(num)s characters.", num=proposals_svc.MAX_COMMENT),
                    field="comment",
                )
            cmd = proposals_svc.DecideProposal(
                proposal_id, approve, comment, key=form_key(form, op.caller), actor=op.key.actor
            )
            decided = proposals_svc.decide(ctx, op.program, cmd)
        except KopilkaError as e:
            found, rows, in_force = proposals_svc.proposal_diff(ctx, op.program, proposal_id)
            return console.page(
                op,
                "admin_rules_proposal.html",
                status_of(e),
                proposal_status=proposal_status,
                proposal=found,
                rows=rows,
                in_force=in_force,
                error=e,
                comment=form.get("comment", ""),
                nav="rules",
            )
        if decided["version"] is not None:
            return redirect(f"/admin/rules?published={decided['version']}")
        return redirect(f"/admin/rules/proposals/{proposal_id}")

    @router.post("/rules/proposals/{proposal_id}/approve")
    def approve(request: Request, proposal_id: PathId, form: Form) -> Response:
        return decide(request, proposal_id, form, approve=True)

    @router.post("/rules/proposals/{proposal_id}/reject")
    def reject(request: Request, proposal_id: PathId, form: Form) -> Response:
        return decide(request, proposal_id, form, approve=False)

    @router.post("/rules/preview")
    def preview(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        try:
            body = parse_basket_json(form.get("basket"))
            subject = rules_svc.PreviewPurchase(
                member_ref_of(body), parse_basket(body, op.program, ctx.now())
            )
            fmt = form.get("format", "yaml")
            if fmt not in rules_svc.FORMATS:
                raise ValidationError(tr("format must be yaml or json"), field="format")
            cmd = rules_svc.PreviewRules(
                form.get("document", ""), subject, rules_svc.RulesFormat(fmt)
            )
            result = rules_svc.preview(ctx, op.program, cmd)
        except KopilkaError as e:
            return rules_page(op, status_of(e), error=e, failed="preview", form=form)
        return rules_page(op, preview=result, form=form)

    @router.post("/rules/compare")
    def compare(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        try:
            fmt = form.get("format", "yaml")
            if fmt not in rules_svc.FORMATS:
                raise ValidationError(tr("format must be yaml or json"), field="format")
            cmd = rules_svc.CompareOnReceipts(form.get("document", ""), rules_svc.RulesFormat(fmt))
            result = rules_svc.compare_on_receipts(ctx, op.program, cmd)
        except KopilkaError as e:
            return rules_page(
                op, status_of(e), error=e, failed="preview", form=form
            )  # shown by the preview form
        currency = op.program.currency
        shown = {
            **result,
            "cost_before": to_decimal(result["cost_before_minor"], currency),
            "cost_after": to_decimal(result["cost_after_minor"], currency),
            "point_value_before": to_decimal(result["point_value_before_minor"], currency),
            "point_value_after": to_decimal(result["point_value_after_minor"], currency),
        }
        return rules_page(op, compared=shown, form=form)

    return router
