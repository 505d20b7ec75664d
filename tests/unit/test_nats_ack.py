"""What the NATS channel makes of a JetStream acknowledgement: stored and duplicate are
delivered; an error, a no-responders status or an answer that is not JSON is a failed
attempt with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.msg import Msg

from kopilka.services.nats import ack_error


def ack(data: bytes, headers: dict[str, str] | None = None) -> Msg:
    client: Any = None  # the channel reads only the data and the headers
    return Msg(client, subject="_INBOX.x.1", data=data, headers=headers)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (ack(b'{"stream":"KOPILKA","seq":7}'), None),
        (ack(b'{"stream":"KOPILKA","seq":7,"duplicate":true}'), None),
        (
            ack(b'{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}'),
            "APIError: 503 jetstream not enabled",
        ),
        (ack(b"", {"Status": "503"}), "NoRespondersError: no stream takes the subject"),
        (ack(b"", {"Status": "408"}), "APIError: status 408"),
        (ack(b"<html>"), "APIError: the acknowledgement is not JSON"),
    ],
)
def test_an_acknowledgement_is_read_as_stored_or_as_its_error(message: Msg, error: str | None):
    """Each acknowledgement maps to no error (stored, or a duplicate of an id stored) or
    to the error the delivery log shows."""
    assert ack_error(message) == error
