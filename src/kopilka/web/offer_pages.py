"""The console's offers page: the personal offers of the rules in force with their audience
and results (members listed, activations, purchases, members and points), the upload of
an offer's list of members (ids or cards, one a line), and the rewards of the catalog
offered as personal offers with their activations, redemptions and uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services import offers as offers_svc
from kopilka.services.apikeys import Permission
from kopilka.services.member_lookup import MemberRef
from kopilka.web.console import Console
from kopilka.web.i18n import N_, tr
from kopilka.web.render import MAX_ID, Form, WebRoute, redirect, status_of
from kopilka.web.rewards_pages import name_of

# the count of members an uploaded list named, carried back to the page after the upload
Listed = Annotated[int | None, Query(ge=0, le=MAX_ID)]
UPLOADED = N_("The list is saved: %(count)s members listed.")


def _refs(kind: str, text: str) -> tuple[MemberRef, ...]:
    """The members of the form's list: one member id or card number a line (blank lines
    skipped); a line that is no member id is refused, naming it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "card":
        return tuple(MemberRef(identifier=(IdentifierKind.CARD, line)) for line in lines)
    refs: list[MemberRef] = []
    for n, line in enumerate(lines, 1):
        if not line.isdigit() or int(line) < 1 or len(line) > 18:
            raise ValidationError(
                tr("line %(n)s is not a member id: %(text)s") % {"n": n, "text": line[:40]},
                field="members",
            )
        refs.append(MemberRef(member_id=int(line)))
    return tuple(refs)


def offer_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def page(request: Request, status: int = 200, **extra: object) -> Response:
        op = console.operator(request)
        op.require(Permission.RULES_READ)
        reward_offers = (
            [
                {**o, "title": name_of(o["name"])}
                for o in offers_svc.reward_offer_results(ctx, op.program)
            ]
            if op.can(Permission.REWARDS_READ)
            else []
        )
        return console.page(
            op,
            "admin_offers.html",
            status,
            offers=offers_svc.offer_results(ctx, op.program),
            reward_offers=reward_offers,
            may_upload=op.can(Permission.RULES_PUBLISH),
            nav="offers",
            **extra,
        )

    @router.get("/offers")
    def offers(request: Request, listed: Listed = None) -> Response:
        notice = tr(UPLOADED) % {"count": listed} if listed is not None else None
        return page(request, notice=notice)

    @router.post("/offers/audience")
    def upload(request: Request, form: Form) -> Response:
        op = console.operator(request)
        op.require(Permission.RULES_PUBLISH)
        console.area.check_csrf(request, form)
        try:
            refs = _refs(form.get("kind", "member_id"), form.get("members", ""))
            cmd = offers_svc.SetAudience(form.get("offer_id", ""), refs, form.get("replace") == "1")
            done = offers_svc.set_audience(ctx, op.program, cmd, actor=op.key.actor)
        except KopilkaError as e:
            return page(request, status_of(e), error=e)
        return redirect(f"/admin/offers?listed={done['listed_members']}")

    return router
