"""The web UI's one router: the landing page (``/``), the admin console (``/admin``), the
member portal (``/portal``), their stylesheet and icons (``/web-static``, ``/favicon.ico``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from kopilka.app import Kopilka
from kopilka.web import i18n
from kopilka.web.analytics_pages import analytics_router
from kopilka.web.audit_pages import audit_router
from kopilka.web.console import Console, console_router
from kopilka.web.i18n import tr
from kopilka.web.jobs_pages import jobs_router
from kopilka.web.member_list_pages import member_list_router
from kopilka.web.members_pages import members_router
from kopilka.web.notification_pages import notifications_router
from kopilka.web.offer_pages import offer_router
from kopilka.web.portal import portal_router
from kopilka.web.receipt_list_pages import receipt_list_router
from kopilka.web.receipt_pages import receipt_router
from kopilka.web.reminder_pages import reminders_router
from kopilka.web.render import RENDERER, SECURITY_HEADERS, Form, Refused, WebRoute, redirect
from kopilka.web.reward_edit_pages import reward_edit_router
from kopilka.web.rewards_pages import rewards_console_router, rewards_portal_router
from kopilka.web.rule_form_pages import rule_form_router
from kopilka.web.rules_pages import RulesPage, rules_router
from kopilka.web.tier_pages import tier_router
from kopilka.web.unsubscribe_pages import unsubscribe_router
from kopilka.web.webhooks_pages import webhooks_router

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",  # favicon.svg drawn at 16, 32 and 48 pixels (PNG images in an ICO)
}


def static_router() -> APIRouter:
    """The static files, read once: only the files shipped in ``web/static`` are served."""
    files = {
        p.name: (p.read_bytes(), MEDIA_TYPES[p.suffix])
        for p in STATIC.iterdir()
        if p.suffix in MEDIA_TYPES
    }
    router = APIRouter(include_in_schema=False)

    @router.get("/web-static/{name}")
    def static(name: Annotated[str, PathParam(max_length=100)]) -> Response:
        if name not in files:
            return PlainTextResponse("not found", status_code=404)
        body, media_type = files[name]
        headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
        return Response(body, media_type=media_type, headers=headers)

    @router.get("/favicon.ico")
    def favicon() -> Response:
        # browsers ask for it at the root whatever the page says (and so do the API docs)
        return static("favicon.ico")

    return router


def local_address(target: str) -> str:
    """Where the switch returns: a path on this site, never another site's address."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target) or len(target) > 2000:
        return "/"
    return target


def create_web_router(kopilka: Kopilka) -> APIRouter:
    """Everything the web UI serves, for one wired Kopilka; mount with ``include_router``."""
    i18n.set_default(kopilka.settings.default_language)
    console = Console(kopilka)
    router = APIRouter(include_in_schema=False, route_class=WebRoute)
    router.include_router(console_router(console))
    router.include_router(member_list_router(console))
    router.include_router(members_router(console))
    router.include_router(receipt_list_router(console))
    router.include_router(receipt_router(console))
    rules_page = RulesPage(console)
    # the form's routes first: /admin/rules/form is not the version "form"
    router.include_router(rule_form_router(console, rules_page))
    router.include_router(rules_router(console, rules_page))
    router.include_router(tier_router(console))
    router.include_router(audit_router(console))
    router.include_router(jobs_router(console))
    router.include_router(reminders_router(console))
    router.include_router(notifications_router(console))
    router.include_router(rewards_console_router(console))
    router.include_router(reward_edit_router(console))
    router.include_router(rewards_portal_router(kopilka))
    router.include_router(offer_router(console))
    router.include_router(analytics_router(console))
    router.include_router(webhooks_router(console))
    router.include_router(portal_router(kopilka))
    router.include_router(unsubscribe_router(kopilka))
    router.include_router(static_router())

    @router.get("/")
    def landing() -> Response:
        return RENDERER.page("landing.html", area="home")

    @router.post("/language")
    def language(request: Request, form: Form) -> Response:
        """The language switch: remembers the choice in a cookie (a year) and returns to
        the page it was on. No session or CSRF token: a choice of language is no secret
        and changes nothing but how the visitor's own pages read."""
        lang = form.get("lang", "")
        if lang not in i18n.SUPPORTED:
            raise Refused(422, tr("This language is not available."))
        response = redirect(local_address(form.get("next", "")))
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=i18n.COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    @router.get("/admin/")
    def admin_slash() -> Response:
        return redirect("/admin")

    @router.get("/portal/")
    def portal_slash() -> Response:
        return redirect("/portal")

    # last: any other address under /admin or /portal is a page of its own, with the way
    # back, rather than the API's problem document (a mistyped or stale bookmark)
    @router.get("/admin/{rest:path}")
    @router.get("/portal/{rest:path}")
    def no_such_page(rest: Annotated[str, PathParam(max_length=2000)]) -> Response:
        raise Refused(404, tr("There is no such page."))

    return router
