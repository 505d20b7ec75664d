"""An unhandled error is answered with a 500 problem and logged once, cheaply: no second
traceback from the server, no frame's local variables rendered, the worker free at once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.logging import configure_logging
from kopilka.settings import load_settings


@pytest.fixture
def json_logs() -> Iterator[None]:
    """The process's logging as a server sets it up (JSON), put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(load_settings(log_json=True))
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


class Slow:
    """A frame local whose ``repr`` takes seconds (a pretty printer of locals calls it)."""

    reprs = 0

    def __repr__(self) -> str:
        Slow.reprs += 1
        time.sleep(3)
        return "slow"


def broken(*_a: Any, **_k: Any) -> Any:
    big = Slow()  # noqa: F841 (a frame local)
    raise RuntimeError("a bug")


def test_a_500_is_logged_once_and_frees_the_worker_at_once(
    kopilka: Kopilka,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    json_logs: None,
) -> None:
    """The error does not leave the application (the test client, like uvicorn, would
    see it raised and log it again), the 500 and the next request come back at once,
    and the log has one error record, its traceback as text."""
    from kopilka.api.routers import admin as admin_router

    monkeypatch.setattr(admin_router.audit_svc, "verify_ledger", broken)
    Slow.reprs = 0
    capsys.readouterr()
    with TestClient(create_app(kopilka)) as c:  # raises what the application raises
        r = c.get("/v1/admin/verify", headers=admin)
        assert c.get("/healthz").status_code == 200
    assert r.status_code == 500, r.text
    assert r.json()["code"] == "internal_error"
    # what froze a worker for seconds was rendering the frame locals (Slow's repr takes
    # 3 s): proven structurally, not by a clock that a loaded machine would make flaky
    assert Slow.reprs == 0
    logging.getLogger().handlers[0].flush()
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    errors = [x for x in records if x["level"] in ("error", "critical")]
    assert [x["event"] for x in errors] == ["unhandled error on GET /v1/admin/verify"]
    assert errors[0]["exception"].startswith("Traceback (most recent call last)")
    assert errors[0]["exception"].endswith("RuntimeError: a bug")
