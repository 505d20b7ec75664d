"""Support's pages: search, the member page, adjustments, blocking, a purchase."""

from __future__ import annotations

import pytest

from kopilka.services import apikeys, points, purchases
from kopilka.services import members as member_svc
from kopilka.services.audit_log import audit_page
from kopilka.services.points import Earn
from tests import commands
from tests.e2e.web.world import build_world, client, hidden_fields, sign_in, text_of


def member_url(world) -> str:
    return f"/admin/members/{world.member_id}"


def search(c, kind: str, value: str):
    fields = hidden_fields(c.get("/admin/members").text, "/admin/members/search")
    return c.post("/admin/members/search", data={**fields, "kind": kind, "value": value})


@pytest.mark.parametrize("kind", ["card", "phone", "email"])
def test_search_by_an_identifier_opens_the_member(world, as_role, kind):
    """Searching by card, phone or e-mail redirects to that member's page."""
    value = {"card": world.card, "phone": world.phone, "email": world.email.upper()}[kind]
    response = search(as_role("support"), kind, value)
    assert response.status_code == 303
    assert response.headers["location"] == member_url(world)


def test_search_for_nobody_says_so(as_role):
    """An unknown identifier shows the not-found message on the search page."""
    response = search(as_role("support"), "card", "NOBODY-123")
    assert response.status_code == 404
    assert "no member with this card" in response.text


def test_search_with_an_invalid_value_shows_the_validation_error(as_role):
    """A malformed phone is a validation error shown next to the form."""
    response = search(as_role("support"), "phone", "call me")
    assert response.status_code == 422
    assert "phone must contain only digits" in response.text


def test_member_page_shows_profile_balances_history_and_purchases(world, as_role):
    """The member page shows who, what they hold (with dates), why, and their receipts."""
    page = as_role("support").get(member_url(world))
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Anna Petrova" in text
    assert world.card in text
    assert world.phone in text
    assert "marketing_email" in text
    assert "Available" in text
    assert "Pending points" in text
    assert "Expiring points" in text
    assert "adjusted by +300 points by test: welcome gift" in text  # support reads the note
    assert "earned 40 points: survey answered" in text
    assert "under rule base v1" in text or "earned" in text
    assert f'href="/admin/purchases?receipt_id={world.receipt_id}"' in page.text
    assert "2026-03-14 15:00 MSK" in text  # times in the program's zone


def test_member_page_escapes_what_members_typed(ctx, world):
    """Names are escaped: a script in a profile is shown as text, never run."""
    evil = build_world(ctx, first_name="<script>alert(1)</script>")
    c = client(evil)
    sign_in(c, evil.keys["support"])
    page = c.get(f"/admin/members/{evil.member_id}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_history_pages_with_a_cursor(world, as_role):
    """History shows 25 lines a page; 'Older' carries the cursor to the next page."""
    for i in range(30):
        points.earn(
            world.ctx, world.program, Earn(world.member_id, 1, key=f"many-{world.card}-{i}")
        )
    c = as_role("analyst")
    first = c.get(member_url(world))
    assert first.text.count('class="kind kind-') == 25
    cursor = first.text.split(f"{member_url(world)}?before=")[1].split('"')[0]
    second = c.get(f"{member_url(world)}?before={cursor}")
    assert second.status_code == 200
    assert "welcome gift" in second.text
    assert "welcome gift" not in first.text
    assert ">Newest<" in second.text


def test_marketer_sees_the_member_but_not_the_history(world, as_role):
    """A role without history:read sees profile and balances but no history or forms."""
    page = as_role("marketer").get(member_url(world))
    assert page.status_code == 200
    assert "does not read point history" in page.text
    assert "/adjust" not in page.text


def adjust(c, world, **data):
    """The adjust form posted (its first step: the confirm page, or a refusal)."""
    fields = hidden_fields(c.get(member_url(world)).text, f"{member_url(world)}/adjust")
    return c.post(f"{member_url(world)}/adjust", data={**fields, **data}), fields


def confirm(c, page, action):
    """Post the confirm page's form: the fields of the first step, with ``confirmed``."""
    assert page.status_code == 200, page.text
    fields = hidden_fields(page.text, action)
    assert fields["confirmed"] == "yes"
    return c.post(action, data=fields)


def test_an_adjustment_is_recorded_audited_and_shown_in_history(world, as_role):
    """Support adjusts with a reason: a confirm page says what will happen, then the
    balance moves, history says why, the audit log has it."""
    c = as_role("support")
    before = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    step, _ = adjust(
        c, world, delta="-25", reason_code="correction", reason_note="double-counted coupon"
    )
    assert f"Remove 25 points from Anna P.; balance {before} → {before - 25}." in text_of(step.text)
    assert member_svc.get_balance(world.ctx, world.program, world.member_id).available == before
    response = confirm(c, step, f"{member_url(world)}/adjust")
    assert response.status_code == 303
    assert response.headers["location"] == f"{member_url(world)}?done=adjusted"
    after = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    assert after == before - 25
    page = text_of(c.get(response.headers["location"]).text)
    assert "The adjustment is recorded." in page
    # the actor by the key's name and role, not the recorded "apikey:<id>:<name>"
    assert "adjusted by -25 points by support desk (support): correction: double-counted" in page
    assert "apikey:" not in page
    audit = audit_page(world.ctx, world.program.id, target=f"member:{world.member_id}")
    assert [r.action for r in audit["items"]] == ["points.adjust"]
    assert audit["items"][0].after["reason_code"] == "correction"


def test_submitting_the_same_adjust_form_twice_has_one_effect(world, as_role):
    """The form's idempotency key, carried to the confirm page, makes a double submit
    move points once."""
    c = as_role("admin")
    before = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    step, _ = adjust(c, world, delta="7", reason_code="goodwill")
    first = confirm(c, step, f"{member_url(world)}/adjust")
    again = confirm(c, step, f"{member_url(world)}/adjust")
    assert first.status_code == again.status_code == 303
    after = member_svc.get_balance(world.ctx, world.program, world.member_id).available
    assert after == before + 7


@pytest.mark.parametrize(
    ("delta", "code", "message"),
    [
        ("10", "", "choose a reason"),
        ("10", "other", "describe the reason in the note"),
        ("10", "whim", "choose a reason from the list"),
        ("ten", "goodwill", "points must be a whole number"),
        ("0", "goodwill", "delta must be a non-zero whole number"),
    ],
)
def test_a_refused_adjustment_shows_the_error_and_keeps_the_input(
    world, as_role, delta, code, message
):
    """Bad adjustments are refused at the first step with a message, the form refilled,
    nothing moved."""
    c = as_role("support")
    before = member_svc.get_balance(world.ctx, world.program, world.member_id)
    response, _ = adjust(c, world, delta=delta, reason_code=code)
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{delta}"' in response.text
    assert member_svc.get_balance(world.ctx, world.program, world.member_id) == before


def test_deducting_more_than_the_balance_is_refused_at_confirmation(world, as_role):
    """A deduction beyond the balance is refused when confirmed: the page says why and
    nothing moves."""
    c = as_role("support")
    before = member_svc.get_balance(world.ctx, world.program, world.member_id)
    step, _ = adjust(c, world, delta="-100000", reason_code="correction")
    response = confirm(c, step, f"{member_url(world)}/adjust")
    assert response.status_code in (409, 422)
    assert "insufficient" in response.text.lower()
    assert member_svc.get_balance(world.ctx, world.program, world.member_id) == before


@pytest.mark.parametrize("role", ["analyst", "marketer"])
def test_roles_without_adjust_permission_are_refused(world, as_role, role):
    """Only support and admin may adjust: others get 403 even with a valid token."""
    c = as_role(role)
    token = hidden_fields(c.get("/admin").text, "/admin/sign-out")["csrf_token"]
    for confirmed in ("", "yes"):
        response = c.post(
            f"{member_url(world)}/adjust",
            data={
                "csrf_token": token,
                "idempotency_key": "web-x",
                "delta": "5",
                "reason_code": "goodwill",
                "confirmed": confirmed,
            },
        )
        assert response.status_code == 403


def test_block_and_unblock_with_a_reason(world, as_role):
    """Support blocks with a reason (shown on the page) and unblocks, each confirmed;
    both are audited."""
    c = as_role("support")
    status_url = f"{member_url(world)}/status"
    fields = hidden_fields(c.get(member_url(world)).text, status_url)
    assert fields["action"] == "block"
    step = c.post(
        status_url,
        data={**fields, "reason_code": "fraud", "reason_note": "card shared on a forum"},
    )
    assert "Block Anna P.: they can neither earn nor spend" in text_of(step.text)
    response = confirm(c, step, status_url)
    assert response.status_code == 303
    page = c.get(response.headers["location"]).text
    assert "Blocked: fraud: card shared on a forum" in page
    assert "The member is blocked." in page
    fields = hidden_fields(page, status_url)
    assert fields["action"] == "unblock"
    step = c.post(
        status_url,
        data={**fields, "reason_code": "customer_request", "reason_note": "owner verified"},
    )
    response = confirm(c, step, status_url)
    assert response.status_code == 303
    assert member_svc.get_member(world.ctx, world.program, world.member_id).status == "active"
    actions = [r.action for r in audit_page(world.ctx, world.program.id)["items"]]
    assert actions[:2] == ["member.unblock", "member.block"]


def test_blocking_without_a_reason_is_refused(world, as_role):
    """A block needs a reason: the page shows the error and the member stays active."""
    c = as_role("admin")
    status_url = f"{member_url(world)}/status"
    fields = hidden_fields(c.get(member_url(world)).text, status_url)
    for confirmed in ("", "yes"):
        response = c.post(status_url, data={**fields, "reason_code": "", "confirmed": confirmed})
        assert response.status_code == 422
        assert "choose a reason" in response.text
    assert member_svc.get_member(world.ctx, world.program, world.member_id).status == "active"


def test_purchase_page_shows_lines_points_by_rule_and_returns(world, as_role):
    """A receipt shows each line's points by rule and version, and what the return took back."""
    page = as_role("support").get(
        f"/admin/purchases?receipt_id={world.receipt_id}", follow_redirects=True
    )
    assert page.status_code == 200
    text = text_of(page.text)
    assert "MILK" in text
    assert "dairy-x2 v1" in text
    assert "base v1" in text
    assert "RET-1" in text
    assert "No returns." not in text


def test_purchase_page_shows_partner_and_payment_method(world, as_role):
    """A receipt booked with a partner and a payment method shows both (they are stored
    with the purchase now)."""
    body = {
        "receipt_id": "R-PARTNER",
        "member_id": world.member_id,
        "partner": "ozon",
        "payment_method": "sbp",
        "lines": [{"line_id": "1", "sku": "MILK", "amount": "100", "category": "dairy"}],
    }
    purchases.commit(world.ctx, world.program, commands.purchase(world.ctx, world.program, body))
    text = text_of(
        as_role("support").get("/admin/purchases?receipt_id=R-PARTNER", follow_redirects=True).text
    )
    assert "Partner, payment ozon, sbp" in text


def test_an_unknown_receipt_is_a_not_found_page(as_role):
    """A receipt id that does not exist answers 404 with the service's message."""
    page = as_role("support").get("/admin/purchases?receipt_id=NOPE")
    assert page.status_code == 404
    assert "purchase &#39;NOPE&#39; not found" in page.text


def test_another_programs_member_is_not_found(ctx, world, as_role):
    """A console session sees only its key's program: another program's member is 404."""
    other = build_world(ctx)
    page = as_role("support").get(f"/admin/members/{other.member_id}")
    assert page.status_code == 404


def test_a_support_key_bound_to_another_store_does_not_find_the_receipt(ctx, world):
    """A console session with a support key made for store S2 finds the S1 receipt as
    not found, as a receipt that does not exist; one made for S1 reads it."""
    pages = {}
    for store in ("S2", "S1"):
        _, secret = apikeys.create_key(ctx, world.program.code, "support", f"{store} desk", store)
        c = client(world)
        assert sign_in(c, secret).status_code == 303
        pages[store] = c.get(
            f"/admin/purchases?receipt_id={world.receipt_id}", follow_redirects=True
        )
    assert pages["S2"].status_code == 404
    assert f"purchase &#39;{world.receipt_id}&#39; not found" in pages["S2"].text
    assert pages["S1"].status_code == 200
