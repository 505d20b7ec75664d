"""Structured logs: JSON or console lines, and no secret or personal data in them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import structlog

from kopilka.logging import (
    BODY_SCOPE_KEY,
    MASK,
    configure_logging,
    failed_request,
    get_logger,
    is_sensitive,
    redact,
    scrub_text,
)
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


def test_multipart_parser_warnings_about_client_bodies_are_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The multipart parser's warning about a malformed body a client sent (answered with
    a 4xx) is not logged; its errors still are."""
    configure_logging(load_settings(log_level="info"))
    parser = logging.getLogger("python_multipart.multipart")
    parser.warning("Found invalid character 32 in header")
    parser.error("the parser failed")
    err = capsys.readouterr().err
    assert "invalid character" not in err
    assert "the parser failed" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an access log line: a lookup's value, however encoded; safe parameters stay
        (
            '"GET /v1/members/lookup?kind=card&value=C1000-0001 HTTP/1.1" 200',
            f'"GET /v1/members/lookup?kind=card&value={MASK} HTTP/1.1" 200',
        ),
        (
            "GET /v1/members/lookup?kind=email&value=x%40y.org",
            f"GET /v1/members/lookup?kind=email&value={MASK}",
        ),
        ("GET /portal?before=120&done=withdrawn", "GET /portal?before=120&done=withdrawn"),
        # an e-mail URL-encoded outside a query string, a plus in it encoded too
        ("mailto:anna%2Bshop%40example.com", f"mailto:{MASK}"),
        ("ANNA%40EXAMPLE.COM", MASK),
        # an API key anywhere
        (
            "Bearer kp_0123456789ab_" + "A" * 43 + " was refused",
            f"Bearer {MASK} was refused",
        ),
        # what a database error quotes of the statement's values
        (
            "[SQL: SELECT 1 WHERE v = ?]\n[parameters: ('C1000-0001', 'a@b.co')]\n(Background",
            f"[SQL: SELECT 1 WHERE v = ?]\n[parameters: {MASK}]\n(Background",
        ),
        (
            "DETAIL:  Key (program_id, kind, value)=(1, card, C1000-0001) already exists.",
            f"DETAIL:  Key (program_id, kind, value)=({MASK}) already exists.",
        ),
    ],
)
def test_text_is_scrubbed_of_what_names_or_unlocks(text: str, expected: str) -> None:
    """Query-string values (but the few safe parameters), e-mails also URL-encoded, API
    keys and the values a database error quotes are masked in any logged text."""
    assert scrub_text(text) == expected


class _Secretive:
    """A frame local whose ``repr`` would leak and take its time: it must never be used."""

    reprs = 0

    def __repr__(self) -> str:
        _Secretive.reprs += 1
        time.sleep(1)
        return "card=C1000-0001"


def _fail_with_secrets_in_locals() -> None:
    authorization = "Bearer kp_0123456789ab_" + "B" * 43  # noqa: F841 (a frame local)
    body = {"card": "C1000-0001", "email": "anna@example.com"}  # noqa: F841
    secretive = _Secretive()  # noqa: F841
    raise RuntimeError("failed for anna@example.com")


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
def test_traceback_is_text_without_locals_and_redacted(
    log_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exception logged through the stdlib (as the API's handler does) is a plain
    traceback: no local variable is shown (nor its repr called), the message is
    redacted, and in JSON it is the text of an ``exception`` field."""
    configure_logging(load_settings(log_json=log_json))
    _Secretive.reprs = 0
    try:
        _fail_with_secrets_in_locals()
    except RuntimeError as e:
        logging.getLogger("kopilka.api").error("unhandled error on GET /x", exc_info=e)
    err = capsys.readouterr().err
    assert _Secretive.reprs == 0
    for secret in ("C1000-0001", "anna@example.com", "B" * 43):
        assert secret not in err
    assert f"RuntimeError: failed for {MASK}" in err
    if log_json:
        [line] = err.strip().splitlines()
        record = json.loads(line)
        assert record["exception"].startswith("Traceback (most recent call last)")
        assert "_fail_with_secrets_in_locals" in record["exception"]
    else:
        assert "Traceback (most recent call last)" in err
        assert "_fail_with_secrets_in_locals" in err


def test_objects_are_logged_by_their_type_only(capsys: pytest.CaptureFixture[str]) -> None:
    """A value that is not plain data is rendered as its type's name, never its repr;
    dates, decimals and the like as their text."""
    configure_logging(load_settings(log_json=True))
    get_logger("kopilka.test").info(
        "odd", thing=_Secretive(), at=datetime(2026, 3, 14, tzinfo=UTC), amount=Decimal("1.50")
    )
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["thing"] == "<_Secretive>"
    assert (record["at"], record["amount"]) == ("2026-03-14 00:00:00+00:00", "1.50")


class _SlowStderr(io.StringIO):
    """A stderr whose reader drains the pipe slowly: each write blocks a while."""

    def write(self, s: str) -> int:
        time.sleep(0.5)
        return super().write(s)


def test_logging_never_holds_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a thread that runs an event loop, a record (an error with its traceback) is
    only queued: the loop goes on while a writer thread formats and writes it, even
    while that thread, or another, is stuck writing to a slow stderr; flushing the
    handler (as logging does at exit) waits until everything is written."""
    configure_logging(load_settings(log_json=True))
    slow = _SlowStderr()
    monkeypatch.setattr(sys, "stderr", slow)
    log = logging.getLogger("kopilka.api")

    def fail_and_log(n: int) -> None:
        try:
            _fail_with_secrets_in_locals()
        except RuntimeError as e:
            log.error("unhandled error %d", n, exc_info=e)

    async def on_the_loop() -> float:
        fail_and_log(0)
        await asyncio.sleep(0.1)  # the writer thread is in the middle of its slow write
        other = threading.Thread(target=fail_and_log, args=(1,))  # a slow write, no loop
        other.start()
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        for n in range(2, 5):
            fail_and_log(n)
        held = time.perf_counter() - started
        other.join()
        return held

    held = asyncio.run(on_the_loop())
    assert held < 0.4, held  # each write takes 0.5 s: waiting for one would show
    logging.getLogger().handlers[0].flush()
    lines = [json.loads(line) for line in slow.getvalue().splitlines()]
    assert sorted(r["event"] for r in lines) == [f"unhandled error {n}" for n in range(5)]
    assert all(r["exception"].startswith("Traceback") for r in lines)


def test_a_failed_requests_own_inputs_are_masked_in_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bug whose message quotes the request's card (which no pattern recognises) has
    it masked: the record of a failure carries the request's query, body and credentials,
    and each value long enough to be data is masked, as sent and URL-encoded; short
    values and plain words are left, so the traceback still reads."""
    configure_logging(load_settings(log_json=True))
    scope = {
        "query_string": b"kind=card&value=WEB7F00D1",
        BODY_SCOPE_KEY: b'{"member": {"card": "C-1000 0001"}, "lines": [{"sku": "dairy"}]}',
        "headers": [(b"x-api-key", b"kp_0123456789ab_" + b"C" * 43)],
    }
    try:
        raise ValueError("cards WEB7F00D1, C-1000%200001 and C-1000 0001 in dairy")
    except ValueError as e:
        logging.getLogger("kopilka.api").error("failed", exc_info=e, extra=failed_request(scope))
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["exception"].endswith(f"ValueError: cards {MASK}, {MASK} and {MASK} in dairy")
