"""The FastAPI application, built on demand around a wired :class:`kopilka.app.Kopilka`.

Nothing is built at import time: ``kopilka serve`` (and the tests) call :func:`create_app`.
Routes live under ``/v1`` (one router per resource); ``/healthz``, ``/readyz`` and
``/metrics`` are for the operator; the OpenAPI document is at ``/openapi.json`` and the
interactive docs at ``/docs`` and ``/redoc``, served without a CDN (:mod:`kopilka.api.docs`).
The web UI (``/`` and ``/admin``, ``/portal``) is mounted beside them and stays out of the
OpenAPI document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

import anyio.to_thread
from fastapi import APIRouter, FastAPI

from kopilka import __version__
from kopilka.api import docs, errors
from kopilka.api.metrics import Metrics
from kopilka.api.middleware import BodyLimit, LastResort, RequestMetrics
from kopilka.api.routers import (
    admin,
    analytics,
    coupons,
    events,
    health,
    holds,
    me,
    members,
    memberships,
    notifications,
    offers,
    outbox,
    points,
    purchases,
    rewards,
    rules,
    tiers,
    webhooks,
)
from kopilka.app import Kopilka
from kopilka.web import create_web_router

DESCRIPTION = """\
The Kopilka loyalty API.

* **Auth**: `Authorization: Bearer kp_<prefix>_<secret>` (or `X-API-Key`); keys are made with
  `kopilka apikey create` and bound to a program and a role.
* **Writes** need one `Idempotency-Key` header (two are `400 duplicate_idempotency_key`):
  the same key and body from the same API key replay the first response; the same key with
  another body is `409 idempotency_conflict`. Keys are per API key: another key's caller
  sending the same one gets its own outcome. A receipt, a return and an event are booked
  once whatever the key. A quote and a rules preview write nothing and take no key.
* **Errors** are RFC 9457 `application/problem+json` with a stable `code`; invalid input is
  `422 validation_error` with the field errors in `errors`. A request the state refuses is
  `409`: spending or capturing more points than there are (`insufficient_points`, on
  purchases too), returning more than was bought (`reversal_exceeded`), paying more than
  the redemption rules allow (`redemption_not_allowed`). An id or a referral code that
  names nothing is `404 not_found`.
* **Ids** you choose (receipt, return, line, event, store) are 1-64 ASCII letters, digits,
  `_`, `.`, `:` or `-`, starting with a letter or digit: the same in bodies and paths.
* **Points** are integers (1 to 10^9; `2029.0` is 2029); **money** travels as decimal
  strings of ASCII digits with at most 2 decimals: a line below 10,000,000 and a receipt
  below 100,000,000 in the program's currency. Quantities are below 1,000,000 with at
  most 3 decimals.
* The schema states every rule of a request but these: an instant later than the server's
  clock (`occurred_at`, `as_of`), two lines with one `line_id`, lines totalling the receipt
  maximum, `attributes` nested over 5 levels or holding a NUL character, a rules
  document's content, whether a message template renders, and decimals beyond the
  currency's (yen: none). Each is a `422 validation_error`.
"""

V1_ROUTERS: tuple[APIRouter, ...] = (
    me.router,
    analytics.router,
    members.router,
    points.router,
    holds.router,
    purchases.router,
    events.router,
    rules.router,
    tiers.router,
    offers.router,
    coupons.router,
    rewards.members,
    rewards.catalog,
    rewards.issued,
    memberships.router,
    webhooks.router,
    notifications.router,
    admin.router,
)


def create_app(kopilka: Kopilka) -> FastAPI:
    """The API application for one wired Kopilka (its settings, engine and services)."""
    settings = kopilka.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # sync routes and the database work of the async ones run on these threads
        threads = settings.api_threads or settings.db_pool_size
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        with kopilka.checkpointer or nullcontext():
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="Kopilka API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # kopilka.api.docs serves /docs and /redoc with local assets
        redoc_url=None,
    )
    app.state.kopilka = kopilka
    app.state.metrics = metrics = Metrics()
    errors.install(app)
    docs.install(app)
    for router in V1_ROUTERS:
        app.include_router(router)
    app.include_router(outbox.router)
    outbox.document(app)
    app.include_router(health.router)
    app.include_router(create_web_router(kopilka))  # HTML pages, outside the API document
    # innermost first: an unhandled error answered (and logged) once, inside the rest
    app.add_middleware(LastResort, handler=errors.unexpected_error)
    # metrics see every response, including a 413 from the body limit and a 500
    app.add_middleware(BodyLimit, max_bytes=kopilka.settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app
