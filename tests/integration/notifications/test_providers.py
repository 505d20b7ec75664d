"""SMS and push through the generic HTTP adapter, against a fake provider server started
in the test on 127.0.0.1 (it reads the bearer token and the JSON, answers as told), and the
log adapter, which says a message went without its text or the full address."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kopilka.domain.notifications import Channel, NotificationPolicy, QuietHours
from kopilka.services import notifications as notif
from kopilka.services.context import MessagingSettings
from kopilka.services.notifications import Notify, deliver, notify

TOKEN = "provider-token-123"


class Provider:
    """What the fake provider received, and the status it answers next."""

    def __init__(self) -> None:
        self.requests: list[tuple[str | None, dict[str, Any]]] = []
        self.status = 200


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            state.requests.append((self.headers.get("Authorization"), body))
            answer = json.dumps({"id": f"prov-{len(state.requests)}"}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        server.shutdown()
        server.server_close()


def record(ctx: Any, program: Any, **fields: Any) -> int:
    with ctx.uow() as uow:
        out = notify(uow, program, Notify(program_id=program.id, **fields), ctx.now())
        uow.commit()
    return int(out["id"])


def test_sms_and_push_go_to_the_provider_with_the_token(ctx, make_program, enroll, provider):
    """A one-time code by SMS is POSTed with the bearer token, the member's phone, the
    language and the text holding the code; the provider's id is kept as the message's
    reference. A push to a device token goes to the push URL the same way."""
    state, url = provider
    ctx = dataclasses.replace(
        ctx,
        messaging=MessagingSettings(
            sms="http", sms_url=url, sms_token=TOKEN, push="http", push_url=url, push_token=TOKEN
        ),
    )
    program = make_program()
    m = enroll(program)
    sms = record(
        ctx,
        program,
        member_id=m,
        channel=Channel.SMS,
        topic="otp_code",
        variables={"code": "246810", "minutes": 5},
    )
    push = record(
        ctx,
        program,
        member_id=m,
        channel=Channel.PUSH,
        to_address="device-token-abcdef",
        topic="otp_code",
        variables={"code": "135790", "minutes": 5},
        locale="en",
    )
    assert [d["status"] for d in deliver(ctx, program, [sms, push])] == ["sent", "sent"]
    (auth1, body1), (auth2, body2) = state.requests
    assert auth1 == auth2 == f"Bearer {TOKEN}"
    assert body1["channel"] == "sms"
    assert body1["to"].startswith("+7916")
    assert body1["language"] == "ru"
    assert "246810" in body1["text"]
    assert body2["channel"] == "push"
    assert body2["to"] == "device-token-abcdef"
    assert body2["language"] == "en"
    assert "135790" in body2["text"]
    with ctx.uow(read_only=True) as uow:
        from kopilka.store.repos.messages import MessageRepo

        row = MessageRepo(uow.conn).get(program.id, sms)
    assert row is not None
    assert row.provider_ref == "prov-1"


def test_a_provider_refusal_is_final_and_an_outage_is_retried(ctx, make_program, enroll, provider):
    """A 400 answer fails the message for good (retrying would not help); a 503 leaves it
    queued for a retry; neither error carries the address or the text."""
    state, url = provider
    ctx = dataclasses.replace(ctx, messaging=MessagingSettings(sms="http", sms_url=url))
    program = make_program()
    notif.set_policy(ctx, program, NotificationPolicy(quiet_hours=QuietHours.never()), "a")
    m = enroll(program)
    variables = {"points": 5, "date": "01.04.2026", "balance": 9}
    first = record(
        ctx, program, member_id=m, channel=Channel.SMS, topic="expiry_reminder", variables=variables
    )
    state.status = 400
    assert deliver(ctx, program, [first])[0] == {
        "id": first,
        "status": "failed",
        "error": "http: 400",
    }
    second = record(
        ctx, program, member_id=m, channel=Channel.SMS, topic="expiry_reminder", variables=variables
    )
    state.status = 503
    assert deliver(ctx, program, [second])[0] == {
        "id": second,
        "status": "queued",
        "error": "http: 503",
    }


def test_the_log_adapter_masks_and_never_logs_the_text(ctx, make_program, caplog):
    """In development a message is only logged: the masked address and the topic, never
    the code nor the full address."""
    program = make_program()
    message = record(
        ctx,
        program,
        to_address="+79161234567",
        topic="otp_code",
        variables={"code": "864200", "minutes": 5},
    )
    with caplog.at_level(logging.INFO, logger="kopilka.notifications"):
        assert deliver(ctx, program, [message])[0]["status"] == "sent"
    (line,) = [r for r in caplog.records if r.getMessage() == "message sent"]
    dumped = json.dumps(line.__dict__, default=str)
    assert "864200" not in dumped
    assert "79161234567" not in dumped
    assert line.__dict__["to"] == "********4567"
    assert line.__dict__["topic"] == "otp_code"
