"""The operator's endpoints: liveness, readiness, metrics, the OpenAPI document and docs."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import worker as worker_svc
from kopilka.services.context import ServiceContext
from tests.e2e.api.conftest import card, idem


def test_health_and_readiness(client: TestClient) -> None:
    """/healthz says the process is up and /readyz that the database answers."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_not_ready_without_a_database(kopilka: Kopilka) -> None:
    """/readyz is a 503 problem when the database cannot be reached."""
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    broken = Kopilka(kopilka.settings, dead, ServiceContext(dead, kopilka.services.clock))
    with TestClient(create_app(broken)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"


def test_metrics_count_requests_by_route_template_and_points_moved(
    kopilka: Kopilka, admin: dict[str, str]
) -> None:
    """/metrics counts requests by route template and status, times them, and counts
    points earned and redeemed."""
    with TestClient(create_app(kopilka)) as c:
        r = c.post("/v1/members", json={"identifiers": {"card": card()}}, headers=idem(**admin))
        member = r.json()["id"]
        c.post(f"/v1/members/{member}/earn", json={"points": 30}, headers=idem(**admin))
        c.post(f"/v1/members/{member}/redeem", json={"points": 12}, headers=idem(**admin))
        c.get("/v1/members/999999999", headers=admin)
        text = c.get("/metrics").text
    assert (
        'kopilka_http_requests_total{method="GET",route="/v1/members/{member_id}",status="404"} 1.0'
        in text
    )
    assert 'kopilka_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text
    assert 'kopilka_points_total{movement="earned"} 30.0' in text
    assert 'kopilka_points_total{movement="redeemed"} 12.0' in text
    assert "kopilka_members_enrolled_total 1.0" in text


def test_metrics_count_job_runs_by_kind_and_outcome(kopilka: Kopilka, program: Program) -> None:
    """/metrics counts the job runs the workers recorded (in the database), by kind and
    outcome."""
    ctx = kopilka.services
    options = worker_svc.WorkerOptions(worker_id="m", once=True, program_ids=(program.id,))
    worker_svc.Worker(ctx, options).round()
    with TestClient(create_app(kopilka)) as c:
        text = c.get("/metrics").text
    assert 'kopilka_job_runs_total{job="sweep",outcome="ok"}' in text
    assert 'kopilka_job_runs_total{job="accruals",outcome="ok"}' in text


def test_metrics_take_the_metrics_token_when_one_is_set(kopilka: Kopilka) -> None:
    """With KOPILKA_METRICS_TOKEN set, /metrics answers that bearer token only (a 401
    problem otherwise); the probes stay open."""
    token = "scrape-" + "x" * 24
    settings = kopilka.settings.model_copy(update={"metrics_token": SecretStr(token)})
    with TestClient(create_app(dataclasses.replace(kopilka, settings=settings))) as c:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"X-API-Key": token}):
            r = c.get("/metrics", headers=headers)
            assert r.status_code == 401
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "unauthorized"
        r = c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert "kopilka_http_requests_total" in r.text
        assert c.get("/healthz").status_code == 200
    assert token not in repr(settings)


def test_openapi_documents_auth_problems_and_idempotency(client: TestClient) -> None:
    """The OpenAPI document declares the key schemes, the Idempotency-Key header on writes,
    and problem+json responses; /docs serves the interactive docs."""
    doc: dict[str, Any] = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    earn = doc["paths"]["/v1/members/{member_id}/earn"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in earn["parameters"])
    assert "application/problem+json" in earn["responses"]["409"]["content"]
    assert client.get("/docs").status_code == 200
