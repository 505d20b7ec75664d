"""The console's rule form (``/admin/rules/form``): add a rate, multiplier or bonus rule
to the draft, or edit one, with fields instead of the document's text.

The draft travels with the form (a hidden field), as it travels in the editor: opening
the form from the editor's buttons carries the editor's text; opening it from the list of
rules in force starts from the document in force. Applying the form puts the rule into
the draft (:func:`kopilka.services.rule_drafts.put_rule`) and shows the rules page with
the new draft in the editor, to preview and publish. Nothing is stored until then, and a
form with errors shows them by its fields and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi import Query as QueryParam

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.services import rule_drafts
from kopilka.services import rules as rules_svc
from kopilka.web.console import Console
from kopilka.web.guard import Operator
from kopilka.web.i18n import tr
from kopilka.web.render import Form, WebRoute, status_of
from kopilka.web.rule_form import (
    KIND_TITLES,
    KINDS,
    FormErrors,
    fields_of,
    layout,
    rule_of,
)
from kopilka.web.rules_pages import RulesPage

RuleParam = QueryParam(None, max_length=64)
KindParam = QueryParam(None, max_length=16)


def starter(op: Operator) -> str:
    """The draft of a program with no rules yet: an empty document in its currency."""
    return f"schema_version: 1\ncurrency: {op.program.currency}\nrules: []\n"


def rule_form_router(console: Console, rules_page: RulesPage) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def form_page(
        op: Operator,
        status: int = 200,
        *,
        document: str,
        fmt: str,
        fields: Mapping[str, str],
        original: str = "",
        errors: Mapping[str, str] | None = None,
        error: KopilkaError | None = None,
    ) -> Response:
        kind = fields.get("kind", "rate")
        return console.page(
            op,
            "admin_rule_form.html",
            status,
            document=document,
            fmt=fmt,
            fields=fields,
            original=original,
            kind=kind if kind in KINDS else "rate",
            kind_title=tr(KIND_TITLES.get(kind, KIND_TITLES["rate"])),
            errors=errors or {},
            error=error,
            groups=layout(kind, op.program.currency, op.program.timezone),
            stacking=fields.get("stacking", "stackable"),
            nav="rules",
        )

    def opened(
        op: Operator, document: str, fmt: str, rule: str | None, kind: str | None
    ) -> Response:
        """The form for ``rule`` of the draft, or for a new rule of ``kind``."""
        if fmt not in rules_svc.FORMATS:
            raise ValidationError(tr("format must be yaml or json"), field="format")
        if not document.strip():  # the program's first rules
            document, fmt = starter(op), "yaml"
        if rule:
            raw = rule_drafts.find_rule(document, fmt, rule)
            if raw is None:
                raise ValidationError(
                    tr("The draft has no rule %(rule)s.", rule=rule), field="rule"
                )
            fields = fields_of(raw)
            if fields is None:
                return console.page(
                    op,
                    "admin_rule_form.html",
                    200,
                    unsupported=rule,
                    document=document,
                    fmt=fmt,
                    nav="rules",
                )
            return form_page(op, document=document, fmt=fmt, fields=fields, original=rule)
        if kind not in KINDS:
            raise ValidationError(tr("Choose rate, multiplier or bonus."), field="kind")
        rule_drafts.draft_rules(document, fmt)  # a draft the form cannot read is said now
        fresh = {"kind": kind, "priority": "100", "stacking": "stackable"}
        return form_page(op, document=document, fmt=fmt, fields=fresh)

    @router.get("/rules/form")
    def form_from_rules_in_force(
        request: Request, rule: str | None = RuleParam, kind: str | None = KindParam
    ) -> Response:
        op = console.operator(request)
        op.require_publish()
        in_force = rules_svc.version_in_force(ctx, op.program)
        document = in_force.get("document", "") if in_force else starter(op)
        fmt = in_force["format"] if in_force else "yaml"
        try:
            return opened(op, document, fmt, rule, kind)
        except KopilkaError as e:
            return rules_page(op, status_of(e), error=e, failed="publish")

    @router.post("/rules/form")
    def form_from_draft(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        document, fmt = form.get("document", ""), form.get("format", "yaml")
        try:
            kind = form.get("kind")
            rule = form.get("rule") if kind == "edit" else None
            return opened(op, document, fmt, rule or None, kind)
        except KopilkaError as e:
            return rules_page(op, status_of(e), error=e, failed="publish", form=form)

    @router.post("/rules/form/apply")
    def apply(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require_publish()
        document, fmt = form.get("document", ""), form.get("format", "yaml")
        original = form.get("original", "")
        if fmt not in rules_svc.FORMATS:
            raise ValidationError(tr("format must be yaml or json"), field="format")
        try:
            rule = rule_of(form, op.program.currency)
        except FormErrors as e:
            return form_page(
                op, 422, document=document, fmt=fmt, fields=form, original=original, errors=e.errors
            )
        try:
            draft = rule_drafts.put_rule(
                rule_drafts.PutRule(document, fmt, rule, replacing=original or None)
            )
        except ValidationError as e:
            errors = (
                {"id": tr("The draft already has a rule with this id.")}
                if e.details.get("field") == "id"
                else None
            )
            return form_page(
                op,
                422,
                document=document,
                fmt=fmt,
                fields=form,
                original=original,
                errors=errors,
                error=None if errors else e,
            )
        notice = (
            tr("Rule %(rule)s is changed in the draft: preview it, then publish.", rule=rule["id"])
            if original
            else tr(
                "Rule %(rule)s is added to the draft: preview it, then publish.", rule=rule["id"]
            )
        )
        return rules_page(op, form={"document": draft, "format": fmt}, notice=notice)

    return router
