"""Every path and query parameter of the API, the console and the portal is bounded: a
number too large for the database (or not a number) is a 4xx, never a 500."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from enum import Enum
from inspect import isclass
from typing import Any, get_args

import annotated_types as at
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from kopilka.api.app import create_app
from tests.e2e.web.world import World, hidden_fields, portal_sign_in, sign_in

HUGE = "99999999999999999999"  # > 2**63
HUGER = "99999999999999999999999"


def b64(text: str) -> str:
    """A page cursor as the lists write them (URL-safe base64 of JSON, unpadded)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            yield from _routes(route.original_router.routes)


def _params(dependant: Any) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _bounded(field: Any) -> bool:
    """Whether a parameter's values are bounded: an int (or int | None) both ways within
    a signed 64-bit integer, a string by length (directly or in its constraints), a
    Literal or an enumeration by its values, a flag by being one."""
    info = field.field_info
    meta: list[Any] = list(info.metadata)
    text = repr(info.annotation)
    kinds = get_args(info.annotation) or (info.annotation,)
    if all(k is bool or k is type(None) or (isclass(k) and issubclass(k, Enum)) for k in kinds):
        return True
    if text.startswith("typing.Literal") or "Literal[" in text:
        return True
    if "max_length=" in text:  # a constrained string type (Code, Identifier)
        return "max_length=None" not in text
    lows = [m.ge for m in meta if isinstance(m, at.Ge)] + [
        m.gt for m in meta if isinstance(m, at.Gt)
    ]
    highs = [m.le for m in meta if isinstance(m, at.Le)] + [
        m.lt for m in meta if isinstance(m, at.Lt)
    ]
    if any(isinstance(m, at.MaxLen) or getattr(m, "max_length", None) for m in meta):
        return True
    return bool(lows and highs) and min(lows) >= -(2**63) and max(highs) <= 2**63 - 1


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(world.kopilka)


def test_every_path_and_query_parameter_is_bounded(app: FastAPI) -> None:
    """Walking every route of the API and the web UI: no parameter of the path or the
    query is an unbounded number or string."""
    unbounded = [
        f"{sorted(route.methods)} {route.path} {field.name}"
        for route in _routes(app.router.routes)
        for field in _params(route.dependant)
        if not _bounded(field)
    ]
    assert not unbounded


API_URLS = [
    f"/v1/members/{HUGE}",
    "/v1/members/0",
    "/v1/members/-1",
    "/v1/members/1e20",
    f"/v1/members/{HUGE}/balance",
    f"/v1/members/{{member}}/history?before={HUGE}",
    "/v1/members/{member}/history?before=1e20",
    "/v1/members/{member}/history?before=0",
    f"/v1/members/{{member}}/history?limit={HUGE}",
    f"/v1/holds/{HUGE}",
    f"/v1/rules/{HUGE}",
    f"/v1/admin/audit?before={HUGE}",
    f"/v1/admin/audit?limit={HUGE}",
    "/v1/admin/audit?target=" + "x" * 300,
    "/v1/purchases/" + "R" * 300,
    "/v1/members/lookup?kind=card&value=" + "9" * 300,
]


@pytest.mark.parametrize("url", API_URLS)
def test_api_answers_an_out_of_range_parameter_with_a_4xx(
    app: FastAPI, world: World, url: str
) -> None:
    """Each URL with a number the database cannot hold (or not a number, or too long a
    text) is a 4xx problem, not a 500."""
    headers = {"Authorization": f"Bearer {world.keys['admin']}"}
    with TestClient(app) as c:
        r = c.get(url.format(member=world.member_id), headers=headers)
    assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"


CONSOLE_URLS = [
    f"/admin/members/{HUGE}",
    "/admin/members/0",
    "/admin/members/1e20",
    f"/admin/members/{{member}}?before={HUGE}",
    "/admin/members/{member}?before=1e20",
    "/admin/members/{member}?before=-5",
    f"/admin/rules/{HUGE}",
    "/admin/rules/0",
    f"/admin/rules?published={HUGE}",
    "/admin/purchases?receipt_id=" + "R" * 300,
    "/admin/members/{member}?done=" + "d" * 300,
    # the receipts list reads its query itself (receipt_list_pages.receipt_query)
    f"/admin/receipts/{HUGE}",
    "/admin/receipts/0",
    "/admin/receipts/1e20",
    "/admin/receipts/{receipt}?done=" + "d" * 300,
    f"/admin/receipts?member_kind=id&member={HUGE}",
    "/admin/receipts?member_kind=id&member=1e20",
    "/admin/receipts?member_kind=card&member=" + "9" * 300,
    f"/admin/receipts?amount_min={HUGER}",
    f"/admin/receipts?amount_max={HUGE}.5",
    "/admin/receipts?date_from=99999-01-01",
    "/admin/receipts?store=" + "S" * 300,
    "/admin/receipts?after=" + "a" * 300,
    f"/admin/receipts?sort=amount&after={HUGE}",
    # a well-formed cursor whose numbers the database cannot hold
    "/admin/receipts?sort=amount&after=" + b64(f"[{HUGE}, 1]"),
    "/admin/receipts?after=" + b64(f'["2026-03-14T12:00:00+00:00", {HUGE}]'),
    f"/admin/receipts.csv?amount_min={HUGER}",
    f"/admin/receipts.csv?member_kind=id&member={HUGE}",
]
PORTAL_URLS = [
    f"/portal?before={HUGER}",
    f"/portal?before={HUGE}",
    "/portal?before=1e20",
    "/portal?before=0",
    "/portal?done=" + "d" * 300,
]


@pytest.mark.parametrize("url", CONSOLE_URLS)
def test_console_answers_an_out_of_range_parameter_with_a_4xx(
    app: FastAPI, world: World, url: str
) -> None:
    """A signed-in admin following a console URL with an out-of-range number gets a 4xx
    page (404 for a path, 422 for a query), not a 500."""
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, world.keys["admin"]).status_code == 303
        receipt = c.get(f"/admin/purchases?receipt_id={world.receipt_id}").headers["location"]
        r = c.get(url.format(member=world.member_id, receipt=receipt.rsplit("/", 1)[-1]))
    assert r.status_code in (404, 422), (url, r.status_code, r.text)
    assert r.headers["content-type"].startswith("text/html")


def test_console_forms_to_an_out_of_range_member_are_a_404(app: FastAPI, world: World) -> None:
    """The member pages' forms, posted to a member id the database cannot hold, are 404."""
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, world.keys["admin"]).status_code == 303
        page = c.get(f"/admin/members/{world.member_id}")
        action = f"/admin/members/{world.member_id}/adjust"
        fields = hidden_fields(page.text, action)
        for what in ("adjust", "status", "card", "contact", "profile", "holds/1/void"):
            r = c.post(
                f"/admin/members/{HUGE}/{what}",
                data={**fields, "delta": "5", "reason_code": "goodwill", "action": "block"},
            )
            assert r.status_code == 404, (what, r.text)
        for what in ("return", "return/confirm"):
            r = c.post(
                f"/admin/receipts/{HUGE}/{what}",
                data={**fields, "what": "all", "reason_code": "return"},
            )
            assert r.status_code == 404, (what, r.text)


@pytest.mark.parametrize("url", PORTAL_URLS)
def test_portal_answers_an_out_of_range_parameter_with_a_4xx(
    app: FastAPI, world: World, url: str
) -> None:
    """A signed-in member following a portal URL with an out-of-range cursor gets a 422
    page, not a 500."""
    with TestClient(app, follow_redirects=False) as c:
        assert portal_sign_in(c, world).status_code == 303
        r = c.get(url)
    assert r.status_code == 422, (url, r.status_code, r.text)
    assert r.headers["content-type"].startswith("text/html")
