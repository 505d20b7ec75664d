"""Liveness, readiness and Prometheus metrics (no API key: for the operator's probes;
/metrics takes the metrics token when one is set)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from kopilka.api.deps import AppMetrics, Ctx, metrics_access
from kopilka.api.errors import PROBLEM_JSON, Problem, problem, responses
from kopilka.api.schemas.common import Status
from kopilka.services.worker import run_counts

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status)
def healthz() -> Status:
    """The process is up."""
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "not ready"}},
)
def readyz(ctx: Ctx) -> Status | Response:
    """The database is reachable."""
    try:
        with ctx.uow(read_only=True):
            pass
    except Exception as e:  # any failure to open a transaction means: not ready
        return problem(None, "unavailable", f"database unreachable: {type(e).__name__}")
    return Status(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **responses("unauthorized"),
    },
    dependencies=[Depends(metrics_access)],
    # the token is asked for only when KOPILKA_METRICS_TOKEN is set: optional, as {} says
    openapi_extra={"security": [{}, {"MetricsToken": []}]},
)
def metrics(app_metrics: AppMetrics, ctx: Ctx) -> Response:
    """Prometheus metrics: request counts and latency by route, points moved, job runs by
    kind and outcome. With KOPILKA_METRICS_TOKEN set, only for ``Authorization: Bearer
    <token>``."""
    try:
        job_runs: list[tuple[str, str, int]] | None = run_counts(ctx)
    except Exception:  # the database is down: the process's own metrics still answer
        job_runs = None
    body = app_metrics.render(job_runs)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
