"""The console's audit log page: the back-office actions, newest first, filtered by
actor, action, member and dates (in the program's time zone), a page at a time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from kopilka.services.apikeys import Permission, list_keys
from kopilka.services.audit_log import audit_page
from kopilka.web import words
from kopilka.web.console import Console
from kopilka.web.i18n import tr
from kopilka.web.render import MAX_ID, Cursor, WebRoute

AUDIT_PAGE = 50
Filter = Annotated[str, Query(max_length=128)]


def _day(raw: str, zone: ZoneInfo) -> datetime | None:
    """The start of a day (YYYY-MM-DD) in the program's zone; None when not a date."""
    try:
        return datetime.combine(date.fromisoformat(raw), time(), zone)
    except ValueError:
        return None


def audit_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    @router.get("/audit")
    def audit(
        request: Request,
        before: Cursor = None,
        actor: Filter = "",
        action: Filter = "",
        member: Filter = "",
        since: Filter = "",
        until: Filter = "",
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.AUDIT_READ)
        zone = ZoneInfo(op.program.timezone)
        filters = {
            "actor": actor.strip(),
            "action": action.strip(),
            "member": member.strip(),
            "since": since.strip(),
            "until": until.strip(),
        }
        errors: list[str] = []
        member_id = filters["member"]
        if member_id and not (member_id.isdigit() and 1 <= int(member_id) <= MAX_ID):
            errors.append(tr("A member is named by the number of their page, e.g. 42."))
        start = _day(filters["since"], zone) if filters["since"] else None
        end = _day(filters["until"], zone) if filters["until"] else None
        if (filters["since"] and start is None) or (filters["until"] and end is None):
            errors.append(tr("Dates are written as YYYY-MM-DD."))
        elif start and end and end < start:
            errors.append(tr("The first day comes after the last."))
        page: dict[str, Any] = {"items": [], "next_cursor": None}
        if not errors:
            page = dict(
                audit_page(
                    ctx,
                    op.program.id,
                    limit=AUDIT_PAGE,
                    before=before,
                    target=f"member:{int(member_id)}" if member_id else None,
                    actor=filters["actor"] or None,
                    action=filters["action"] or None,
                    # the last day is included: up to the start of the next one
                    since=start,
                    until=end + timedelta(days=1) if end else None,
                )
            )
        named = console.actor(op)
        keys = [(k.actor, named(k.actor)) for k in list_keys(ctx, op.program.code)]
        if filters["actor"] and filters["actor"] not in dict(keys):
            keys.append((filters["actor"], named(filters["actor"])))
        actions = [(code, words.action(code)) for code in words.ACTIONS]
        if filters["action"] and filters["action"] not in words.ACTIONS:
            actions.append((filters["action"], words.action(filters["action"])))
        query = urlencode({k: v for k, v in filters.items() if v})
        return console.page(
            op,
            "admin_audit.html",
            422 if errors else 200,
            entries=[
                {
                    "id": r.id,
                    "at": r.at,
                    "actor": r.actor,
                    "who": named(r.actor),
                    "same_actor": urlencode({"actor": r.actor}),
                    "action": r.action,
                    "what": words.action(r.action),
                    "target": r.target,
                    "member": r.target.partition(":")[2]
                    if r.target.startswith("member:")
                    else None,
                    "before": r.before,
                    "after": r.after,
                }
                for r in page["items"]
            ],
            next_cursor=page["next_cursor"],
            before=before,
            filters=filters,
            query=query,
            actors=keys,
            actions=actions,
            errors=errors,
            nav="audit",
        )

    return router
