"""The admin console's shell: its session area, sign-in and sign-out, the program
overview and the verify report. Member and rules pages live in their own modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from kopilka.app import Kopilka
from kopilka.domain.errors import KopilkaError
from kopilka.services import ledger_reports as reports_svc
from kopilka.services import rules as rules_svc
from kopilka.services.apikeys import Permission, authenticate, list_keys
from kopilka.web import i18n, words
from kopilka.web.guard import CONSOLE_ROLES, Area, Operator, new_idempotency_key, operator
from kopilka.web.i18n import tr
from kopilka.web.render import RENDERER, Form, WebRoute, Word, problem_text, redirect

# a check that took this long asks to be confirmed before it runs again from the console
HEAVY_CHECK_MS = 2000


class Console:
    """What every console page needs: the services, the session area, a renderer."""

    def __init__(self, kopilka: Kopilka) -> None:
        self.ctx = kopilka.services
        self.settings = kopilka.settings
        self.area = Area(self.ctx, kopilka.settings, "admin")

    def operator(self, request: Request) -> Operator:
        return operator(self.area, request)

    def actor(self, op: Operator) -> Callable[[object], str]:
        """Names an actor as a person reads it (an API key by its name and role, revoked
        keys included: the records outlive them). The keys are read on the first call,
        so a page that names nobody reads none."""
        keys: dict[int, tuple[str, str]] = {}
        loaded: list[bool] = []

        def named(code: object) -> str:
            if not loaded and str(code).startswith("apikey:"):
                keys.update(
                    (k.id, (k.name, str(k.role))) for k in list_keys(self.ctx, op.program.code)
                )
                loaded.append(True)
            return words.actor(code, keys)

        return named

    def page(self, op: Operator, name: str, status: int = 200, **context: Any) -> Response:
        return RENDERER.page(
            name,
            status,
            area="admin",
            op=op,
            csrf=op.csrf,
            program=op.program,
            Permission=Permission,
            new_key=new_idempotency_key,
            words=words,
            **{"actor": self.actor(op), **context},
        )


def active_version(versions: Sequence[Mapping[str, Any]], now: datetime) -> int | None:
    """The version in force now: of those whose effective time has come, the one that
    took effect last (the latest published among equals), as the purchase path reads it; a
    backdated version does not displace one in force after it."""
    due = [
        (datetime.fromisoformat(v["effective_at"]), v["version"])
        for v in versions
        if datetime.fromisoformat(v["effective_at"]) <= now
    ]
    return max(due)[1] if due else None


def console_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    area, ctx = console.area, console.ctx

    @router.get("/sign-in")
    def sign_in_form(request: Request) -> Response:
        return area.sign_in_page(request)

    @router.post("/sign-in")
    def sign_in(request: Request, form: Form) -> Response:
        area.check_csrf(request, form)
        wait = area.sign_in_wait(request)
        if wait is not None:
            return area.sign_in_page(request, retry_after=wait)
        try:
            key = authenticate(ctx, form.get("api_key"))
        except KopilkaError as e:
            area.sign_in_failed(request)
            return area.sign_in_page(request, 401, problem_text(e.code, e.message))
        if key.role not in CONSOLE_ROLES:
            return area.sign_in_page(
                request,
                403,
                tr(
                    "A %(role)s key cannot sign in to the console; "
                    "use a support, marketer, analyst or admin key.",
                    role=key.role,
                ),
            )
        response = redirect("/admin")
        area.store(response, area.start({"key_id": key.id, "role": str(key.role)}), request)
        return response

    @router.post("/sign-out")
    def sign_out(request: Request, form: Form) -> Response:
        area.check_csrf(request, form)
        response = redirect(area.sign_in)
        area.forget(response)
        return response

    @router.get("")
    def overview(request: Request) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        versions = rules_svc.list_versions(ctx, op.program)
        # the totals job's snapshot (one row), not a sum over every member per request
        snapshot = reports_svc.overview_totals(ctx, op.program)
        return console.page(
            op,
            "admin_overview.html",
            totals=snapshot["totals"],
            snapshot=snapshot,
            active_version=active_version(versions, ctx.now()),
            versions=len(versions),
            nav="overview",
        )

    def verify_page(op: Operator, *, confirm: bool = False, notice: str | None = None) -> Response:
        report = reports_svc.latest_verify_report(ctx, op.program)
        checks = (
            [
                {**c, "description": words.check(c["name"], c["description"])}
                for c in report["checks"]
            ]
            if report
            else []
        )
        ago = i18n.ago(ctx.now() - datetime.fromisoformat(report["checked_at"])) if report else None
        return console.page(
            op,
            "admin_verify.html",
            report=report,
            ago=ago,
            checks=checks,
            totals=words.totals(dict(report["totals"])) if report else [],
            heavy=bool(report and report["duration_ms"] >= HEAVY_CHECK_MS),
            seconds=round(report["duration_ms"] / 1000, 1) if report else 0,
            confirm=confirm,
            notice=notice,
            nav="verify",
        )

    @router.get("/verify")
    def verify(request: Request, done: Word = "") -> Response:
        op = console.operator(request)
        op.require(Permission.LEDGER_VERIFY)
        # the latest stored report: recomputing the ledger per request grows with it
        notice = tr("The ledger was checked just now.") if done == "checked" else None
        return verify_page(op, notice=notice)

    @router.post("/verify/check")
    def check_now(request: Request, form: Form) -> Response:
        op = console.operator(request)
        area.check_csrf(request, form)
        op.require(Permission.JOBS_RUN)
        latest = reports_svc.latest_verify_report(ctx, op.program)
        heavy = latest is not None and latest["duration_ms"] >= HEAVY_CHECK_MS
        if heavy and form.get("confirmed") != "yes":
            return verify_page(op, confirm=True)
        reports_svc.check_ledger(ctx, op.program, op.key.actor)
        return redirect("/admin/verify?done=checked")

    return router
