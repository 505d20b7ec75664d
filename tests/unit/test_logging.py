"""Structured logs: JSON or console lines, and no secret or personal data in them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from kopilka.logging import MASK, configure_logging, get_logger, is_sensitive, redact
from kopilka.settings import load_settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures logging; the process-wide state is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.parametrize(
    "key",
    [
        "password", "db_password", "secret_key", "token", "access_token", "api_key",
        "X-Api-Key", "Authorization", "phone", "email", "card", "card_number",
        "first_name", "last_name", "birthday", "identifiers",
    ],
)  # fmt: skip
def test_sensitive_keys_are_recognised(key: str) -> None:
    """Keys that name secrets or personal data are recognised, whatever their case."""
    assert is_sensitive(key)


@pytest.mark.parametrize("key", ["member_id", "points", "program", "event", "kind", "status"])
def test_ordinary_keys_are_kept(key: str) -> None:
    """Ids, amounts and kinds are what logs are for: they stay readable."""
    assert not is_sensitive(key)


def test_redact_masks_sensitive_values_at_any_depth() -> None:
    """Sensitive keys are masked in the event, in nested dicts and in lists of dicts."""
    event = {
        "event": "member enrolled",
        "member_id": 7,
        "phone": "+79120000001",
        "profile": {"first_name": "Анна", "tier": "gold", "birthday": "1990-02-28"},
        "identifiers": [{"kind": "card", "value": "1000-0001"}],
        "headers": [{"Authorization": "Bearer kp_abc"}],
        "api_key": "kp_123_secret",
    }
    out = redact(None, "info", event)
    assert out["member_id"] == 7
    assert out["phone"] == out["api_key"] == out["identifiers"] == MASK
    assert out["profile"] == {"first_name": MASK, "tier": "gold", "birthday": MASK}
    assert out["headers"] == [{"Authorization": MASK}]


def test_redact_masks_emails_and_phones_inside_text() -> None:
    """Emails and phone numbers written into a message are masked; dates and ids are not."""
    out = redact(
        None,
        "info",
        {"event": "lookup of anna@example.com by +7 (912) 345-67-89 on 2026-03-14 for id 1234"},
    )
    assert out["event"] == f"lookup of {MASK} by {MASK} on 2026-03-14 for id 1234"


def test_json_logs_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """With log_json every line is a JSON object, already redacted, on stderr."""
    configure_logging(load_settings(log_json=True, log_level="info"))
    get_logger("kopilka.test").info("enrolled", member_id=3, email="a@example.com", points=10)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "enrolled"
    assert (record["member_id"], record["points"], record["email"]) == (3, 10, MASK)
    assert record["level"] == "info"
    assert "a@example.com" not in line


def test_stdlib_records_pass_the_same_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    """Plain logging calls from libraries are rendered and redacted the same way."""
    configure_logging(load_settings(log_json=True))
    logging.getLogger("some.library").warning("sent code to +79120000001")
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["event"] == f"sent code to {MASK}"
    assert record["logger"] == "some.library"


def test_level_filters_records(capsys: pytest.CaptureFixture[str]) -> None:
    """Records below the configured level are dropped."""
    configure_logging(load_settings(log_level="warning"))
    log = get_logger("kopilka.test")
    log.info("quiet")
    log.warning("loud", card="1000-0001")
    err = capsys.readouterr().err
    assert "quiet" not in err
    assert "loud" in err
    assert "1000-0001" not in err
