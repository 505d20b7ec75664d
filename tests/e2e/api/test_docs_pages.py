"""The landing page, the API documentation pages and the favicon, served by Kopilka itself:
nothing they load comes from another origin, so they work without internet access."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

# every address a page loads (scripts, styles, icons) or sends the browser to
LOADED = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""")


def loaded(html: str) -> list[str]:
    return [a or b for a, b in LOADED.findall(html)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_reference_only_local_assets_that_answer(client: TestClient, path: str) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) load their scripts, styles and icon from this
    server (no CDN, no Google fonts), and every one of those assets answers 200."""
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = loaded(page.text)
    assert any(a.endswith(".js") for a in assets), assets
    for address in assets:
        assert address.startswith("/"), f"{path} loads {address} from elsewhere"
        assert not address.startswith("//"), address
        assert client.get(address).status_code == 200, address
    assert "http://" not in page.text
    # nor may the libraries fetch from elsewhere: ReDoc's menu would load a logo from its CDN
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy
    assert "https://" not in page.text
    if path == "/docs":
        assert "/docs-static/swagger-ui-bundle.js" in assets
        assert "/docs-static/swagger-ui.css" in assets
        assert '"validatorUrl": null' in page.text  # no call to validator.swagger.io
    else:
        assert "/docs-static/redoc.standalone.js" in assets


def test_docs_assets_are_the_named_files_only(client: TestClient) -> None:
    """The asset route serves the three shipped files with their types, and nothing else."""
    js = client.get("/docs-static/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in js.text[:2000]
    assert client.get("/docs-static/redoc.standalone.js").status_code == 200
    assert client.get("/docs-static/swagger-ui.css").headers["content-type"].startswith("text/css")
    for name in ("favicon.png", "core.py", "..%2F__init__.py", "nope.js"):
        assert client.get(f"/docs-static/{name}").status_code == 404, name


def test_favicon_answers_at_the_root(client: TestClient) -> None:
    """/favicon.ico (asked for by every browser) is an icon, and the SVG one too."""
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # the ICO header
    svg = client.get("/web-static/favicon.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")


def test_landing_page_links_console_portal_and_api_docs(client: TestClient) -> None:
    """/ is a page (not a 404) that links the console, the portal and both API docs, and
    loads only this server's stylesheet and icon."""
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = [a for a in loaded(page.text) if not a.startswith("#")]  # the skip link
    for target in ("/admin", "/portal", "/docs", "/redoc", "/openapi.json"):
        assert target in links, target
    for address in links:
        assert address.startswith("/"), address
        assert client.get(address, follow_redirects=False).status_code in (200, 303), address
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "/" not in client.get("/openapi.json").json()["paths"]  # stays out of the API
