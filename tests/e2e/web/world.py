"""A small loyalty world for the web UI tests: a program with published rules, a member
with earnings, a purchase and a return, and an API key for every role."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.identifiers import normalize_phone
from kopilka.domain.program import Program
from kopilka.services import apikeys, points, programs, purchases, rules
from kopilka.services import members as member_svc
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust, Earn
from kopilka.settings import load_settings
from kopilka.web import create_web_router
from tests import commands
from tests.inbox import Inbox
from tests.program_spec import program_command

# what the portal's one-time codes are sent to in the web tests (tests/e2e/web/conftest.py
# installs it for every test)
INBOX = Inbox()

SECRET = "web-tests-secret-not-the-default"
RULES = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    description: "1 point for every 100 RUB"
    rate: {points: 1, per: "100"}
  - id: dairy-x2
    kind: multiplier
    description: "Double points on dairy"
    factor: 2
    scope: {categories: [dairy]}
  - id: secret-bonus
    kind: bonus
    description: "hidden from members"
    visible: false
    points: 5
    min_amount: "100000"
redemption: {max_percent: 50, step: 10}
"""
# line 7 has the error: points must be greater than 0
BAD_RULES = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    rate:
      points: -1
      per: "100"
redemption: {max_percent: 50}
"""


@dataclass
class World:
    kopilka: Kopilka
    program: Program
    member_id: int
    card: str
    phone: str
    email: str
    receipt_id: str
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def ctx(self) -> ServiceContext:
        return self.kopilka.services


def make_app(kopilka: Kopilka) -> FastAPI:
    app = FastAPI()
    app.include_router(create_web_router(kopilka))
    return app


def build_world(ctx: ServiceContext, first_name: str = "Anna") -> World:
    """Everything the pages show, made through the services (never the tables)."""
    kopilka = Kopilka(load_settings(environment="test", secret_key=SECRET), ctx.engine, ctx)
    tag = uuid.uuid4().hex[:8]
    program = programs.create_program(
        ctx,
        program_command(
            f"web-{tag}",
            name="Corner Shop",
            timezone="Europe/Moscow",
            activation_delay_days=14,
            expiry_kind="days",
            expiry_n=365,
        ),
    )
    rules.publish(ctx, program, RULES, actor="test")
    card = f"WEB{tag.upper()}"
    phone = f"+7912{int(tag, 16) % 10_000_000:07d}"
    email = f"anna.{tag}@example.com"
    member = member_svc.enroll(
        ctx,
        program,
        member_svc.Enroll(
            member_svc.identifiers([("card", card), ("phone", phone), ("email", email)]),
            profile=member_svc.Profile(first_name=first_name, last_name="Petrova"),
            consents=(
                member_svc.ConsentChoice("marketing_email", granted=True),
                member_svc.ConsentChoice("sms", granted=True),
            ),
        ),
    )
    points.adjust(
        ctx,
        program,
        Adjust(member.id, 300, key=f"{tag}-welcome", reason="welcome gift", actor="test"),
    )
    points.earn(ctx, program, Earn(member.id, 40, key=f"{tag}-survey", reason="survey answered"))
    receipt = f"R-{tag}"
    purchases.commit(
        ctx,
        program,
        commands.purchase(
            ctx,
            program,
            {
                "receipt_id": receipt,
                "member_id": member.id,
                "store": "S1",
                "lines": [
                    {
                        "line_id": "1",
                        "sku": "MILK",
                        "quantity": "2",
                        "amount": "500",
                        "category": "dairy",
                    },
                    {
                        "line_id": "2",
                        "sku": "BREAD",
                        "quantity": "1",
                        "amount": "300",
                        "category": "bakery",
                    },
                ],
            },
        ),
    )
    purchases.process_return(
        ctx, program, commands.return_(receipt, {"return_id": "RET-1", "lines": [{"line_id": "2"}]})
    )
    world = World(kopilka, program, member.id, card, phone, email, receipt)
    for role in ("support", "marketer", "analyst", "admin", "pos"):
        _, secret = apikeys.create_key(
            ctx, program.code, role, f"{role} desk", store_code="S1" if role == "pos" else None
        )
        world.keys[role] = secret
    return world


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and a.get("type") == "hidden" and "name" in a:
            self.forms[-1][1][a["name"]] = a.get("value", "")


def hidden_fields(html: str, action: str, index: int = 0) -> dict[str, str]:
    """The hidden fields (CSRF token, idempotency key...) of the page's form to ``action``."""
    parser = _Forms()
    parser.feed(html)
    matching = [fields for act, fields in parser.forms if act == action]
    assert matching, f"no form posting to {action}"
    return dict(matching[index])


def text_of(html: str) -> str:
    """The page's text with tags and runs of whitespace removed (for phrase checks)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u202f", "")


def client(world: World) -> TestClient:
    return TestClient(make_app(world.kopilka), follow_redirects=False)


def sign_in(c: TestClient, key: str) -> Any:
    page = c.get("/admin/sign-in")
    fields = hidden_fields(page.text, "/admin/sign-in")
    return c.post("/admin/sign-in", data={**fields, "api_key": key})


def portal_sign_in(c: TestClient, world: World, phone: str | None = None) -> Any:
    """Sign in to the portal as a member does: the phone (``world.phone`` unless another
    is given), then the code read from the message sent to it (:data:`INBOX`). A phone
    nobody has gets no message: a wrong code is typed, and the answer is its refusal.
    Answers the last response (303 to /portal when signed in)."""
    sent = send_code_to(c, world, phone or world.phone)
    if sent.status_code != 303:
        return sent
    code = INBOX.code(normalize_phone(phone or world.phone)) or "000000"
    return type_code(c, code)


def send_code_to(c: TestClient, world: World, address: str) -> Any:
    """The sign-in page's first step: ask for a code to ``address``."""
    fields = hidden_fields(c.get("/portal/sign-in").text, "/portal/sign-in")
    data = {**fields, "program": world.program.code, "address": address}
    return c.post("/portal/sign-in", data=data)


def type_code(c: TestClient, code: str) -> Any:
    """The second step: type ``code`` on the code page."""
    fields = hidden_fields(c.get("/portal/sign-in/code").text, "/portal/sign-in/code")
    return c.post("/portal/sign-in/code", data={**fields, "code": code})


def browser_portal_sign_in(page: Any, base: str, world: World, address: str | None = None) -> None:
    """Sign in to the portal in a browser (Playwright's ``page``) as a member does: the
    phone typed, the code read from the message sent (:data:`INBOX`) and typed."""
    to = address or world.phone
    page.goto(f"{base}/portal/sign-in")
    page.locator("#address").fill(to)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(f"{base}/portal/sign-in/code")
    code = INBOX.code(normalize_phone(to)) if "@" not in to else INBOX.code(to.lower())
    assert code is not None, "no code was sent"
    page.locator("#code").fill(code)
    page.locator("#code").press("Enter")
    page.wait_for_url(f"{base}/portal")
