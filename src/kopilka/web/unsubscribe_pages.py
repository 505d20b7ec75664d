"""One-click unsubscribe, without sign-in: ``GET /portal/unsubscribe/<token>`` says what
the link withdraws and offers the button (a mail scanner that fetches links withdraws
nothing); ``POST`` records the withdrawal (also what mail clients send for RFC 8058's
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``). The signed token is the only
authority: it names the program, the member and the consent purpose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from kopilka.app import Kopilka
from kopilka.domain.errors import KopilkaError
from kopilka.services import notifications as notif_svc
from kopilka.services import programs as program_svc
from kopilka.web import words
from kopilka.web.i18n import tr
from kopilka.web.render import RENDERER, Refused, WebRoute

# a signed token (unsubscribe.read_token refuses longer ones too)
Token = Annotated[str, PathParam(max_length=300)]


def unsubscribe_router(kopilka: Kopilka) -> APIRouter:
    router = APIRouter(prefix="/portal", route_class=WebRoute, include_in_schema=False)
    ctx = kopilka.services

    def read(token: str) -> notif_svc.UnsubscribeToken:
        try:
            return notif_svc.read_token(ctx.messaging.secret, token)
        except KopilkaError:
            raise Refused(404, tr("This unsubscribe link is not valid.")) from None

    @router.get("/unsubscribe/{token}")
    def confirm(token: Token) -> Response:
        """What the link withdraws, and the button that does it."""
        named = read(token)
        program = program_svc.get_program(ctx, named.program_id)
        return RENDERER.page(
            "portal_unsubscribe.html",
            area="portal",
            program=program,
            token=token,
            purpose=named.purpose,
            purpose_word=words.purpose(named.purpose),
            done=None,
        )

    @router.post("/unsubscribe/{token}")
    def withdraw(token: Token) -> Response:
        """Record the withdrawal (audited); a second one says it was already done."""
        named = read(token)
        try:
            done = notif_svc.unsubscribe(ctx, token)
        except KopilkaError:
            raise Refused(404, tr("This unsubscribe link is not valid.")) from None
        program = program_svc.get_program(ctx, named.program_id)
        return RENDERER.page(
            "portal_unsubscribe.html",
            area="portal",
            program=program,
            token=token,
            purpose=named.purpose,
            purpose_word=words.purpose(named.purpose),
            done=done,
        )

    return router
