"""A form's idempotency key is sent by the browser, so it is stored in the signed-in
caller's namespace: a tampered key can neither take a receipt's or an event's key nor
another caller's."""

from __future__ import annotations

from kopilka.services import events as event_svc
from kopilka.services import members as member_svc
from kopilka.services import purchases as purchase_svc
from tests import commands
from tests.e2e.web.world import hidden_fields, portal_sign_in


def test_a_console_form_key_shaped_as_a_receipts_key_does_not_block_the_receipt(world, as_role):
    """An adjustment submitted with the form key ``purchase:R-77`` (as a tampering
    operator could) moves the points, and receipt R-77 is still booked afterwards."""
    c = as_role("support")
    url = f"/admin/members/{world.member_id}"
    fields = hidden_fields(c.get(url).text, f"{url}/adjust")
    before = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    data = {
        **fields,
        "idempotency_key": "purchase:R-77",
        "delta": "5",
        "reason_code": "goodwill",
        "confirmed": "yes",  # the confirm page's post
    }
    response = c.post(f"{url}/adjust", data=data)
    assert response.status_code == 303, response.text
    after = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    assert after == before + 5
    line = {"line_id": "1", "sku": "MILK", "amount": "500", "category": "dairy"}
    receipt = {"receipt_id": "R-77", "member_id": world.member_id, "lines": [line]}
    booked = purchase_svc.commit(
        world.ctx, world.program, commands.purchase(world.ctx, world.program, receipt)
    )
    assert booked["receipt_id"] == "R-77"


def test_two_operators_with_the_same_form_key_each_get_their_effect(world, as_role):
    """Two API keys submitting the same form key each adjust once: one operator's stored
    outcome is not the other's answer."""
    url = f"/admin/members/{world.member_id}"
    before = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    for role in ("support", "admin"):
        c = as_role(role)
        fields = hidden_fields(c.get(url).text, f"{url}/adjust")
        data = {
            **fields,
            "idempotency_key": "web-same",
            "delta": "3",
            "reason_code": "goodwill",
            "confirmed": "yes",
        }
        for _ in range(2):  # the same operator submitting twice: one effect
            assert c.post(f"{url}/adjust", data=data).status_code == 303
    after = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    assert after == before + 6


def test_a_portal_form_key_shaped_as_an_events_key_does_not_block_the_event(world, anon):
    """A member withdrawing a consent under the form key ``event:E-77`` leaves event E-77
    to be recorded."""
    portal_sign_in(anon, world)
    # a change of consent goes through its confirmation page, which holds the form
    page = anon.get("/portal/consents/confirm?purpose=sms&answer=withdraw").text
    sms = hidden_fields(page, "/portal/consents/withdraw")
    assert sms["purpose"] == "sms"
    response = anon.post("/portal/consents/withdraw", data={**sms, "idempotency_key": "event:E-77"})
    assert response.status_code == 303, response.text
    body = {"event_id": "E-77", "type": "review", "member_id": world.member_id}
    recorded = event_svc.record_event(world.ctx, world.program, commands.event(body))
    assert recorded["event_id"] == "E-77"
