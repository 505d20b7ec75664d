"""Errors as RFC 9457 problem documents, and the one map from error codes to HTTP statuses.

Every failure leaves as ``application/problem+json``::

    {"type": "https://kopilka.dev/problems/insufficient_points", "title": "Insufficient points",
     "status": 409, "detail": "member has 10 points available, 50 requested",
     "instance": "/v1/holds", "code": "insufficient_points", "details": {...}}

Request validation failures (bad JSON, wrong types, missing headers, out-of-range values)
are ``422 validation_error`` with an ``errors`` list naming each field; a rules document's
problems are listed there too, each with its ``line``, and so are a message template's
(``loc`` ``["body", "text"]``, its part).

A database that cannot be reached is ``503 unavailable`` with ``Retry-After: 1``; any
other failure is ``500 internal_error``, logged once with a plain traceback
(:class:`kopilka.api.middleware.LastResort` keeps it from reaching the server, which
would log it again).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from kopilka.domain.errors import KopilkaError
from kopilka.logging import failed_request
from kopilka.services.context import is_unavailable

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://kopilka.dev/problems/"
log = logging.getLogger("kopilka.api")


class PayloadTooLarge(KopilkaError):
    code = "payload_too_large"


class DuplicateIdempotencyKey(KopilkaError):
    """Two ``Idempotency-Key`` headers on one request: which one is meant is unknowable."""

    code = "duplicate_idempotency_key"


# code → (HTTP status, title); the only place that decides an error's status
STATUS: dict[str, tuple[int, str]] = {
    "validation_error": (422, "Invalid request"),
    "promo_code_invalid": (422, "Invalid promo code"),
    "coupon_invalid": (422, "Coupon cannot be used"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Forbidden"),
    "outside_key_scope": (403, "Outside the API key's store or channel"),
    "field_not_allowed": (403, "Field not allowed for this API key"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "idempotency_conflict": (409, "Idempotency key reused with another request"),
    "duplicate_idempotency_key": (400, "More than one Idempotency-Key header"),
    "duplicate_identifier": (409, "Identifier already registered"),
    "hold_not_active": (409, "Hold is no longer active"),
    "hold_expired": (409, "Hold has expired"),
    "reversal_exceeded": (409, "Return exceeds the original"),
    "birthday_change_too_soon": (409, "Birthday changed too recently"),
    "code_refused": (401, "One-time code refused"),
    "insufficient_points": (409, "Insufficient points"),
    "member_blocked": (409, "Member is blocked"),
    "redemption_not_allowed": (409, "Redemption not allowed"),
    "offer_not_available": (409, "Offer not available to the member"),
    "favourites_already_chosen": (409, "Favourite categories already chosen this period"),
    "reward_unavailable": (409, "Reward not available"),
    "offer_not_activated": (409, "Reward offer not activated by the member"),
    "reward_code_invalid": (422, "Invalid reward code"),
    "issued_reward_not_active": (409, "Issued reward is no longer active"),
    "payload_too_large": (413, "Request body too large"),
    "internal_error": (500, "Internal server error"),
    "unavailable": (503, "Service unavailable"),
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    line: int | None = Field(
        default=None, description="the line of a rules document or a message template"
    )


class Problem(BaseModel):
    """An RFC 9457 problem document with Kopilka's stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    details: dict[str, Any] | None = None
    errors: list[FieldError] | None = None


def status_of(code: str) -> int:
    return STATUS.get(code, (400, ""))[0]


def problem(
    request: Request | None,
    code: str,
    detail: str,
    *,
    details: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    status, title = STATUS.get(code, (400, "Bad request"))
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path if request is not None else "",
        "code": code,
    }
    if details:
        body["details"] = details
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]


def _located_errors(details: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A rules document's problems (``{line, path, message}``), or a message template's
    (``{part, line, message}``), as field errors."""
    problems = details.get("problems")
    if isinstance(problems, list):
        return [
            {
                "loc": ["body", str(p.get("part", ""))],
                "msg": str(p.get("message", "")),
                "type": "message_template",
                "line": p["line"] if isinstance(p.get("line"), int) else None,
            }
            for p in problems
            if isinstance(p, dict)
        ]
    items = details.get("errors")
    if not isinstance(items, list):
        return None
    return [
        {
            "loc": ["body", "document", *([str(e["path"])] if e.get("path") else [])],
            "msg": str(e.get("message", "")),
            "type": "rules_document",
            "line": e["line"] if isinstance(e.get("line"), int) else None,
        }
        for e in items
        if isinstance(e, dict)
    ]


def kopilka_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KopilkaError)
    details = {k: v for k, v in exc.details.items() if isinstance(v, str | int | float | bool)}
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthorized" else None
    if exc.code not in STATUS:
        log.warning("unmapped error code %s", exc.code)
    return problem(
        request,
        exc.code,
        exc.message,
        details=details,
        errors=_located_errors(exc.details),
        headers=headers,
    )


def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"])
    detail = f"{where}: {message}" if where else message
    return problem(request, "validation_error", detail, errors=errors)


def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Framework errors: unknown route, wrong method, and a body that cannot be parsed
    (which, like every bad input, is a 422 validation_error)."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "validation_error")
    response = problem(request, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    allowed = _allowed_methods(request) if exc.status_code == 405 else None
    if allowed:
        # the router answers with the first route of the path, so its Allow would name only
        # that route's methods; RFC 9110 asks for every method the path has
        response.headers["Allow"] = allowed
    return response


_METHODS = ("delete", "get", "patch", "post", "put")


def _allowed_methods(request: Request) -> str | None:
    """The methods the API document gives the request's path (a fixed path such as
    /v1/purchases/quote before a template that also matches it), or None for a path
    outside the document."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    path = request.scope["path"]
    template = path if path in paths else None
    for t in paths if template is None else ():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)), path):
            template = t
            break
    if template is None:
        return None
    return ", ".join(m.upper() for m in _METHODS if m in paths[template])


def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """What no other handler took: 503 to retry when the database cannot be reached, else
    500. Logged here, once, and cheaply: the traceback as plain text without its frames'
    local variables (:mod:`kopilka.logging`), rendered off the event loop."""
    if is_unavailable(exc):
        # the database is down, restarting or failing over, or went away under the
        # request: nothing was committed, or the Idempotency-Key replays what was; the
        # pool reconnects. No traceback, nor the driver's text (it names host and user).
        orig = getattr(exc, "orig", None) or exc
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(orig).__name__,
        )
        return problem(
            request,
            "unavailable",
            "the database is unavailable; retry with the same Idempotency-Key",
            headers={"Retry-After": "1"},
        )
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
        extra=failed_request(request.scope),
    )
    return problem(request, "internal_error", "the server failed to handle the request")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem document."""
    app.add_exception_handler(KopilkaError, kopilka_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: the problem documents it can return."""
    out: dict[int | str, dict[str, Any]] = {}
    # every write takes an Idempotency-Key, and may be sent two
    writes = ("duplicate_idempotency_key",) if "idempotency_conflict" in codes else ()
    for code in ("validation_error", *codes, *writes):
        status, title = STATUS[code]
        entry = out.setdefault(
            status, {"model": Problem, "description": title, "content": {PROBLEM_JSON: {}}}
        )
        if title not in entry["description"]:
            entry["description"] += f"; {title}"
    return out
