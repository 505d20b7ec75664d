"""The console's webhooks pages (/admin/webhooks): an admin adds a subscription and sees
its secret once, reads its delivery log, and redelivers one event or a time range, each
after a confirmation; removing asks first too; the pages speak Russian; other roles see
neither the link nor the pages."""

from __future__ import annotations

from kopilka.services import delivery, outbox
from kopilka.services import webhooks as webhook_svc
from kopilka.services.delivery import Sent
from tests.e2e.web.world import hidden_fields, text_of

HOOK = "https://93.184.215.14/hook"  # public, as an IP literal: no DNS lookup
RU = {"Accept-Language": "ru"}


class Refusing:
    """A webhook channel whose receiver answers 503."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []

    def send(self, event):
        self.sent.append(event["id"])
        return Sent(False, 503, "HTTP 503")

    def close(self) -> None:
        """Nothing to release."""


def add_failed_delivery(world) -> int:
    """A subscription whose receiver answered 503 to the world's events (its log has
    lines); returns its id."""
    sub = webhook_svc.add_subscription(world.ctx, world.program, webhook_svc.AddSubscription(HOOK))
    delivery.run_delivery(world.ctx, world.program, [Refusing(f"webhook:{sub['id']}")], "test")
    return sub["id"]


def _token(c) -> str:
    return hidden_fields(c.get("/admin").text, "/admin/sign-out")["csrf_token"]


def test_admin_adds_a_subscription_and_sees_its_secret_once(world, as_role):
    """The form adds a subscription with the ticked types; the answer shows the secret,
    the list and the subscription's page never do; a loopback address is refused with
    the guard's message and nothing is added."""
    c = as_role("admin")
    assert 'href="/admin/webhooks"' in c.get("/admin").text
    token = _token(c)
    refused = c.post("/admin/webhooks", data={"csrf_token": token, "url": "http://127.0.0.1/x"})
    assert refused.status_code == 422
    assert "private or loopback" in text_of(refused.text)
    assert webhook_svc.list_subscriptions(world.ctx, world.program) == []
    added = c.post(
        "/admin/webhooks",
        data={"csrf_token": token, "url": HOOK, "type_purchase.committed": "on"},
    )
    assert added.status_code == 201
    (sub,) = webhook_svc.list_subscriptions(world.ctx, world.program)
    assert sub["event_types"] == ["purchase.committed"]
    assert "whsec_" in added.text
    assert "whsec_" not in c.get("/admin/webhooks").text
    assert "whsec_" not in c.get(f"/admin/webhooks/{sub['id']}").text


def test_the_log_and_redelivery_of_one_event_and_of_a_range(world, as_role):
    """The log lists a failed attempt (503, still pending); "send again" asks first and
    changes nothing until confirmed; confirmed, the event is due again; a range too."""
    c = as_role("admin")
    sub = webhook_svc.add_subscription(world.ctx, world.program, webhook_svc.AddSubscription(HOOK))
    channel = Refusing(f"webhook:{sub['id']}")
    delivery.run_delivery(world.ctx, world.program, [channel], "test")
    assert channel.sent
    page = c.get(f"/admin/webhooks/{sub['id']}")
    text = text_of(page.text)
    assert "member.enrolled" in text
    assert "HTTP 503" in text
    assert "pending" in text
    event_id = channel.sent[0]
    token = _token(c)
    url = f"/admin/webhooks/{sub['id']}/redeliver"
    asked = c.post(url, data={"csrf_token": token, "event_id": event_id})
    assert asked.status_code == 200
    assert f"Send event {event_id} again to this subscription?" in text_of(asked.text)
    assert hidden_fields(asked.text, url, 0)["confirmed"] == "yes"
    done = c.post(url, data={"csrf_token": token, "event_id": event_id, "confirmed": "yes"})
    assert done.status_code == 303
    assert "done=redelivered&n=1" in done.headers["location"]
    assert "1 delivery is due again" in text_of(c.get(done.headers["location"]).text)
    (event,) = outbox.member_events(world.ctx, world.program, world.member_id)[:1]
    ranged = c.post(
        url,
        data={"csrf_token": token, "since": "2000-01-01T00:00", "confirmed": "yes"},
    )
    assert ranged.status_code == 303
    assert event["id"] in {
        r["event_id"] for r in webhook_svc.delivery_log(world.ctx, world.program, sub["id"])
    }


def test_removal_asks_first_and_pages_speak_russian(world, as_role):
    """Removing shows a confirmation and removes nothing until confirmed; the pages read
    in Russian."""
    c = as_role("admin")
    sub = webhook_svc.add_subscription(world.ctx, world.program, webhook_svc.AddSubscription(HOOK))
    token = _token(c)
    url = f"/admin/webhooks/{sub['id']}/remove"
    asked = c.post(url, data={"csrf_token": token})
    assert "Stop sending events to this subscription?" in text_of(asked.text)
    assert len(webhook_svc.list_subscriptions(world.ctx, world.program)) == 1
    assert c.post(url, data={"csrf_token": token, "confirmed": "yes"}).status_code == 303
    assert webhook_svc.list_subscriptions(world.ctx, world.program) == []
    ru = text_of(c.get("/admin/webhooks?done=removed", headers=RU).text)
    assert "Вебхуки" in ru
    assert "Подписка удалена" in ru


def test_other_roles_are_refused(as_role):
    """Support, analyst and marketer have no webhooks:manage: no link, and a 403."""
    for role in ("support", "analyst", "marketer"):
        c = as_role(role)
        assert 'href="/admin/webhooks"' not in c.get("/admin").text, role
        assert c.get("/admin/webhooks").status_code == 403, role
