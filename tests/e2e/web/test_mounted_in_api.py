"""The web router inside the API application, as ``create_app`` will mount it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kopilka.api.app import create_app
from kopilka.web import create_web_router
from tests.e2e.web.world import sign_in


def test_pages_and_refusals_stay_html_inside_the_api_app(world):
    """Mounted beside /v1, the UI still answers in HTML (not problem+json) and redirects."""
    app = create_app(world.kopilka)
    app.include_router(create_web_router(world.kopilka))
    c = TestClient(app, follow_redirects=False)
    assert c.get("/admin").status_code == 303
    assert sign_in(c, world.keys["support"]).status_code == 303
    page = c.get(f"/admin/members/{world.member_id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    missing = c.get("/admin/purchases?receipt_id=NOPE")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "/admin" not in app.openapi()["paths"]  # the UI stays out of the API document
