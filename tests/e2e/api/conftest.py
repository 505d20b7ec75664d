"""An API application per test on each backend, API keys per role, and request helpers."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import apikeys as apikey_svc
from kopilka.services import points as points_svc
from kopilka.services.context import ServiceContext
from kopilka.services.points import Earn
from kopilka.settings import load_settings
from kopilka.store.tables import metadata

MAX_BODY = 16_384
_keys = itertools.count(1)


@pytest.fixture
def kopilka(ctx: ServiceContext, backend: str) -> Kopilka:
    """The wired application on this test's backend, sharing its frozen clock."""
    settings = load_settings(database_url=backend, environment="test", max_body_bytes=MAX_BODY)
    return Kopilka(settings, ctx.engine, ctx)


@pytest.fixture(scope="session")
def _clients() -> Iterator[dict[str, TestClient]]:
    clients: dict[str, TestClient] = {}
    yield clients
    for c in clients.values():
        c.__exit__(None, None, None)


@pytest.fixture
def client(kopilka: Kopilka, backend: str, _clients: dict[str, TestClient]) -> TestClient:
    """A client of the API app on this backend. One app per backend serves the session
    (building one takes longer than most tests); each test points it at its own wiring."""
    if backend not in _clients:
        _clients[backend] = TestClient(create_app(kopilka)).__enter__()
    c = _clients[backend]
    c.app.state.kopilka = kopilka  # type: ignore[attr-defined]
    return c


@pytest.fixture
def program(make_program: Callable[..., Program]) -> Program:
    return make_program()


KeyFactory = Callable[..., dict[str, str]]


@pytest.fixture
def key_for(ctx: ServiceContext, program: Program) -> KeyFactory:
    """Create an API key of ``role`` for the test's program; returns its auth header."""

    def make(role: str, *, store: str | None = None, prog: Program | None = None) -> dict[str, str]:
        store = store or ("S1" if role == "pos" else None)
        _, secret = apikey_svc.create_key(
            ctx, (prog or program).code, role, f"{role} {next(_keys)}", store
        )
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def admin(key_for: KeyFactory) -> dict[str, str]:
    return key_for("admin")


def idem(**headers: str) -> dict[str, str]:
    """Headers with a fresh Idempotency-Key."""
    return {"Idempotency-Key": uuid.uuid4().hex, **headers}


@pytest.fixture
def give_points(ctx: ServiceContext, program: Program) -> Callable[[int, int], Any]:
    """Credit points to a member directly through the service (test setup)."""

    def give(member_id: int, points: int) -> Any:
        return points_svc.earn(ctx, program, Earn(member_id, points, key=uuid.uuid4().hex))

    return give


def card() -> str:
    return f"C{uuid.uuid4().hex[:12].upper()}"


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: equal before and after means a request wrote nothing. One
    statement for every table (the contract tests count before each of thousands of
    calls: a round trip per table was most of their time)."""
    tables = metadata.sorted_tables
    counts = [select(func.count()).select_from(t).scalar_subquery() for t in tables]
    with engine.connect() as conn:
        row = conn.execute(select(*counts)).one()
    return {t.name: n for t, n in zip(tables, row, strict=True)}
