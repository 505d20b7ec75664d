"""Screenshots of the main pages into ``docs/screenshots/`` (``make screenshots``).

Builds the demo program (``scripts.demo_site``) on a scratch SQLite file, serves it with
uvicorn on 127.0.0.1 (a free port), signs in with Debian's ``/usr/bin/chromium`` through
Playwright as the role that reads each page, and saves each page as a PNG quantised to a
256-colour palette (Pillow), which keeps the set small enough to commit.

    python -m scripts.screenshots [--out docs/screenshots] [--members 300] [--quick]

``--quick`` builds a 10-member demo and takes one desktop and one phone picture (the test
suite runs it to prove the script works). Needs the dev extra (Playwright, Pillow).
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from kopilka.api.app import create_app
from scripts.demo_site import Site, demo_site

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
OUT = Path(__file__).parents[1] / "docs" / "screenshots"
DESKTOP = (1280, 800)
PHONE = (390, 844)
MEMBER = "member"


@dataclass(frozen=True)
class Shot:
    name: str  # the file: docs/screenshots/<name>.png
    who: str  # a console role, or MEMBER for the portal
    url: str  # {member} and {receipt} are the site's
    size: tuple[int, int] = DESKTOP
    lang: str = "en"
    element: str = ""  # a CSS selector: only that element, else the viewport
    quick: bool = False  # taken in --quick runs too


SHOTS = (
    Shot("console-overview", "admin", "/admin", quick=True),
    Shot("console-members", "support", "/admin/members?sort=name", size=(1280, 1500)),
    Shot("console-member-card", "support", "/admin/members/{member}", size=(1280, 1200)),
    Shot("console-rules", "marketer", "/admin/rules"),
    Shot("console-audit", "admin", "/admin/audit"),
    Shot("portal-home", MEMBER, "/portal", size=PHONE, quick=True),
    Shot("portal-home-ru", MEMBER, "/portal", size=PHONE, lang="ru"),
    Shot("portal-card", MEMBER, "/portal", size=PHONE, element=".member-card"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(site: Site) -> Iterator[str]:
    """uvicorn serving the site's whole application in a thread; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(site.kopilka), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(page: Any, base: str, site: Site, who: str) -> None:
    if who == MEMBER:
        page.goto(f"{base}/portal/sign-in")
        page.locator("#address").fill(site.phone)
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_url(f"{base}/portal/sign-in/code")
        page.locator("#code").fill(site.code())
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_url(f"{base}/portal")
    else:
        page.goto(f"{base}/admin/sign-in")
        page.locator("input[name=api_key]").fill(site.keys[who])
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_url(lambda url: not url.endswith("/sign-in"))


def optimise(path: Path) -> None:
    """The PNG quantised to at most 256 colours (UI pictures lose nothing visible)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def take(site: Site, base: str, shots: tuple[Shot, ...], out: Path) -> list[Path]:
    """Each shot in a browser context of its own (its role, language and screen size)."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for shot in shots:
                width, height = shot.size
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    is_mobile=shot.size == PHONE,
                    device_scale_factor=1,
                )
                context.add_cookies([{"name": "kopilka_lang", "value": shot.lang, "url": base}])
                page = context.new_page()
                page.set_default_timeout(15_000)
                sign_in(page, base, site, shot.who)
                response = page.goto(
                    base + shot.url.format(member=site.member_id, receipt=site.receipt_id)
                )
                assert response is not None
                assert response.ok, (shot.name, response.status)
                path = out / f"{shot.name}.png"
                if shot.element:
                    page.locator(shot.element).screenshot(path=str(path))
                else:
                    page.screenshot(path=str(path))
                context.close()
                optimise(path)
                saved.append(path)
                print(f"{path} {path.stat().st_size // 1024} KiB", flush=True)
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="10 members, two pictures")
    args = parser.parse_args(argv)
    shots = tuple(s for s in SHOTS if s.quick) if args.quick else SHOTS
    members = 10 if args.quick else args.members
    with tempfile.TemporaryDirectory(prefix="kopilka-screenshots-") as scratch:
        site = demo_site(f"sqlite:///{scratch}/demo.db", members=members)
        try:
            with site.inbox.installed(), serving(site) as base:
                return take(site, base, shots, args.out)
        finally:
            site.kopilka.close()


if __name__ == "__main__":
    main()
