"""Failed sign-ins counted in Redis (``KOPILKA_SIGN_IN_STORE=redis://...``): shared by the
workers and servers using one store, kept apart per area, and a store that does not
answer lets sign-ins through rather than lock everyone out.

Needs Redis (the ``redis_store`` fixture of tests/conftest.py)."""

from __future__ import annotations

import logging
import socket
import uuid

import pytest

from kopilka.web.throttle import SignInThrottle


@pytest.fixture
def area(redis_store: str) -> str:
    """An area name of this test's own, so that runs never see each other's counts."""
    return f"test-{uuid.uuid4().hex}"


def test_workers_sharing_a_store_share_the_counts(redis_store: str, area: str) -> None:
    first, second = (SignInThrottle("3 per minute", redis_store, area) for _ in range(2))
    first.failed("10.0.0.1", "card-1")
    second.failed("10.0.0.1", "card-2")
    assert first.retry_after("10.0.0.1") is None
    second.failed("10.0.0.1", "card-3")
    assert 1 <= (first.retry_after("10.0.0.1") or 0) <= 60
    assert 1 <= (second.retry_after("10.0.0.1") or 0) <= 60
    assert first.retry_after("10.0.0.2", "card-4") is None


def test_a_success_clears_the_identity_for_every_worker(redis_store: str, area: str) -> None:
    first, second = (SignInThrottle("2 per minute", redis_store, area) for _ in range(2))
    first.failed("10.0.0.1", "card-1")
    second.failed("10.0.0.2", "card-1")
    assert first.retry_after("10.0.0.3", "card-1") is not None
    second.succeeded("card-1")
    assert first.retry_after("10.0.0.3", "card-1") is None


def test_areas_sharing_a_store_count_apart(redis_store: str, area: str) -> None:
    portal = SignInThrottle("1 per minute", redis_store, f"{area}-portal")
    console = SignInThrottle("1 per minute", redis_store, f"{area}-admin")
    portal.failed("10.0.0.1")
    assert portal.retry_after("10.0.0.1") is not None
    assert console.retry_after("10.0.0.1") is None


def test_a_store_that_does_not_answer_lets_sign_ins_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    throttle = SignInThrottle("1 per minute", f"redis://127.0.0.1:{port}/0", "portal")
    with caplog.at_level(logging.WARNING, logger="kopilka.web"):
        throttle.failed("10.0.0.1", "card-1")
        throttle.failed("10.0.0.1", "card-1")
        assert throttle.retry_after("10.0.0.1", "card-1") is None
        throttle.succeeded("card-1")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["sign-in counts unavailable, not limiting: ConnectionError"] * 4
    assert not any("10.0.0.1" in m or "card-1" in m for m in messages)
