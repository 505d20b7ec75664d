"""Dependencies of the routes, as ``Annotated`` aliases: the wired app, the caller, the
program, an idempotency key, and the permission a route needs."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from kopilka.api.errors import DuplicateIdempotencyKey
from kopilka.api.metrics import Metrics
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.ledger.idempotency import MAX_CALLER_KEY_LENGTH, caller_key
from kopilka.services import members as member_svc
from kopilka.services.apikeys import (
    ApiKey,
    Permission,
    Unauthenticated,
    authenticate,
    recently_verified,
)
from kopilka.services.context import ServiceContext

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer kp_<prefix>_<secret>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key")


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency
# in the thread pool, and those hops were a fifth of a purchase's CPU under load.


async def get_kopilka(request: Request) -> Kopilka:
    app: Kopilka = request.app.state.kopilka
    return app


async def get_ctx(request: Request) -> ServiceContext:
    app: Kopilka = request.app.state.kopilka
    return app.services


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


Ctx = Annotated[ServiceContext, Depends(get_ctx)]
_metrics_bearer = HTTPBearer(
    scheme_name="MetricsToken", auto_error=False, description="KOPILKA_METRICS_TOKEN, when set"
)


async def metrics_access(
    kopilka: Annotated[Kopilka, Depends(get_kopilka)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """401 unless the metrics token, when one is set, is presented."""
    token = kopilka.settings.metrics_token
    if token is None:
        return
    presented = bearer.credentials.encode() if bearer else b""
    if not hmac.compare_digest(presented, token.get_secret_value().encode()):
        raise Unauthenticated("/metrics needs the metrics token: Authorization: Bearer <token>")


AppMetrics = Annotated[Metrics, Depends(get_metrics)]


async def current_key(
    ctx: Ctx,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The caller's API key (401 when missing, malformed, unknown or revoked).

    A key verified in the last seconds is answered from memory; otherwise the database
    is asked from the thread pool, never from the event loop."""
    presented = bearer.credentials if bearer else header
    key = recently_verified(ctx, presented)
    if key is None:
        key = await run_in_threadpool(authenticate, ctx, presented)
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


async def current_program(key: CurrentKey) -> Program:
    return key.program


CurrentProgram = Annotated[Program, Depends(current_program)]


def permit(permission: Permission) -> Any:
    """A route dependency that refuses (403) callers whose role lacks ``permission``.

    It runs before the route's body and headers are used, so a refused call writes nothing.
    """

    async def check(key: CurrentKey) -> None:
        key.require(permission)

    check.__name__ = f"permit_{permission.value.replace(':', '_')}"
    return Depends(check)


async def idempotency_key(
    request: Request,
    key: CurrentKey,
    header: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_CALLER_KEY_LENGTH,
            pattern=r"^[\x21-\x7e]+$",
            description="required on every write: the same key and body from the same API"
            " key replay the first response",
        ),
    ],
) -> str:
    """The caller's ``Idempotency-Key`` as stored: scoped to its API key (another API key
    sending the same key gets its own outcome) and never one of Kopilka's own keys
    (``ledger.idempotency.caller_key``). Two of the header: 400, as which one is meant is
    unknowable; checked before the route runs, so nothing is written."""
    if len(request.headers.getlist("idempotency-key")) > 1:
        raise DuplicateIdempotencyKey("send one Idempotency-Key header, not several")
    return caller_key(str(key.id), header)


IdempotencyKey = Annotated[str, Depends(idempotency_key)]

MemberId = Annotated[int, Path(ge=1, le=2**53 - 1)]  # schemas.common.MAX_ID


def program_member(ctx: Ctx, program: CurrentProgram, member_id: MemberId) -> int:
    """The member id in the path, once it is known to belong to the caller's program."""
    member_svc.get_member(ctx, program, member_id)
    return member_id


ProgramMember = Annotated[int, Depends(program_member)]
