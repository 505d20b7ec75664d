"""The API's documentation pages, served whole from this server: ``/docs`` (Swagger UI) and
``/redoc`` (ReDoc).

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so without internet access (an
air-gapped shop, a laptop on a train) ``/docs`` stays blank. Their JavaScript and CSS come
here from the pinned ``fastapi-offline`` package (its ``static`` folder) and are served under
``/docs-static``; the pages reference nothing on another origin.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, PlainTextResponse

PREFIX = "/docs-static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
}
FAVICON = "/favicon.ico"  # served by the web router (kopilka.web.routes)
# the pages may load only from this server: ReDoc's menu shows a logo from cdn.redoc.ly
# that no option turns off, and the browser must not ask for it (the pages' own inline
# start-up script and the styles the two libraries inject are the 'unsafe-inline' parts)
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
SWAGGER_UI_PARAMETERS = {
    # Swagger UI would otherwise send the document's address to validator.swagger.io
    "validatorUrl": None,
}


def asset_directory() -> Path:
    """Where the installed ``fastapi-offline`` keeps the Swagger UI and ReDoc files."""
    return Path(str(files("fastapi_offline").joinpath("static")))


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to ``app`` (built with ``docs_url=None``
    and ``redoc_url=None``, so FastAPI adds no CDN-backed pages of its own)."""
    assets = asset_directory()
    openapi_url = app.openapi_url or "/openapi.json"

    def root(request: Request) -> str:
        # behind a proxy that mounts the API under a path, every link keeps that path
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> Response:
        base = root(request)
        page = get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{PREFIX}/swagger-ui.css",
            swagger_favicon_url=base + FAVICON,
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        page.headers.update(HEADERS)
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> Response:
        base = root(request)
        page = get_redoc_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=base + FAVICON,
            with_google_fonts=False,  # the fonts would come from Google's servers
        )
        page.headers.update(HEADERS)
        return page

    @app.get(PREFIX + "/{name}", include_in_schema=False)
    def asset(name: Annotated[str, PathParam(max_length=100)]) -> Response:
        # only the files named above: the name never reaches the file system otherwise
        if name not in ASSETS:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(
            assets / name,
            media_type=ASSETS[name],
            headers={"Cache-Control": "public, max-age=86400"},
        )
