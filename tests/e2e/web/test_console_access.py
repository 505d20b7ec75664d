"""The console's door: sign-in with an API key, the session cookie, roles and CSRF."""

from __future__ import annotations

import pytest

from kopilka.services import apikeys
from tests.e2e.web.world import client, hidden_fields, sign_in, text_of

PAGES = ["/admin", "/admin/members", "/admin/members/1", "/admin/rules", "/admin/verify"]


@pytest.mark.parametrize("path", PAGES)
def test_console_pages_redirect_to_sign_in_without_a_session(anon, path):
    """Every console page sends a visitor without a session to the sign-in page."""
    response = anon.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/sign-in"


def test_sign_in_sets_an_httponly_lax_cookie_that_holds_no_key(world, anon):
    """Signing in stores a signed HttpOnly, SameSite=Lax cookie naming the key, not the key."""
    response = sign_in(anon, world.keys["support"])
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"]
    assert "kopilka_admin=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/admin" in cookie
    # kp_<prefix>_<secret>, and a secret may itself hold "_"
    secret_part = world.keys["support"].split("_", 2)[2]
    assert secret_part not in cookie
    assert world.keys["support"] not in anon.get("/admin").text


def test_sign_in_with_an_unknown_key_shows_why(anon):
    """A wrong key is refused with a readable message and no session."""
    page = anon.get("/admin/sign-in")
    fields = hidden_fields(page.text, "/admin/sign-in")
    response = anon.post("/admin/sign-in", data={**fields, "api_key": "kp_nope"})
    assert response.status_code == 401
    assert "a valid API key is required" in response.text
    assert anon.get("/admin").status_code == 303


def test_a_till_key_cannot_sign_in_to_the_console(world, anon):
    """A pos key is an integration credential, refused by the console with 403."""
    response = sign_in(anon, world.keys["pos"])
    assert response.status_code == 403
    assert "cannot sign in to the console" in response.text


def test_sign_in_without_the_csrf_token_is_refused(world, anon):
    """A sign-in POST without its form's token (login CSRF) gets 403."""
    anon.get("/admin/sign-in")
    response = anon.post("/admin/sign-in", data={"api_key": world.keys["admin"]})
    assert response.status_code == 403
    assert "Reload the page" in response.text


def test_a_forged_cookie_is_no_session(world, anon):
    """A cookie whose payload was changed fails its signature and is ignored."""
    sign_in(anon, world.keys["analyst"])
    value = anon.cookies.get("kopilka_admin")
    payload, signature = value.split(".")
    forged = client(world)
    forged.cookies.set("kopilka_admin", payload[:-2] + "AA." + signature, path="/admin")
    assert forged.get("/admin").status_code == 303


def test_a_revoked_key_ends_its_sessions(world, as_role):
    """Revoking the API key signs its console sessions out at their next request."""
    c = as_role("support")
    assert c.get("/admin").status_code == 200
    key_prefix = world.keys["support"].split("_")[1]
    apikeys.revoke_key(world.ctx, key_prefix)
    assert c.get("/admin").status_code == 303


def test_sign_out_forgets_the_session(as_role):
    """Signing out clears the cookie; the console asks to sign in again."""
    c = as_role("admin")
    fields = hidden_fields(c.get("/admin").text, "/admin/sign-out")
    response = c.post("/admin/sign-out", data=fields)
    assert response.status_code == 303
    assert c.get("/admin").status_code == 303


def test_posts_without_the_session_csrf_token_are_refused(world, as_role):
    """A write without the CSRF token of the session is 403 and changes nothing."""
    c = as_role("support")
    page = c.get(f"/admin/members/{world.member_id}")
    fields = hidden_fields(page.text, f"/admin/members/{world.member_id}/adjust")
    fields.pop("csrf_token")
    response = c.post(
        f"/admin/members/{world.member_id}/adjust",
        data={**fields, "delta": "10", "reason_code": "goodwill", "confirmed": "yes"},
    )
    assert response.status_code == 403
    other = as_role("support")  # a token of another session does not do either
    token = hidden_fields(other.get("/admin").text, "/admin/sign-out")["csrf_token"]
    response = c.post(
        f"/admin/members/{world.member_id}/adjust",
        data={
            **fields,
            "csrf_token": token,
            "delta": "10",
            "reason_code": "goodwill",
            "confirmed": "yes",
        },
    )
    assert response.status_code == 403
    assert "+10" not in text_of(c.get(f"/admin/members/{world.member_id}").text)


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("marketer", "/admin/verify", 403),
        ("support", "/admin/verify", 403),
        ("analyst", "/admin/verify", 200),
        ("admin", "/admin/verify", 200),
        ("marketer", "/admin/rules", 200),
        ("analyst", "/admin/members", 200),
    ],
)
def test_pages_follow_the_role_permissions(as_role, role, path, status):
    """A page a role may not see answers 403 with a page saying so."""
    response = as_role(role).get(path)
    assert response.status_code == status
    if status == 403:
        assert "Not allowed" in response.text
        assert f"Your role ({role})" in response.text


def test_pages_send_security_headers(as_role):
    """Console pages forbid framing, sniffing, caching and foreign scripts."""
    response = as_role("admin").get("/admin")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_stylesheet_is_served_locally(anon):
    """The one stylesheet comes from the app itself; unknown static names are 404."""
    css = anon.get("/web-static/kopilka.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert anon.get("/web-static/../routes.py").status_code == 404


@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("/admin/no-such-page", "/admin"),
        ("/admin/members/45/x", "/admin"),
        ("/portal/nope", "/portal"),
    ],
)
def test_an_unknown_address_is_a_page_with_the_way_back(anon, path, back):
    """A mistyped or stale address under /admin or /portal answers 404 with a page in the
    visitor's language and a link back to its area, not the API's JSON problem document."""
    response = anon.get(path, headers={"Accept-Language": "ru"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Такой страницы нет." in text_of(response.text)
    assert f'href="{back}"' in response.text


def test_a_refusal_keeps_the_menu_and_the_sign_out(as_role):
    """A "Not found" or "Not allowed" page of a signed-in operator carries the console's
    menu (their role's pages) and the sign-out, so it is not a dead end."""
    marketer = as_role("marketer")
    page = marketer.get("/admin/verify")
    assert page.status_code == 403
    assert 'href="/admin/rules"' in page.text
    assert 'href="/admin/verify"' not in page.text  # the menu is the role's own
    assert 'action="/admin/sign-out"' in page.text
    missing = as_role("support").get("/admin/members/999999")
    assert missing.status_code == 404
    assert 'href="/admin/members"' in missing.text
    assert 'action="/admin/sign-out"' in missing.text
