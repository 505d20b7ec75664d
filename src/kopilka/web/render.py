"""Templates, form bodies, and the one place where a web request's failures become pages.

Every route of the web UI uses :class:`WebRoute`, so whatever a handler or a dependency
raises (sign-in required, a refusal, a :class:`KopilkaError` from a service) becomes an
HTML answer here, even when the router is mounted in the API application, whose own
handlers answer in problem+json.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from kopilka.domain.errors import ConflictError, KopilkaError
from kopilka.domain.messages import Message
from kopilka.logging import failed_request
from kopilka.services.apikeys import Permission
from kopilka.services.context import is_unavailable
from kopilka.web import i18n, words
from kopilka.web.i18n import _

log = logging.getLogger("kopilka.web")

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 600_000  # a rules document (512 kB) and the other fields
SECURITY_HEADERS = {
    # no inline script or style, nothing from another origin, not framable
    "Content-Security-Policy": (
        "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # pages show personal data: never kept by a shared cache or the back button
    "Cache-Control": "no-store",
}
_STATUS = {"validation_error": 422, "not_found": 404, "forbidden": 403, "unauthorized": 401}


class SignInRequired(Exception):
    """No valid session: answered with a redirect to the sign-in page."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class Refused(Exception):
    """A request the web layer will not serve (wrong role, bad CSRF token, no such page)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def status_of(error: KopilkaError) -> int:
    """The HTTP status of a service error shown as a page."""
    if isinstance(error, ConflictError):
        return 409
    return _STATUS.get(error.code, 422)


def _moment(context: jinja2.runtime.Context, value: datetime | str) -> datetime:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    program = context.get("program")
    if program is not None:
        at = at.astimezone(ZoneInfo(program.timezone))
    return at


def _local(context: jinja2.runtime.Context, value: datetime | str | None) -> str:
    """A timestamp in the program's time zone, minutes precision, as the page's language
    writes it (:func:`kopilka.web.i18n.datetime_text`)."""
    if value is None or value == "":
        return ""
    return i18n.datetime_text(_moment(context, value))


def _until(context: jinja2.runtime.Context, value: datetime | str | None) -> str:
    """When points stop being valid. Calendar expiry falls on a local midnight, which
    reads better as the last day the points can be spent ("end of 2027-06-30")."""
    if value is None or value == "":
        return ""
    at = _moment(context, value)
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):
        last_day = i18n.date_text(at.date() - timedelta(days=1))
        return _("end of %(day)s") % {"day": last_day}
    return str(_local(context, value))


def _day(value: date | str | None) -> str:
    """A calendar day (a birthday) as the page's language writes it."""
    if value is None or value == "":
        return ""
    return i18n.date_text(date.fromisoformat(value) if isinstance(value, str) else value)


def _money(context: jinja2.runtime.Context, value: Any) -> str:
    """An amount in the program's currency, as the page's language writes it."""
    program = context.get("program")
    currency = program.currency if program is not None else "XXX"
    return i18n.money(value, currency)


def json_text(value: object) -> str:
    """A stored state (an audit record's before and after) as JSON a person reads: letters
    as they are, not ``\\u0414``-escaped as Jinja's ``tojson`` writes them for scripts; the
    page escapes it as any text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def problem_text(code: str | None, message: str) -> str:
    """An error's message in the page's language: the web layer's own messages are
    translated where they are raised; a service's (English) one is looked up in the
    catalog, and when it is not there, it follows a translated summary of its code."""
    if isinstance(message, i18n.Translated):
        return message
    if isinstance(message, Message) and (translated := service_message(message)) != message:
        return translated  # a service's msg(), its template translated by the catalog
    translated = _(message) if message else message
    if translated != message or i18n.language() == "en":
        return translated
    summary = i18n.gettext(PROBLEM_SUMMARIES.get(code or "", PROBLEM_SUMMARIES[""]))
    return f"{summary} {message}" if message else summary


# values of a service's message that are amounts, written as the page's language writes
# numbers ("1 234" / "1,234"); identifiers (member and receipt numbers) stay as they are
AMOUNTS = frozenset({"points", "available", "requested", "num", "count", "quantity", "bought"})


def service_message(message: str) -> str:
    """A service's ``msg()`` in the page's language: its template translated by the
    catalog, filled with the same values (amounts formatted for the language). A plain
    string, or a template the catalog lacks, comes back as it was (English)."""
    if not isinstance(message, Message):
        return message
    translated = _(message.template)
    if i18n.language() == "en" or translated == message.template:
        return str(message)  # the English, byte for byte as the API says it
    params = {k: _value(k, v) for k, v in message.params.items()}
    try:
        return translated % params
    except (KeyError, ValueError, TypeError):  # a broken translation never breaks a page
        return str(message)


def _value(name: str, value: object) -> object:
    if isinstance(value, Message):  # a part of the sentence, e.g. why points cannot pay
        return service_message(value)
    if name in AMOUNTS and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return i18n.number(value)
    return value


PROBLEM_SUMMARIES = {
    "": i18n.N_("The request was refused."),
    "validation_error": i18n.N_("Check what was entered."),
    "not_found": i18n.N_("Not found."),
    "conflict": i18n.N_("This cannot be done in the current state."),
    "idempotency_conflict": i18n.N_("This form was already submitted with other values."),
    "duplicate_identifier": i18n.N_("This identifier belongs to another member."),
    "insufficient_points": i18n.N_("Not enough points."),
    "member_blocked": i18n.N_("The member is blocked."),
    "redemption_not_allowed": i18n.N_("Paying with points is not allowed here."),
    "forbidden": i18n.N_("Not allowed."),
    "outside_key_scope": i18n.N_("Not allowed for this store or channel."),
    "field_not_allowed": i18n.N_("Not allowed to change this field."),
    "reversal_exceeded": i18n.N_("The return gives back more than the purchase had."),
}


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped unless a template says otherwise (none do)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # one environment for every language: the catalog is the current request's
    # (i18n.language(), chosen by WebRoute); newstyle: %(name)s placeholders, escaped
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["local"] = jinja2.pass_context(_local)
    env.filters["until"] = jinja2.pass_context(_until)
    env.filters["money"] = jinja2.pass_context(_money)
    env.filters["day"] = _day
    env.filters["points"] = i18n.number
    env.filters["number"] = i18n.number
    env.filters["signed"] = i18n.signed
    env.filters["entry_kind"] = words.entry_kind
    env.filters["why"] = words.why
    env.filters["status"] = words.status
    env.filters["purpose"] = words.purpose
    env.filters["role"] = words.role
    env.filters["identifier_kind"] = words.identifier_kind
    env.filters["problem_text"] = lambda message, code=None: problem_text(code, message)
    env.filters["json_text"] = json_text
    env.filters["service_message"] = service_message
    return env


class Renderer:
    """Renders a template into a response with the web UI's security headers."""

    def __init__(self) -> None:
        self.env = make_environment()

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("program", None)
        context.setdefault("error", None)
        context.setdefault("notice", None)
        context.setdefault("lang", i18n.language())
        context.setdefault("here", i18n.here())
        context.setdefault("languages", i18n.language_names())
        html = self.env.get_template(name).render(**context)
        headers = {**SECURITY_HEADERS, "Content-Language": context["lang"]}
        return HTMLResponse(html, status_code=status, headers=headers)

    def refusal(self, request: Request, status: int, message: str, code: str = "") -> Response:
        area = "portal" if request.url.path.startswith("/portal") else "admin"
        signed_in: dict[str, Any] = {}
        op = getattr(request.state, "operator", None)
        if area == "admin" and op is not None:  # the console's menu, as on its other pages
            signed_in = {"op": op, "csrf": op.csrf, "program": op.program}
            signed_in["Permission"] = Permission
        return self.page(
            "error.html",
            status,
            area=area,
            http_status=status,
            message=message,
            code=code,
            **signed_in,
        )


RENDERER = Renderer()


def redirect(location: str) -> RedirectResponse:
    """After a successful POST: see the result with a GET (no resubmission on reload)."""
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


class WebRoute(APIRoute):
    """Turns the web layer's signals and service errors into pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            enter_language(request)
            try:
                return await handler(request)
            except SignInRequired as e:
                return redirect(e.location)
            except Refused as e:
                return RENDERER.refusal(request, e.status, e.message)
            except KopilkaError as e:
                message = problem_text(e.code, e.message)
                return RENDERER.refusal(request, status_of(e), message, e.code)
            except RequestValidationError as e:
                # a number in the address that is not one, or out of range: a path's is
                # no such page, a query's a link that cannot be followed
                if any(err.get("loc", ("",))[0] == "path" for err in e.errors()):
                    return RENDERER.refusal(request, 404, _("There is no such page."), "not_found")
                return RENDERER.refusal(
                    request, 422, _("This address has a value out of range."), "validation_error"
                )
            except HTTPException:
                raise
            except Exception as e:  # logged once here, answered as a page
                return unexpected(request, e)

        return route


def enter_language(request: Request) -> None:
    """Answer this request in the visitor's language (:func:`kopilka.web.i18n.choose`); the
    page's switch returns to this address (a GET's), or to the area's first page."""
    lang = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    path = request.url.path
    if request.method == "GET":
        here = path + (f"?{request.url.query}" if request.url.query else "")
    else:
        here = next((p for p in ("/admin", "/portal") if path.startswith(p)), "/")
    i18n.enter(i18n.PageLanguage(lang, here))


def unexpected(request: Request, exc: Exception) -> Response:
    """A page's unhandled failure: 503 with ``Retry-After`` while the database cannot be
    reached (a warning, no traceback), else 500, logged once with a plain traceback."""
    if is_unavailable(exc):
        orig = getattr(exc, "orig", None) or exc
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(orig).__name__,
        )
        response = RENDERER.refusal(
            request, 503, _("The service is unavailable for a moment. Try again."), "unavailable"
        )
        response.headers["Retry-After"] = "1"
        return response
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
        extra=failed_request(request.scope),
    )
    return RENDERER.refusal(request, 500, _("The page failed. Try again later."), "internal_error")


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form (the last value wins); empty for other bodies."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, _("The form is too large."))
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, _("The form could not be read.")) from None


Form = Annotated[dict[str, str], Depends(form_fields)]

# the numbers and words a page's address carries, bounded like the API's (a database
# integer is 64 bits: a larger one was a 500 instead of a 404 or 422)
MAX_ID = 2**63 - 1
PathId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
PathVersion = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Cursor = Annotated[int | None, Query(ge=1, le=MAX_ID)]
QueryVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
Word = Annotated[str, Query(max_length=40)]
ReceiptRef = Annotated[str, Query(max_length=128)]
