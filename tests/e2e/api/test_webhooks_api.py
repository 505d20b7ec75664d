"""``/v1/webhooks`` on both databases: subscriptions added (the secret answered once),
listed, read, changed and removed; the SSRF guard and unknown types refused as 422; a
subscription's delivery log; redelivery of one event and of a time range."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import delivery, outbox
from kopilka.services.delivery import Sent
from kopilka.services.outbox import EventEnvelope
from tests.e2e.api.conftest import KeyFactory

HOOK = "https://93.184.215.14/hook"  # public, as an IP literal: no DNS lookup


class Refusing:
    """A webhook channel whose receiver answers 503 to everything."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []

    def send(self, event: EventEnvelope) -> Sent:
        self.sent.append(event["id"])
        return Sent(False, 503, "HTTP 503")

    def close(self) -> None:
        """Nothing to release."""


def test_subscriptions_are_added_listed_changed_and_removed(
    client: TestClient, key_for: KeyFactory
) -> None:
    """The secret is in the creation's answer only; a change keeps it; a removed
    subscription is gone (404), and another program's key does not see it."""
    admin = key_for("admin")
    made = client.post(
        "/v1/webhooks", json={"url": HOOK, "event_types": ["purchase.committed"]}, headers=admin
    )
    assert made.status_code == 201, made.text
    sub = made.json()
    assert sub["secret"].startswith("whsec_")
    listed = client.get("/v1/webhooks", headers=admin).json()
    assert listed == [{k: v for k, v in sub.items() if k != "secret"}]
    assert "secret" not in client.get(f"/v1/webhooks/{sub['id']}", headers=admin).json()
    changed = client.patch(
        f"/v1/webhooks/{sub['id']}", json={"event_types": []}, headers=admin
    ).json()
    assert changed["event_types"] == []
    assert changed["url"] == HOOK
    assert client.delete(f"/v1/webhooks/{sub['id']}", headers=admin).status_code == 204
    gone = client.get(f"/v1/webhooks/{sub['id']}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"
    assert client.get("/v1/webhooks", headers=admin).json() == []


def test_private_addresses_bad_types_and_bad_ranges_are_refused(
    client: TestClient, key_for: KeyFactory
) -> None:
    """Loopback and private addresses (the SSRF guard), an unknown event type, a
    non-http URL and a redelivery naming neither an event nor a range are 422, and
    nothing is added."""
    admin = key_for("admin")
    for url in ("http://127.0.0.1:8080/x", "http://10.0.0.5/x", "ftp://93.184.215.14/x"):
        answer = client.post("/v1/webhooks", json={"url": url}, headers=admin)
        assert answer.status_code == 422, url
        assert answer.json()["code"] == "validation_error"
    bad_type = client.post(
        "/v1/webhooks", json={"url": HOOK, "event_types": ["points.stolen"]}, headers=admin
    )
    assert bad_type.status_code == 422
    assert "points.stolen" in bad_type.text
    assert client.get("/v1/webhooks", headers=admin).json() == []
    sub = client.post("/v1/webhooks", json={"url": HOOK}, headers=admin).json()
    neither = client.post(f"/v1/webhooks/{sub['id']}/redeliver", json={}, headers=admin)
    assert neither.status_code == 422


def test_the_log_shows_failed_attempts_and_redelivery_makes_them_due_again(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory, make_member
) -> None:
    """After a delivery run against a receiver answering 503, the log lists each
    attempt with its event, type, status code and the delivery still pending;
    redelivering one event or a time range makes exactly those due again."""
    ctx = kopilka.services
    admin = key_for("admin")
    sub = client.post("/v1/webhooks", json={"url": HOOK}, headers=admin).json()
    first = make_member(program)
    ctx.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    second = make_member(program)
    channel = Refusing(f"webhook:{sub['id']}")
    delivery.run_delivery(ctx, program, [channel], "test-holder")
    assert len(channel.sent) == 2
    log = client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=admin).json()
    assert {(row["event_type"], row["status_code"], row["status"]) for row in log} == {
        ("member.enrolled", 503, "pending")
    }
    assert len(log) == 2
    (event,) = outbox.member_events(ctx, program, second)
    one = client.post(
        f"/v1/webhooks/{sub['id']}/redeliver", json={"event_id": event["id"]}, headers=admin
    )
    assert one.json() == {"redelivered": 1}
    (early,) = outbox.member_events(ctx, program, first)
    ranged = client.post(
        f"/v1/webhooks/{sub['id']}/redeliver",
        json={"since": early["created_at"], "until": event["created_at"]},
        headers=admin,
    )
    assert ranged.json() == {"redelivered": 1}
    # both are due now, with their attempts reset: a run sends both again
    channel.sent.clear()
    delivery.run_delivery(ctx, program, [channel], "test-holder")
    assert sorted(channel.sent) == sorted([early["id"], event["id"]])


def test_a_support_key_may_not_see_subscriptions(client: TestClient, key_for: KeyFactory) -> None:
    """Secrets and targets of webhooks are an admin's: support is refused (403)."""
    answer = client.get("/v1/webhooks", headers=key_for("support"))
    assert answer.status_code == 403
