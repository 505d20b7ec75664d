"""Templates, form bodies, and the one place where a web request's failures become pages.

Every route of the web UI uses :class:`WebRoute`, so whatever a handler or a dependency
raises (sign-in required, a refusal, a :class:`KopilkaError` from a service) becomes an
HTML answer here, even when the router is mounted in the API application, whose own
handlers answer in problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
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
from kopilka.logging import failed_request
from kopilka.services.context import is_unavailable

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


def _local(context: jinja2.runtime.Context, value: datetime | str | None) -> str:
    """A timestamp in the program's time zone, minutes precision."""
    if value is None or value == "":
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    program = context.get("program")
    zone = ZoneInfo(program.timezone) if program is not None else None
    if zone is not None:
        at = at.astimezone(zone)
    return at.strftime("%Y-%m-%d %H:%M") + (f" {at.tzname()}" if at.tzinfo else "")


def _until(context: jinja2.runtime.Context, value: datetime | str | None) -> str:
    """When points stop being valid. Calendar expiry falls on a local midnight, which
    reads better as the last day the points can be spent ("end of 2027-06-30")."""
    if value is None or value == "":
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    program = context.get("program")
    if program is not None:
        at = at.astimezone(ZoneInfo(program.timezone))
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):
        return "end of " + (at.date() - timedelta(days=1)).isoformat()
    return str(_local(context, value))


def _points(value: int | None) -> str:
    return "" if value is None else f"{value:,}".replace(",", "\u202f")


def _signed(value: int | None) -> str:
    return "" if value is None else ("+" if value > 0 else "") + _points(value)


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped unless a template says otherwise (none do)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = jinja2.pass_context(_local)
    env.filters["until"] = jinja2.pass_context(_until)
    env.filters["points"] = _points
    env.filters["signed"] = _signed
    return env


class Renderer:
    """Renders a template into a response with the web UI's security headers."""

    def __init__(self) -> None:
        self.env = make_environment()

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("program", None)
        context.setdefault("error", None)
        context.setdefault("notice", None)
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def refusal(self, request: Request, status: int, message: str, code: str = "") -> Response:
        area = "portal" if request.url.path.startswith("/portal") else "admin"
        return self.page(
            "error.html", status, area=area, http_status=status, message=message, code=code
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
            try:
                return await handler(request)
            except SignInRequired as e:
                return redirect(e.location)
            except Refused as e:
                return RENDERER.refusal(request, e.status, e.message)
            except KopilkaError as e:
                return RENDERER.refusal(request, status_of(e), e.message, e.code)
            except RequestValidationError as e:
                # a number in the address that is not one, or out of range: a path's is
                # no such page, a query's a link that cannot be followed
                if any(err.get("loc", ("",))[0] == "path" for err in e.errors()):
                    return RENDERER.refusal(request, 404, "There is no such page.", "not_found")
                return RENDERER.refusal(
                    request, 422, "This address has a value out of range.", "validation_error"
                )
            except HTTPException:
                raise
            except Exception as e:  # logged once here, answered as a page
                return unexpected(request, e)

        return route


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
            request, 503, "The service is unavailable for a moment. Try again.", "unavailable"
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
    return RENDERER.refusal(request, 500, "The page failed. Try again later.", "internal_error")


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form (the last value wins); empty for other bodies."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, "the form is too large")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "the form could not be read") from None


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
