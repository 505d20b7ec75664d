"""A return from the console's receipt page: chosen lines and quantities or all that is
left, a confirmation page that writes nothing, a reason kept with the return's entries
and in the audit log, one return however often the confirmation is submitted, and bad
input refused with nothing written."""

from __future__ import annotations

import html

import pytest

from kopilka.services import audit as audit_svc
from kopilka.services import members as member_svc
from kopilka.services import purchases
from kopilka.services.audit_log import audit_page
from tests.e2e.web.world import hidden_fields, portal_sign_in, text_of


def receipt_url(c, world) -> str:
    """The receipt page of the world's receipt (found through its former address)."""
    found = c.get("/admin/purchases", params={"receipt_id": world.receipt_id})
    assert found.status_code == 303
    return found.headers["location"]


def returns_of(world) -> list[str]:
    return [
        r["return_id"]
        for r in purchases.get_purchase(world.ctx, world.program, world.receipt_id)["returns"]
    ]


def reverse_entries(world) -> list[dict]:
    history = audit_svc.history(world.ctx, world.program, world.member_id, limit=200)
    return [i for i in history["items"] if i["kind"] == "reverse"]


def confirm_page(c, url, **fields):
    """Post the receipt page's return form with ``fields``; the confirmation page."""
    form = hidden_fields(c.get(url).text, f"{url}/return")
    return c.post(f"{url}/return", data={**form, **fields})


def test_support_returns_one_milk_with_a_reason_after_confirming(world, as_role, anon):
    """One of the two milks (line 1: 2 × 250.00, 10 points by base and dairy-x2): the
    confirmation page says what will happen and writes nothing; confirming it returns the
    one milk, keeps the reason with the ledger entries and in the audit log, and the
    ledger still verifies. The member never reads the internal note."""
    c = as_role("support")
    url = receipt_url(c, world)
    before = member_svc.get_balance(world.ctx, world.program, world.member_id)
    page = confirm_page(
        c,
        url,
        what="lines",
        qty_1="1",
        reason_code="return",
        reason_note="torn packet, checked by Olga",
        member_text="Returned milk",
    )
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Confirm the return of receipt" in text
    assert "Points taken back 5" in text
    assert "Refund RUB 250.00" in text
    assert "torn packet, checked by Olga" in text
    assert returns_of(world) == ["RET-1"]  # nothing written yet
    confirm = hidden_fields(page.text, f"{url}/return/confirm")
    assert confirm["qty_1"] == "1"
    assert confirm["reason_code"] == "return"
    done = c.post(f"{url}/return/confirm", data=confirm)
    assert done.status_code == 303
    assert done.headers["location"] == f"{url}?done=returned"
    again = c.post(f"{url}/return/confirm", data=confirm)  # a double submit
    assert again.status_code == 303
    found = purchases.get_purchase(world.ctx, world.program, world.receipt_id)
    assert len(found["returns"]) == 2
    assert found["returns"][1]["lines"][0]["quantity"] == "1"
    after = member_svc.get_balance(world.ctx, world.program, world.member_id)
    assert after.pending - before.pending == -5  # the milk's points were still pending
    (entry,) = [e for e in reverse_entries(world) if e["reason"] != "return"]
    assert entry["reason"] == "return: torn packet, checked by Olga"
    assert entry["meta"]["reason_code"] == "return"
    assert entry["meta"]["member_text"] == "Returned milk"
    assert entry["actor"].startswith("apikey:")
    audited = audit_page(world.ctx, world.program.id, action="purchase.return")["items"]
    assert len(audited) == 1
    assert audited[0].target == f"member:{world.member_id}"
    assert audited[0].after["reason"] == "return: torn packet, checked by Olga"
    assert audit_svc.verify_ledger(world.ctx, world.program.id).ok
    log = text_of(as_role("admin").get("/admin/audit", params={"action": "purchase.return"}).text)
    assert "receipt returned by support" in log
    shown = text_of(c.get(f"{url}?done=returned").text)
    assert "The return is recorded." in shown
    assert "Goods returned: torn packet, checked by Olga" in shown
    assert "(the member reads: Returned milk)" in shown
    portal_sign_in(anon, world)
    portal = text_of(anon.get("/portal").text)
    assert "torn packet" not in portal  # the internal note stays internal
    assert "5 points taken back for a returned purchase" in portal
    assert "Returned milk" in portal  # the text support wrote for the member


def test_support_returns_everything_left(world, as_role):
    """ "Return everything left" returns the milk (the bread was returned before), and the
    page then offers no return; the list reads it as returned."""
    c = as_role("support")
    url = receipt_url(c, world)
    page = confirm_page(c, url, what="all", reason_code="customer_request")
    assert page.status_code == 200
    assert "Everything left on the receipt is returned." in text_of(page.text)
    confirm = hidden_fields(page.text, f"{url}/return/confirm")
    assert c.post(f"{url}/return/confirm", data=confirm).status_code == 303
    found = purchases.get_purchase(world.ctx, world.program, world.receipt_id)
    assert [x["line_id"] for x in found["returns"][1]["lines"]] == ["1"]
    assert found["returns"][1]["lines"][0]["quantity"] == "2"
    assert f"{url}/return" not in c.get(url).text
    listing = text_of(c.get("/admin/receipts").text)
    assert "partly returned" not in listing
    assert "returned in full" in listing
    assert audit_svc.verify_ledger(world.ctx, world.program.id).ok


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"what": "lines", "qty_1": "3"}, "line 1: 3 asked, 2 left to return"),
        ({"what": "lines", "qty_2": "1"}, "line 2: 1 asked, 0 left to return"),
        ({"what": "lines", "qty_1": "0"}, "give the quantity to return of at least one line"),
        ({"what": "lines", "qty_1": "one"}, "line 1: a quantity is a number such as 1 or 0.5"),
        ({"what": "lines", "qty_1": "-1"}, "line 1: a quantity is a number such as 1 or 0.5"),
        ({"what": "lines", "qty_1": "1", "reason_code": "whim"}, "choose a reason from the list"),
        ({"what": "lines", "qty_1": "1", "reason_code": "other"}, "describe the reason"),
        (
            {"what": "lines", "qty_1": "1", "member_text": "x" * 201},
            "the text for the member is limited to 200 characters",
        ),
        ({"what": "some"}, "return all of it or the chosen lines"),
    ],
)
def test_bad_return_input_is_refused_and_nothing_is_written(world, as_role, fields, message):
    """More than is left (line 2, the bread, was returned already; line 1 has 2), no line
    chosen, a quantity that is not one, an unknown reason, "other" without a note, a
    member text too long: 422 on the receipt page with the form as typed, nothing
    written, at the preview and at the confirmation alike."""
    c = as_role("support")
    url = receipt_url(c, world)
    data = {"reason_code": "return", **fields}
    page = confirm_page(c, url, **data)
    assert page.status_code == 422
    assert message in html.unescape(text_of(page.text))
    form = hidden_fields(c.get(url).text, f"{url}/return")
    confirm = c.post(
        f"{url}/return/confirm", data={**form, "idempotency_key": "web-tampered", **data}
    )
    assert confirm.status_code == 422
    assert returns_of(world) == ["RET-1"]
    assert audit_page(world.ctx, world.program.id, action="purchase.return")["items"] == []


def test_a_confirmation_without_its_key_writes_nothing(world, as_role):
    """The confirmation form's idempotency key is required."""
    c = as_role("support")
    url = receipt_url(c, world)
    form = hidden_fields(c.get(url).text, f"{url}/return")
    page = c.post(f"{url}/return/confirm", data={**form, "what": "all", "reason_code": "return"})
    assert page.status_code == 422
    assert returns_of(world) == ["RET-1"]


@pytest.mark.parametrize("role", ["analyst", "marketer"])
def test_roles_without_returns_get_no_form_and_403(world, as_role, role):
    """An analyst reads the receipt but has no return form and may not post one; a
    marketer may not even read it."""
    c = as_role(role)
    admin_url = receipt_url(as_role("admin"), world)
    page = c.get(admin_url)
    if role == "analyst":
        assert page.status_code == 200
        assert f"{admin_url}/return" not in page.text
    else:
        assert page.status_code == 403
    csrf = hidden_fields(c.get("/admin/members").text, "/admin/sign-out")["csrf_token"]
    data = {"csrf_token": csrf, "what": "all", "reason_code": "return"}
    posted = c.post(f"{admin_url}/return", data=data)
    assert posted.status_code == 403
    assert returns_of(world) == ["RET-1"]
