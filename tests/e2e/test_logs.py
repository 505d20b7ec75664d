"""No secret and no personal data in any log line, on any path, in both log formats.

A real ``kopilka serve`` (uvicorn, its access log, the structlog set-up; some use cases
broken on purpose by :mod:`tests.e2e.failing_server`) is driven through the whole till,
web-shop, console and portal flow, requests that end in 500 included; then every API key,
card, phone and e-mail the flow used is searched for in what the server wrote to stderr,
as sent and URL-encoded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from kopilka.domain.clock import SystemClock
from kopilka.services import apikeys
from kopilka.services import members as member_svc
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from tests.e2e.failing_server import BOOM
from tests.e2e.web.world import World, build_world, hidden_fields
from tests.inbox import code_in, sms_provider

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "log-tests-secret-not-the-default"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def failing_server(url: str, log_json: bool, log: Path, sms_url: str) -> Iterator[str]:
    """The base URL of a server on ``url`` whose stderr goes to ``log`` and whose SMS go to
    the provider at ``sms_url``; stopped (and its log complete) when the block ends."""
    port = _free_port()
    env = {
        **os.environ,
        "KOPILKA_DATABASE_URL": url,
        "KOPILKA_PORT": str(port),
        "KOPILKA_LOG_JSON": "true" if log_json else "false",
        "KOPILKA_LOG_LEVEL": "info",
        "KOPILKA_ENVIRONMENT": "test",
        "KOPILKA_SECRET_KEY": SECRET_KEY,
        "KOPILKA_SMS_ADAPTER": "http",
        "KOPILKA_SMS_URL": sms_url,
    }
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.failing_server"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Flow:
    """What a flow sent that must never be logged, and how many of its requests ended
    in 500."""

    secrets: set[str] = field(default_factory=set)
    failures: int = 0
    # one-time codes: six digits could be part of any number in a log, so they are looked
    # for as values (quoted, or after "code")
    codes: list[str] = field(default_factory=list)

    def keep(self, *values: str) -> None:
        self.secrets.update(v for v in values if v)

    def failed(self, response: httpx.Response) -> None:
        assert response.status_code == 500, response.text
        self.failures += 1


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _idem(key: str) -> dict[str, str]:
    return {**_bearer(key), "Idempotency-Key": uuid.uuid4().hex}


def _basket(member: dict[str, Any], *skus: str, **extra: Any) -> dict[str, Any]:
    lines = [
        {"line_id": str(n), "sku": sku, "quantity": "1", "amount": "1000.00", "category": "dairy"}
        for n, sku in enumerate(skus, 1)
    ]
    return {"member": member, "lines": lines, **extra}


def _drive_api(base: str, world: World, boom: dict[str, str], flow: Flow) -> None:
    """A till (pos), a web shop (ecommerce) and an admin over the API."""
    till, shop, admin = world.keys["pos"], world.keys["ecommerce"], world.keys["admin"]
    with httpx.Client(base_url=base, timeout=30) as c:
        for key in (till, shop, admin):
            assert c.get("/v1/me", headers=_bearer(key)).status_code == 200
        # a till enrolls a member and finds members by card, phone and e-mail
        tag = uuid.uuid4().hex[:8]
        new = {
            "card": f"NEW{tag.upper()}",
            "phone": f"+7 (913) {int(tag, 16) % 1000:03d}-{int(tag, 16) % 100:02d}-77",
            "email": f"new.{tag}@example.org",
        }
        flow.keep(*new.values())
        enrolled = c.post(
            "/v1/members",
            json={"identifiers": new, "profile": {"first_name": "Vera"}},
            headers=_idem(till),
        )
        assert enrolled.status_code == 201, enrolled.text
        for kind, value in (
            ("card", world.card),
            ("phone", world.phone),
            ("email", world.email),
            ("phone", new["phone"]),
            ("email", new["email"].upper()),
        ):
            r = c.get(
                "/v1/members/lookup", params={"kind": kind, "value": value}, headers=_bearer(till)
            )
            assert r.status_code == 200, r.text
        # the same lookups, the URL written by hand (an e-mail's @ encoded as %40)
        r = c.get(
            f"/v1/members/lookup?kind=email&value={quote(world.email, safe='')}",
            headers=_bearer(till),
        )
        assert r.status_code == 200, r.text
        unknown = f"nobody.{tag}@example.net"
        flow.keep(unknown)
        r = c.get(
            "/v1/members/lookup", params={"kind": "email", "value": unknown}, headers=_bearer(till)
        )
        assert r.status_code == 404, r.text
        # the till quotes, sells (paying with points) and takes a line back
        by_card = {"card": world.card}
        quoted = c.post(
            "/v1/purchases/quote", json=_basket(by_card, "MILK", "CHEESE"), headers=_bearer(till)
        )
        assert quoted.status_code == 200, quoted.text
        receipt = f"R-{tag}"
        sold = c.post(
            "/v1/purchases",
            json=_basket(by_card, "MILK", "CHEESE", receipt_id=receipt, redeem_points=100),
            headers=_idem(till),
        )
        assert sold.status_code == 201, sold.text
        returned = c.post(
            f"/v1/purchases/{receipt}/returns",
            json={"return_id": f"RET-{tag}", "lines": [{"line_id": "2"}]},
            headers=_idem(till),
        )
        assert returned.status_code == 201, returned.text
        # a web shop sells to a member named by e-mail, and by phone
        for member in ({"email": world.email}, {"phone": new["phone"]}):
            sold = c.post(
                "/v1/purchases",
                json=_basket(member, "MILK", receipt_id=f"W-{uuid.uuid4().hex[:8]}"),
                headers=_idem(shop),
            )
            assert sold.status_code == 201, sold.text
        # a key that is not one, and a key in the other header
        fake = f"kp_{tag}0000_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"
        flow.keep(fake)
        assert c.get("/v1/me", headers=_bearer(fake)).status_code == 401
        assert c.get("/v1/me", headers={"X-API-Key": shop}).status_code == 200
        # requests that end in 500: a bug in a quote, in a booking (on the event loop on
        # SQLite), and a database error that would quote the e-mail looked up
        flow.failed(
            c.post("/v1/purchases/quote", json=_basket(by_card, BOOM), headers=_bearer(till))
        )
        flow.failed(
            c.post(
                "/v1/purchases",
                json=_basket({"email": world.email}, "MILK", receipt_id=f"{BOOM}-{tag}"),
                headers=_idem(shop),
            )
        )
        flow.failed(
            c.get(
                "/v1/members/lookup",
                params={"kind": "email", "value": boom["email"]},
                headers=_bearer(admin),
            )
        )
        flow.failed(
            c.get(
                "/v1/members/lookup",
                params={"kind": "card", "value": boom["card"]},
                headers=_bearer(admin),
            )
        )


def _drive_console(base: str, world: World, boom: dict[str, str], flow: Flow) -> None:
    """Support signs in to the console (once with a wrong key) and finds members."""
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as c:
        page = c.get("/admin/sign-in")
        wrong = f"kp_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}"
        flow.keep(wrong)
        fields = hidden_fields(page.text, "/admin/sign-in")
        assert c.post("/admin/sign-in", data={**fields, "api_key": wrong}).status_code == 401
        page = c.get("/admin/sign-in")
        fields = hidden_fields(page.text, "/admin/sign-in")
        signed = c.post("/admin/sign-in", data={**fields, "api_key": world.keys["support"]})
        assert signed.status_code == 303, signed.text
        search = c.get("/admin/members")
        for kind, value in (("card", world.card), ("phone", world.phone), ("email", world.email)):
            fields = hidden_fields(search.text, "/admin/members/search")
            found = c.post("/admin/members/search", data={**fields, "kind": kind, "value": value})
            assert found.status_code == 303, found.text
            assert c.get(found.headers["location"]).status_code == 200
        fields = hidden_fields(search.text, "/admin/members/search")
        flow.failed(
            c.post(
                "/admin/members/search", data={**fields, "kind": "email", "value": boom["email"]}
            )
        )


def _drive_portal(
    base: str, world: World, boom: dict[str, str], flow: Flow, sms: list[dict[str, str]]
) -> None:
    """A member signs in to the portal (once with a wrong code) with the code the SMS
    provider got, and reads the home page; a code asked for a BOOM e-mail fails (500)."""

    def ask(c: httpx.Client, address: str) -> httpx.Response:
        fields = hidden_fields(c.get("/portal/sign-in").text, "/portal/sign-in")
        data = {**fields, "program": world.program.code, "address": address}
        return c.post("/portal/sign-in", data=data)

    def type_code(c: httpx.Client, code: str) -> httpx.Response:
        fields = hidden_fields(c.get("/portal/sign-in/code").text, "/portal/sign-in/code")
        return c.post("/portal/sign-in/code", data={**fields, "code": code})

    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as c:
        assert ask(c, world.phone).status_code == 303
        code = code_in(sms, world.phone)
        assert code is not None
        flow.codes.append(code)
        wrong = "000000" if code != "000000" else "111111"
        assert type_code(c, wrong).status_code == 401
        assert type_code(c, code).status_code == 303
        assert c.get("/portal").status_code == 200
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as c:
        flow.failed(ask(c, boom["email"]))


def _spellings(secret: str) -> set[str]:
    """A value as sent and URL-encoded, and a phone's digits as a run (normalised).

    Secrets are long and random enough (an API key's secret, a card with a random tag)
    to be searched for case-insensitively without matching anything else."""
    out = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    digits = "".join(ch for ch in secret if ch.isdigit())
    if secret.startswith("+") and len(digits) >= 10:
        out |= {"+" + digits, digits, "8" + digits[1:], quote("+" + digits, safe="")}
    return out


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
def test_no_secret_or_personal_data_in_the_log(
    backend: str, log_json: bool, tmp_path: Path
) -> None:
    """Every API key, card, phone and e-mail a full flow used (500s included) is absent
    from the server's log, raw and URL-encoded; each 500 is logged once, with its
    traceback as text (a JSON string in JSON), and the log is otherwise what it should
    be: access lines, JSON objects in JSON mode."""
    engine = make_engine(backend)
    ctx = ServiceContext(engine, SystemClock())
    try:
        world = build_world(ctx)
        _, world.keys["ecommerce"] = apikeys.create_key(
            ctx, world.program.code, "ecommerce", "web shop"
        )
        tag = uuid.uuid4().hex[:8]
        boom = {
            "card": f"{BOOM}{tag.upper()}",
            "phone": f"+7915{int(tag, 16) % 10_000_000:07d}",
            "email": f"{BOOM.lower()}.{tag}@example.com",
        }
        member_svc.enroll(
            ctx,
            world.program,
            member_svc.Enroll(
                member_svc.identifiers(boom.items()), member_svc.Profile(first_name="Boris")
            ),
        )
    finally:
        engine.dispose()
    flow = Flow()
    flow.keep(world.card, world.phone, world.email, *boom.values(), *world.keys.values())
    flow.keep(*(k.split("_", 2)[2] for k in world.keys.values()))  # kp_<prefix>_<secret>
    log = tmp_path / "server.log"
    with sms_provider() as (sms_url, sms), failing_server(backend, log_json, log, sms_url) as base:
        _drive_api(base, world, boom, flow)
        _drive_console(base, world, boom, flow)
        _drive_portal(base, world, boom, flow, sms)
    text = log.read_text()

    lowered = text.lower()  # an e-mail is found whatever its case
    leaks = sorted(s for x in flow.secrets for s in _spellings(x) if s.lower() in lowered)
    assert not leaks, f"logged: {leaks}\n{text}"
    assert flow.codes, "the portal flow read no code"
    for code in flow.codes:
        for shown in (f"'{code}'", f'"{code}"', f"code: {code}", f"code={code}"):
            assert shown not in text, f"a one-time code is logged: {shown}"
    assert "GET /v1/members/lookup?kind=email&value=***" in text  # the access log is on
    assert "Exception in ASGI application" not in text  # uvicorn did not log it again
    assert "<traceback object" not in text
    if log_json:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        errors = [r for r in records if str(r.get("event", "")).startswith("unhandled error")]
        for r in errors:
            assert r["exception"].startswith("Traceback (most recent call last)"), r
    else:
        errors = [line for line in text.splitlines() if "unhandled error on" in line]
    assert len(errors) == flow.failures, text
    # the bugs' messages are there, less the request's data they quote
    assert text.count("ValueError: invalid literal for int() with base 10: '***'") == 1
    assert text.count("RuntimeError: the booking failed for {'email': '***'}") == 1
