"""Every failure is an RFC 9457 problem document with a stable code; bad input never
writes and never makes a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from kopilka.api.app import create_app
from kopilka.api.errors import STATUS
from kopilka.api.schemas.common import Money
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import apikeys as apikey_svc
from tests.e2e.api.conftest import MAX_BODY, KeyFactory, card, idem, row_counts


def assert_problem(r: Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = dict(r.json())
    assert {"type", "title", "status", "detail", "instance", "code"} <= set(body)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code)
    assert body["instance"] == r.request.url.path
    return body


@pytest.fixture
def member(client: TestClient, admin: dict[str, str], give_points: Any) -> int:
    r = client.post("/v1/members", json={"identifiers": {"card": card()}}, headers=idem(**admin))
    give_points(r.json()["id"], 100)
    return int(r.json()["id"])


def test_status_map_is_the_one_place_codes_meet_statuses() -> None:
    """Each code of the KopilkaError family has a status in api.errors.STATUS."""
    from kopilka.domain.errors import ERRORS_BY_CODE

    assert set(ERRORS_BY_CODE) - {"kopilka_error"} <= set(STATUS)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"X-API-Key": "kp_aaaaaaaaaaaa_" + "x" * 43}],
    ids=["missing", "malformed", "unknown"],
)
def test_without_a_valid_key_is_unauthorized(client: TestClient, headers: dict[str, str]) -> None:
    """No key, a malformed key or an unknown key is 401 unauthorized with a challenge."""
    r = client.get("/v1/me", headers=headers)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


def test_x_api_key_header_works_and_revocation_is_immediate(
    client: TestClient, kopilka: Kopilka, program: Program
) -> None:
    """A key sent as X-API-Key authenticates; once revoked, it is 401."""
    key, secret = apikey_svc.create_key(kopilka.services, program.code, "analyst", "bi")
    assert client.get("/v1/me", headers={"X-API-Key": secret}).status_code == 200
    apikey_svc.revoke_key(kopilka.services, key.prefix)
    assert_problem(client.get("/v1/me", headers={"X-API-Key": secret}), 401, "unauthorized")


def test_a_wrong_secret_with_a_real_prefix_is_unauthorized(
    client: TestClient, kopilka: Kopilka, program: Program
) -> None:
    """The secret is checked, not only the prefix."""
    _, secret = apikey_svc.create_key(kopilka.services, program.code, "admin", "root")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert_problem(
        client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized"
    )


def test_forbidden(client: TestClient, key_for: KeyFactory, member: int) -> None:
    """A role without the permission gets 403 forbidden."""
    r = client.post(
        f"/v1/members/{member}/earn", json={"points": 1}, headers=idem(**key_for("marketer"))
    )
    assert_problem(r, 403, "forbidden")


def test_other_programs_are_invisible(
    client: TestClient,
    key_for: KeyFactory,
    make_program: Any,
    member: int,
    admin: dict[str, str],
) -> None:
    """A key of another program cannot see, move or hold this program's members: 404."""
    other = key_for("admin", prog=make_program())
    assert_problem(client.get(f"/v1/members/{member}", headers=other), 404, "not_found")
    r = client.post(f"/v1/members/{member}/earn", json={"points": 1}, headers=idem(**other))
    assert_problem(r, 404, "not_found")
    hold = client.post(
        "/v1/holds", json={"member_id": member, "points": 10}, headers=idem(**admin)
    ).json()
    r = client.post(f"/v1/holds/{hold['hold_id']}/void", headers=idem(**other))
    assert_problem(r, 404, "not_found")


def test_business_conflicts(client: TestClient, admin: dict[str, str], member: int) -> None:
    """Taken identifier, too few points, ended hold, blocked member: 409 with their codes."""
    number = card()
    client.post("/v1/members", json={"identifiers": {"card": number}}, headers=idem(**admin))
    r = client.post("/v1/members", json={"identifiers": {"card": number}}, headers=idem(**admin))
    assert_problem(r, 409, "duplicate_identifier")

    r = client.post(f"/v1/members/{member}/redeem", json={"points": 101}, headers=idem(**admin))
    body = assert_problem(r, 409, "insufficient_points")
    assert body["details"] == {"available": 100, "requested": 101}

    hold = client.post(
        "/v1/holds", json={"member_id": member, "points": 10}, headers=idem(**admin)
    ).json()
    client.post(f"/v1/holds/{hold['hold_id']}/void", headers=idem(**admin))
    r = client.post(f"/v1/holds/{hold['hold_id']}/capture", headers=idem(**admin))
    assert_problem(r, 409, "hold_not_active")

    client.post(f"/v1/members/{member}/block", json={"reason": "fraud"}, headers=idem(**admin))
    r = client.post(f"/v1/members/{member}/earn", json={"points": 1}, headers=idem(**admin))
    assert_problem(r, 409, "member_blocked")


def test_unknown_route_and_wrong_method_are_problems(
    client: TestClient, admin: dict[str, str]
) -> None:
    """404 for an unknown path and 405 for a wrong method, as problem documents."""
    assert_problem(client.get("/v1/nowhere", headers=admin), 404, "not_found")
    assert_problem(client.delete("/v1/me", headers=admin), 405, "method_not_allowed")


BAD_BODIES = {
    "negative": {"points": -5},
    "zero": {"points": 0},
    "huge": {"points": 10**9 + 1},
    "float": {"points": 1.5},
    "string": {"points": "10"},
    "bool": {"points": True},
    "unknown field": {"points": 5, "bonus": 1},
    "missing": {},
    "nul in text": {"points": 5, "reason": "a\x00b"},
    "too long": {"points": 5, "reference": "r" * 129},
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_invalid_values_are_validation_problems_and_write_nothing(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], member: int, body: Any
) -> None:
    """Out-of-range, wrongly typed or unknown values are 422 validation_error with the
    field named, and nothing is written."""
    before = row_counts(kopilka.engine)
    r = client.post(f"/v1/members/{member}/earn", json=body, headers=idem(**admin))
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"]
    assert row_counts(kopilka.engine) == before


@pytest.mark.parametrize("raw", ["{", '{"points": NaN}', '{"points": Infinity}', "\xff", "[]"])
def test_malformed_json_is_a_validation_problem(
    client: TestClient, admin: dict[str, str], member: int, raw: str
) -> None:
    """Broken JSON, NaN and Infinity literals, bytes that are not UTF-8: 422 problems."""
    r = client.post(
        f"/v1/members/{member}/earn",
        content=raw.encode("latin-1"),
        headers=idem(**admin, **{"Content-Type": "application/json"}),
    )
    assert_problem(r, 422, "validation_error")


def test_adjustment_and_hold_bounds(client: TestClient, admin: dict[str, str], member: int) -> None:
    """A zero adjustment and a hold lifetime beyond 30 days are validation problems."""
    r = client.post(
        f"/v1/admin/members/{member}/adjustments",
        json={"delta": 0, "reason": "x"},
        headers=idem(**admin),
    )
    assert_problem(r, 422, "validation_error")
    r = client.post(
        "/v1/holds",
        json={"member_id": member, "points": 1, "ttl_seconds": 31 * 86400},
        headers=idem(**admin),
    )
    assert_problem(r, 422, "validation_error")


def test_future_sweep_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    """Expiry cannot be run as of a time that has not come yet."""
    r = client.post(
        "/v1/admin/jobs/expire", json={"as_of": "2099-01-01T00:00:00Z"}, headers=idem(**admin)
    )
    assert_problem(r, 422, "validation_error")


def test_oversize_body_is_413_whether_declared_or_streamed(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str]
) -> None:
    """A body over the limit is 413 payload_too_large, by Content-Length or by counting
    the bytes of a chunked body, and nothing is written."""
    before = row_counts(kopilka.engine)
    big = {"identifiers": {"card": card()}, "profile": {"attributes": {"x": "y" * MAX_BODY}}}
    assert_problem(
        client.post("/v1/members", json=big, headers=idem(**admin)), 413, "payload_too_large"
    )

    def chunks() -> Iterator[bytes]:
        data = json.dumps(big).encode()
        for i in range(0, len(data), 1024):
            yield data[i : i + 1024]

    r = client.post(
        "/v1/members",
        content=chunks(),
        headers=idem(**admin, **{"Content-Type": "application/json"}),
    )
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "payload_too_large")
    assert row_counts(kopilka.engine) == before


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unexpected_failure_is_a_500_problem_without_details(
    kopilka: Kopilka, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug becomes 500 internal_error, logged with its traceback, telling the caller
    nothing about the internals."""
    from kopilka.api import errors
    from kopilka.api.routers import admin as admin_router

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret internals")

    handler = Recorder()
    log = logging.Logger("kopilka.api.test")  # not the process's handlers: only this one
    log.addHandler(handler)
    monkeypatch.setattr(errors, "log", log)
    monkeypatch.setattr(admin_router.audit_svc, "verify_ledger", broken)
    with TestClient(create_app(kopilka), raise_server_exceptions=False) as c:
        r = c.get("/v1/admin/verify", headers=admin)
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in r.text
    assert body["detail"]
    assert handler.records[0].exc_info is not None


def test_lost_database_connection_is_a_503_to_retry(
    kopilka: Kopilka, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database connection lost under a request (restart, failover) is 503 unavailable
    with Retry-After, logged as a warning without a traceback or the driver's message."""
    from sqlalchemy.exc import OperationalError

    from kopilka.api import errors
    from kopilka.api.routers import admin as admin_router

    def lost(*_a: Any, **_k: Any) -> Any:
        raise OperationalError(
            "SELECT 1",
            {},
            Exception("server closed the connection host=db password=x"),
            connection_invalidated=True,
        )

    handler = Recorder()
    log = logging.Logger("kopilka.api.test")
    log.addHandler(handler)
    monkeypatch.setattr(errors, "log", log)
    monkeypatch.setattr(admin_router.audit_svc, "verify_ledger", lost)
    with TestClient(create_app(kopilka), raise_server_exceptions=False) as c:
        r = c.get("/v1/admin/verify", headers=admin)
    assert_problem(r, 503, "unavailable")
    assert r.headers["Retry-After"] == "1"
    assert "password" not in r.text
    [record] = handler.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "password" not in record.getMessage()


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-1", "1e13", "0.00001", "abc"])
def test_money_refuses_what_is_not_an_amount(raw: str) -> None:
    """Money fields accept bounded non-negative decimal strings only."""
    with pytest.raises(PydanticValidationError):
        TypeAdapter(Money).validate_json(json.dumps(raw))


def test_money_travels_as_a_decimal_string() -> None:
    """A money amount reads from a string and is written back as the same string."""
    adapter = TypeAdapter(Money)
    assert adapter.validate_json('"12.50"') == Decimal("12.50")
    assert adapter.dump_json(Decimal("12.50")) == b'"12.50"'
