"""0008 (caller keys): the callers' keys stored before keys were namespaced, in the form of one of
Kopilka's own, are moved out of the way; Kopilka's own rows stay and still answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select

from kopilka.store.migrate import downgrade, upgrade
from kopilka.store.tables import idempotency_keys
from tests.conftest import scratch_postgres

LONG = "purchase:" + "x" * 242  # 251 characters: no room for caller:legacy:


@pytest.fixture(params=["sqlite", "postgres"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, which the test may migrate up and down."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails) like the other tests
    with scratch_postgres("kopilka_idem") as url:
        yield url


Row = tuple[str, str] | tuple[str, str, bool, dict[str, Any]]


def _rows(url: str, rows: list[Row] | None = None) -> dict[str, str]:
    """Insert ``(key, operation[, succeeded, response])`` rows if given; the stored keys
    and their operations."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for key, operation, *outcome in rows or []:
                succeeded, response = outcome or (True, {"stored": key})
                conn.execute(
                    insert(idempotency_keys).values(
                        program_id=1,
                        key=key,
                        operation=operation,
                        request_hash="0" * 64,
                        succeeded=succeeded,
                        response=response,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    )
                )
            c = idempotency_keys.c
            return {str(k): str(o) for k, o in conn.execute(select(c.key, c.operation)).all()}
    finally:
        engine.dispose()


def test_squatting_callers_keys_move_and_own_keys_stay(scratch_url: str) -> None:
    """Under purchase:, return:, event: and import:, a row of another operation, or a
    success whose answer names another receipt, return or event (a caller's), moves to
    caller:legacy:<key> (or, with no room for the prefix, is deleted); the receipt's, the
    return's, the event's and the import's own rows (imported receipts and refusals
    included), a caller's ordinary key, a key differing only in case and the demo's keys
    are left as they were."""
    upgrade(scratch_url)
    downgrade(scratch_url, "0008-1")
    _rows(
        scratch_url,
        [
            ("purchase:R-1", "earn"),
            ("purchase:R-2", "purchase", True, {"receipt_id": "R-2", "points_earned": 3}),
            ("purchase:R-3", "purchase", True, {"receipt_id": "R-4", "points_earned": 3}),
            ("purchase:R-5", "purchase", False, {"code": "insufficient_points"}),
            ("purchase:R-6", "purchase", True, {"receipt_id": "R-6", "imported": True}),
            ("return:R-2:X-1", "hold"),
            ("return:R-2:X-2", "return", True, {"receipt_id": "R-2", "return_id": "X-2"}),
            ("return:R-2:X-3", "return", True, {"receipt_id": "R-2", "return_id": "X-9"}),
            ("event:E-1", "redeem"),
            ("event:E-2", "event", True, {"event_id": "E-2", "points_earned": 20}),
            ("event:E-3", "event", True, {"event_id": "E-4", "points_earned": 20}),
            ("import:purchases:abc", "adjust"),
            ("import:purchases:def", "import"),
            ("PURCHASE:R-3", "earn"),
            ("order-7", "earn"),
            ("demo:42:earn:1", "earn"),
            (LONG, "earn"),
        ],
    )
    upgrade(scratch_url)
    assert _rows(scratch_url) == {
        "caller:legacy:purchase:R-1": "earn",
        "purchase:R-2": "purchase",
        "caller:legacy:purchase:R-3": "purchase",
        "purchase:R-5": "purchase",
        "purchase:R-6": "purchase",
        "caller:legacy:return:R-2:X-1": "hold",
        "return:R-2:X-2": "return",
        "caller:legacy:return:R-2:X-3": "return",
        "caller:legacy:event:E-1": "redeem",
        "event:E-2": "event",
        "caller:legacy:event:E-3": "event",
        "caller:legacy:import:purchases:abc": "adjust",
        "import:purchases:def": "import",
        "PURCHASE:R-3": "earn",
        "order-7": "earn",
        "demo:42:earn:1": "earn",
    }
