"""The member card as support's daily tool: profile and identifiers edited, a lost card
replaced, a hold voided, points adjusted with a text for the member; each destructive
action confirmed and given a reason; personal data masked for roles without it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kopilka.api.app import create_app
from kopilka.services import members as member_svc
from kopilka.services import points
from kopilka.services.audit_log import audit_page
from kopilka.services.points import PlaceHold
from tests.e2e.web.world import hidden_fields, portal_sign_in, text_of


def url(world, tail: str = "") -> str:
    return f"/admin/members/{world.member_id}{tail}"


def post_form(c, world, action: str, index: int = 0, **data):
    """Post the card's form to ``action`` with its hidden fields (CSRF token, key)."""
    fields = hidden_fields(c.get(url(world)).text, action, index)
    return c.post(action, data={**fields, **data})


def confirm(c, page, action: str):
    """Post the confirm page's form again, with ``confirmed``."""
    assert page.status_code == 200, page.text
    fields = hidden_fields(page.text, action)
    assert fields["confirmed"] == "yes"
    return c.post(action, data=fields)


def api_client(world) -> TestClient:
    return TestClient(create_app(world.kopilka))


def audited(world, action: str):
    rows = audit_page(world.ctx, world.program.id, target=f"member:{world.member_id}")["items"]
    return [r for r in rows if r.action == action]


def test_replacing_a_lost_card_retires_the_old_one(world, as_role):
    """Support replaces a lost card: a confirm page says what will happen, then the old
    number finds nobody through the API (404), the new one finds the member, history
    stays, and the audit row has both numbers masked and the reason."""
    c = as_role("support")
    action = url(world, "/card")
    new = f"NEW{world.card[3:]}"
    step = post_form(
        c, world, action, new_card=new.lower(), reason_code="lost_card", reason_note="lost bag"
    )
    text = text_of(step.text)
    assert f"Replace card {world.card} of Anna P. by {new}" in text
    assert "Lost or damaged card" in text
    assert member_svc.lookup(world.ctx, world.program, "card", world.card).id == world.member_id
    done = confirm(c, step, action)
    assert done.status_code == 303
    assert done.headers["location"] == url(world, "?done=card")
    page = text_of(c.get(done.headers["location"]).text)
    assert "The card is replaced" in page
    assert new in page
    assert "welcome gift" in page  # the history stays with the member
    api = api_client(world)
    headers = {"Authorization": f"Bearer {world.keys['support']}"}
    old = api.get(
        "/v1/members/lookup", params={"kind": "card", "value": world.card}, headers=headers
    )
    assert old.status_code == 404
    assert old.json()["code"] == "not_found"
    found = api.get("/v1/members/lookup", params={"kind": "card", "value": new}, headers=headers)
    assert found.json()["id"] == world.member_id
    (row,) = audited(world, "member.card_replaced")
    assert row.before == {"card": ["*" * (len(world.card) - 4) + world.card[-4:]]}
    assert row.after["card"] == ["*" * (len(new) - 4) + new[-4:]]
    assert row.after["reason"] == "lost_card: lost bag"
    assert row.after["reason_code"] == "lost_card"


def test_a_card_replacement_is_refused_clearly(ctx, world, as_role):
    """Another member's card is a duplicate, a bad number or a missing reason is a
    validation error, a marketer is refused: nothing changes."""
    c = as_role("admin")
    action = url(world, "/card")
    cases = [
        ({"new_card": "XY", "reason_code": "lost_card"}, 422, "card number must be"),
        ({"new_card": "GOOD-1234", "reason_code": ""}, 422, "choose a reason"),
        ({"new_card": "GOOD-1234", "reason_code": "other"}, 422, "describe the reason"),
    ]
    for data, status, message in cases:
        response = post_form(c, world, action, **data)
        assert response.status_code == status, data
        assert message in response.text
    # another member's card is found taken when the replacement is confirmed
    member_svc.enroll(
        ctx, world.program, member_svc.Enroll(member_svc.identifiers([("card", "TAKEN-1234")]))
    )
    step = post_form(c, world, action, new_card="TAKEN-1234", reason_code="lost_card")
    refused = confirm(c, step, action)
    assert refused.status_code == 409
    assert "duplicate_identifier" in refused.text
    assert member_svc.lookup(world.ctx, world.program, "card", world.card).id == world.member_id
    marketer = as_role("marketer")
    token = hidden_fields(marketer.get("/admin").text, "/admin/sign-out")["csrf_token"]
    forbidden = marketer.post(
        action,
        data={
            "csrf_token": token,
            "idempotency_key": "m-1",
            "new_card": "MKT-1234",
            "reason_code": "lost_card",
            "confirmed": "yes",
        },
    )
    assert forbidden.status_code == 403
    assert audited(world, "member.card_replaced") == []


def test_editing_the_profile_and_the_contacts(world, as_role):
    """Support edits names, birthday and gender, and replaces the e-mail and adds a phone
    (normalised); each change is audited; a taken phone is a clear duplicate."""
    c = as_role("support")
    saved = post_form(
        c,
        world,
        url(world, "/profile"),
        first_name="Anya",
        last_name="Petrova",
        birthday="1990-05-17",
        gender="female",
        attributes='{"city": "Kazan"}',
    )
    assert saved.status_code == 303, saved.text
    member = member_svc.get_member(world.ctx, world.program, world.member_id)
    assert (member.first_name, str(member.birthday), member.gender) == (
        "Anya",
        "1990-05-17",
        "female",
    )
    assert member.attributes == {"city": "Kazan"}
    (row,) = audited(world, "member.profile_update")
    assert row.before["first_name"] == "Anna"
    assert row.after["first_name"] == "Anya"
    assert "last_name" not in row.after  # only what changed
    contact = url(world, "/contact")
    replaced = post_form(
        c, world, contact, kind="email", value=" Anya@Example.COM ", replaces=world.email
    )
    assert replaced.status_code == 303
    added = post_form(c, world, contact, kind="phone", value="8 (912) 000-11-22", replaces="")
    assert added.status_code == 303
    member = member_svc.get_member(world.ctx, world.program, world.member_id)
    assert member.identifiers["email"] == ["anya@example.com"]
    assert sorted(member.identifiers["phone"]) == sorted([world.phone, "+79120001122"])
    rows = audited(world, "member.identifier_change")
    assert len(rows) == 2
    assert "anya@example.com" not in str([r.after for r in rows])  # masked
    taken = member_svc.enroll(
        world.ctx,
        world.program,
        member_svc.Enroll(member_svc.identifiers([("phone", "+79125550000")])),
    )
    assert taken.id
    duplicate = post_form(c, world, contact, kind="phone", value="+7 912 555-00-00")
    assert duplicate.status_code == 409
    assert "duplicate_identifier" in duplicate.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birthday", "17.05.1990", "the birthday must be a date"),
        ("attributes", "[1, 2]", "attributes must be a JSON object"),
        ("gender", "robot", "choose a gender from the list"),
        ("first_name", "x" * 101, "first_name must be text of at most 100"),
    ],
)
def test_a_bad_profile_is_refused_and_nothing_changes(world, as_role, field, value, message):
    """Bad input to the profile form is shown with its message; the member is unchanged."""
    c = as_role("admin")
    before = member_svc.get_member(world.ctx, world.program, world.member_id)
    response = post_form(c, world, url(world, "/profile"), **{field: value})
    assert response.status_code == 422
    assert message in response.text
    assert member_svc.get_member(world.ctx, world.program, world.member_id) == before


def test_a_birthday_changes_at_most_once_in_the_interval(world, as_role):
    """The card respects the birthday-change interval of the PATCH API."""
    c = as_role("support")
    assert post_form(c, world, url(world, "/profile"), birthday="1990-05-17").status_code == 303
    again = post_form(c, world, url(world, "/profile"), birthday="1991-05-17")
    assert again.status_code == 409
    assert "birthday_change_too_soon" in again.text


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_roles_without_personal_data_see_it_masked_and_cannot_edit(world, as_role, role):
    """A marketer or an analyst reads the card with names, card, phone and e-mail masked,
    and has no editing forms; a post is 403. Support reads them in full."""
    page = as_role(role).get(url(world))
    assert page.status_code == 200
    text = text_of(page.text)
    for secret in (world.card, world.phone, world.email, "Anna Petrova"):
        assert secret not in text
    assert world.card[-4:] in text
    assert "A*** P***" in text
    assert "/profile" not in page.text
    assert "/card" not in page.text
    c = as_role(role)
    token = hidden_fields(c.get("/admin").text, "/admin/sign-out")["csrf_token"]
    refused = c.post(
        url(world, "/profile"),
        data={"csrf_token": token, "idempotency_key": "r-1", "first_name": "X"},
    )
    assert refused.status_code == 403
    full = text_of(as_role("support").get(url(world)).text)
    for shown in (world.card, world.phone, world.email, "Anna Petrova"):
        assert shown in full


def test_voiding_a_hold_from_the_card(world, as_role, anon):
    """The card lists the member's active holds; support voids one with a reason and a
    text for the member: confirmed, the points come back, the audit has it, and the
    portal shows the member's text, never the note."""
    held = points.hold(
        world.ctx,
        world.program,
        PlaceHold(world.member_id, 30, key=f"till-{world.card}", store="S1"),
    )
    hold_id = int(held["hold_id"])
    c = as_role("support")
    page = c.get(url(world))
    text = text_of(page.text)
    assert "Active holds" in text
    assert "S1 30" in text
    action = url(world, f"/holds/{hold_id}/void")
    before = member_svc.get_balance(world.ctx, world.program, world.member_id)
    step = post_form(
        c,
        world,
        action,
        reason_code="customer_request",
        reason_note="till froze, ticket 4411",
        member_text="Your reserved points are back",
    )
    assert f"Void hold {hold_id} of Anna P.: 30 points go back; balance" in text_of(step.text)
    done = confirm(c, step, action)
    assert done.status_code == 303
    after = member_svc.get_balance(world.ctx, world.program, world.member_id)
    assert (after.available, after.held) == (before.available + 30, before.held - 30)
    shown = text_of(c.get(done.headers["location"]).text)
    assert "The hold is voided" in shown
    assert "till froze, ticket 4411" in shown  # support reads the note
    (row,) = audited(world, "hold.void")
    assert row.after["hold_id"] == hold_id
    assert row.after["reason_code"] == "customer_request"
    again = confirm(c, step, action)  # the same key: one effect
    assert again.status_code == 303
    assert member_svc.get_balance(world.ctx, world.program, world.member_id) == after
    portal_sign_in(anon, world)
    portal = text_of(anon.get("/portal").text)
    assert "30 reserved points returned to your balance: Your reserved points are back" in portal
    assert "ticket 4411" not in portal


def test_void_refusals(world, as_role):
    """No reason is 422; an analyst (no holds:void) is 403; another member's hold is 404."""
    held = points.hold(
        world.ctx, world.program, PlaceHold(world.member_id, 10, key=f"h-{world.card}")
    )
    hold_id = int(held["hold_id"])
    c = as_role("support")
    action = url(world, f"/holds/{hold_id}/void")
    missing = post_form(c, world, action, reason_code="")
    assert missing.status_code == 422
    assert "choose a reason" in missing.text
    analyst = as_role("analyst")
    assert f"/holds/{hold_id}/void" not in analyst.get(url(world)).text
    token = hidden_fields(analyst.get("/admin").text, "/admin/sign-out")["csrf_token"]
    refused = analyst.post(
        action,
        data={"csrf_token": token, "idempotency_key": "a-1", "reason_code": "goodwill"},
    )
    assert refused.status_code == 403
    fields = hidden_fields(c.get(url(world)).text, action)
    elsewhere = c.post(
        f"/admin/members/{world.member_id + 1}/holds/{hold_id}/void",
        data={**fields, "reason_code": "goodwill"},
    )
    assert elsewhere.status_code == 404
    assert member_svc.get_balance(world.ctx, world.program, world.member_id).held == 10


def test_an_adjustment_tells_the_member_its_text_not_the_note(world, as_role, anon):
    """The member reads the text support wrote for them; support's history shows the
    code, the note and that text."""
    c = as_role("support")
    action = url(world, "/adjust")
    step = post_form(
        c,
        world,
        action,
        delta="200",
        reason_code="service_failure",
        reason_note="POS-7 offline on 12 March",
        member_text="Points for your purchase on 12 March",
    )
    assert "Add 200 points to Anna P.; balance 300 → 500." in text_of(step.text)
    assert confirm(c, step, action).status_code == 303
    history = text_of(c.get(url(world)).text)
    assert "service_failure: POS-7 offline on 12 March" in history
    assert "Points for your purchase on 12 March" in history
    portal_sign_in(anon, world)
    portal = text_of(anon.get("/portal").text)
    assert "200 points added: Points for your purchase on 12 March" in portal
    assert "POS-7" not in portal
    assert "300 points added by customer service" in portal  # an old entry: no note shown
    assert "welcome gift" not in portal


def test_a_store_bound_support_key_sees_only_its_stores_holds(world):
    """A support key made for store S2 is not shown (nor may void) the S1 till's hold;
    one made for S1 is."""
    from kopilka.services import apikeys
    from tests.e2e.web.world import client, sign_in

    points.hold(
        world.ctx, world.program, PlaceHold(world.member_id, 12, key=f"s1-{world.card}", store="S1")
    )
    for store, shown in (("S2", False), ("S1", True)):
        _, secret = apikeys.create_key(world.ctx, world.program.code, "support", store, store)
        c = client(world)
        assert sign_in(c, secret).status_code == 303
        page = c.get(url(world)).text
        assert ("/void" in page) is shown, store
