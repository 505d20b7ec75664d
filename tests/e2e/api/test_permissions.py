"""Every /v1 endpoint against every role: allowed by the matrix → 2xx, refused → 403 with
nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.api.app import create_app
from kopilka.api.schemas.rewards import RewardIn
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import memberships, rule_proposals
from kopilka.services import points as points_svc
from kopilka.services import purchases as purchase_svc
from kopilka.services import rewards as reward_svc
from kopilka.services import webhooks as webhook_svc
from kopilka.services.apikeys import PERMISSIONS, Permission, Role
from kopilka.services.points import Earn, PlaceHold
from kopilka.services.rules import RulesFormat
from tests import commands
from tests.e2e.api.conftest import KeyFactory, card, idem, row_counts
from tests.e2e.api.factories import RULES, basket, line, publish_rules

P = Permission
# a paid plan, so that the membership routes have something to sell
PAID_PLAN = """
tiers:
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}}
  paid:
    - {code: gold_month, tier: gold, price: "299", term: {months: 1}, name: {ru: З, en: G}}
"""

# the factories' rules with a personal offer for everyone (to activate) and a favourite
# categories rule: what the offers' routes need to answer 2xx
OFFER_RULES = RULES.replace(
    "redemption:",
    """  - id: offer-x2
    kind: multiplier
    factor: 2
    offer:
      audience: {everyone: true}
      requires_activation: true
      window: {from: 2026-01-01, to: 2099-12-31}
  - id: fav
    kind: favourite_categories
    choose: 1
    from: [fruit, grocery]
    factor: 2
redemption:""",
)
# a public address as an IP literal: the SSRF guard passes it without a DNS lookup
HOOK = "https://93.184.215.14/hook"


@dataclass(frozen=True)
class World:
    member_id: int
    card: str
    hold_id: int
    receipt_id: str
    version: int
    proposal_id: int
    subscription_id: int
    paid_member_id: int  # a member with a running paid membership
    membership_id: int
    reward_id: int = 0
    issued_id: int = 0


def _basket(w: World, **more: Any) -> dict[str, Any]:
    return basket(line("1", "300.00"), member_id=w.member_id, **more)


def _fresh() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the route template
    permission: Permission
    body: Callable[[World], dict[str, Any] | None] = lambda _w: None
    params: Callable[[World], dict[str, Any]] = lambda _w: {}
    job: str = ""
    raw: bytes | None = None  # a body sent as it is (an image), not as JSON
    paid: bool = False  # the member is the one with a paid membership

    def url(self, w: World) -> str:
        return self.path.format(
            member_id=w.paid_member_id if self.paid else w.member_id,
            membership_id=w.membership_id,
            hold_id=w.hold_id,
            job=self.job,
            receipt_id=w.receipt_id,
            version=w.version,
            proposal_id=w.proposal_id,
            reward_id=w.reward_id,
            issued_id=w.issued_id,
            dataset="purchases",
            subscription_id=w.subscription_id,
            topic="otp_code",
            language="en",
        )


def _template(_w: World) -> dict[str, Any]:
    """A one-time code's template that renders."""
    return {"subject": "Code", "html": "<p>{{ code }}</p>", "text": "{{ code }}"}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/analytics/guest-receipts",
        P.PURCHASES_COMMIT,
        lambda _w: {"receipt_id": f"G-{_fresh()}", "total": "10.00"},
    ),
    Endpoint("GET", "/v1/analytics/kpis", P.ANALYTICS_READ),
    Endpoint("GET", "/v1/analytics/pilots", P.ANALYTICS_READ),
    Endpoint("GET", "/v1/analytics/campaigns", P.ANALYTICS_READ),
    Endpoint("GET", "/v1/analytics/exports/{dataset}", P.ANALYTICS_EXPORT),
    Endpoint("POST", "/v1/members", P.MEMBERS_ENROLL, lambda _w: {"identifiers": {"card": card()}}),
    Endpoint(
        "GET",
        "/v1/members/lookup",
        P.MEMBERS_READ,
        params=lambda w: {"kind": "card", "value": w.card},
    ),
    Endpoint("GET", "/v1/members/{member_id}", P.MEMBERS_READ),
    Endpoint("GET", "/v1/members/{member_id}/balance", P.MEMBERS_READ),
    Endpoint("PATCH", "/v1/members/{member_id}", P.MEMBERS_UPDATE, lambda _w: {"first_name": "B"}),
    Endpoint("POST", "/v1/members/{member_id}/block", P.MEMBERS_BLOCK, lambda _w: {"reason": "x"}),
    Endpoint("POST", "/v1/members/{member_id}/unblock", P.MEMBERS_BLOCK, lambda _w: {}),
    Endpoint("GET", "/v1/members/{member_id}/history", P.HISTORY_READ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/card-replacement",
        P.MEMBERS_UPDATE,
        lambda _w: {"new_card": card()},
    ),
    Endpoint("GET", "/v1/members/{member_id}/tier", P.MEMBERS_READ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/tier",
        P.MEMBERS_BLOCK,
        lambda _w: {"tier_code": None, "reason_code": "correction"},
    ),
    Endpoint("GET", "/v1/members/{member_id}/memberships", P.MEMBERS_READ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/memberships",
        P.PURCHASES_COMMIT,
        lambda _w: {"plan": "gold_month", "receipt_id": _fresh()},
    ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/memberships/{membership_id}/renew",
        P.PURCHASES_COMMIT,
        lambda _w: {"receipt_id": _fresh()},
        paid=True,
    ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/memberships/{membership_id}/cancel",
        P.PURCHASES_RETURN,
        paid=True,
    ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/memberships/{membership_id}/refund",
        P.PURCHASES_RETURN,
        lambda _w: {"receipt_id": _fresh()},
        paid=True,
    ),
    Endpoint("POST", "/v1/members/{member_id}/earn", P.POINTS_EARN, lambda _w: {"points": 10}),
    Endpoint("POST", "/v1/members/{member_id}/redeem", P.POINTS_REDEEM, lambda _w: {"points": 10}),
    Endpoint(
        "POST", "/v1/holds", P.HOLDS_WRITE, lambda w: {"member_id": w.member_id, "points": 10}
    ),
    Endpoint("GET", "/v1/holds/{hold_id}", P.MEMBERS_READ),
    Endpoint("POST", "/v1/holds/{hold_id}/capture", P.HOLDS_WRITE, lambda _w: {"points": 5}),
    Endpoint("POST", "/v1/holds/{hold_id}/void", P.HOLDS_VOID),
    Endpoint(
        "POST",
        "/v1/admin/members/{member_id}/adjustments",
        P.POINTS_ADJUST,
        lambda _w: {"delta": -5, "reason": "goodwill correction"},
    ),
    Endpoint("GET", "/v1/admin/program", P.PROGRAM_READ),
    Endpoint("POST", "/v1/admin/jobs/{job}", P.JOBS_RUN, job="expire"),
    Endpoint("GET", "/v1/admin/verify", P.LEDGER_VERIFY),
    Endpoint("GET", "/v1/admin/audit", P.AUDIT_READ),
    Endpoint("POST", "/v1/purchases/quote", P.PURCHASES_QUOTE, _basket),
    Endpoint(
        "POST", "/v1/purchases", P.PURCHASES_COMMIT, lambda w: _basket(w, receipt_id=_fresh())
    ),
    Endpoint("GET", "/v1/purchases/{receipt_id}", P.PURCHASES_READ),
    Endpoint(
        "POST",
        "/v1/purchases/{receipt_id}/returns",
        P.PURCHASES_RETURN,
        lambda _w: {"return_id": _fresh(), "lines": [{"line_id": "1", "quantity": "1"}]},
    ),
    Endpoint(
        "POST",
        "/v1/events",
        P.EVENTS_WRITE,
        lambda w: {"event_id": _fresh(), "type": "review", "member_id": w.member_id},
    ),
    Endpoint("GET", "/v1/rules", P.RULES_READ),
    Endpoint("POST", "/v1/rules", P.RULES_PUBLISH, lambda _w: {"document": RULES}),
    Endpoint("GET", "/v1/rules/{version}", P.RULES_READ),
    Endpoint("GET", "/v1/rules/proposals/{proposal_id}", P.RULES_READ),
    Endpoint(
        "POST",
        "/v1/rules/preview",
        P.RULES_PUBLISH,
        lambda w: {"document": RULES, "purchase": _basket(w)},
    ),
    Endpoint("GET", "/v1/members/{member_id}/rewards/catalog", P.REWARDS_READ),
    Endpoint("GET", "/v1/members/{member_id}/rewards", P.REWARDS_READ),
    Endpoint(
        "POST",
        "/v1/members/{member_id}/rewards",
        P.REWARDS_REDEEM,
        lambda w: {"reward_id": w.reward_id},
    ),
    Endpoint("GET", "/v1/rewards", P.REWARDS_READ),
    Endpoint("POST", "/v1/rewards", P.REWARDS_MANAGE, lambda _w: _reward(f"r{_fresh()[:8]}")),
    Endpoint("GET", "/v1/rewards/settings", P.REWARDS_READ),
    Endpoint(
        "PUT",
        "/v1/rewards/settings",
        P.REWARDS_MANAGE,
        lambda _w: {"refund_on_cancel": True, "refund_on_expiry": False},
    ),
    Endpoint("GET", "/v1/rewards/{reward_id}", P.REWARDS_READ),
    Endpoint("PUT", "/v1/rewards/{reward_id}", P.REWARDS_MANAGE, lambda _w: _reward("gift")),
    Endpoint("POST", "/v1/rewards/{reward_id}/stock", P.REWARDS_MANAGE, lambda _w: {"stock": 9}),
    Endpoint(
        "POST",
        "/v1/rewards/{reward_id}/pool",
        P.REWARDS_MANAGE,
        lambda _w: {"codes": [_fresh()]},
    ),
    Endpoint("PUT", "/v1/rewards/{reward_id}/image", P.REWARDS_MANAGE, raw=PNG),
    Endpoint("GET", "/v1/rewards/{reward_id}/image", P.REWARDS_READ),
    Endpoint("GET", "/v1/issued-rewards", P.REWARDS_READ),
    Endpoint("GET", "/v1/issued-rewards/{issued_id}", P.REWARDS_READ),
    Endpoint(
        "POST",
        "/v1/issued-rewards/{issued_id}/cancel",
        P.REWARDS_CANCEL,
        lambda _w: {"reason": "asked"},
    ),
    Endpoint("GET", "/v1/members/{member_id}/offers", P.MEMBERS_READ),
    Endpoint("POST", "/v1/members/{member_id}/offers/offer-x2/activate", P.MEMBERS_UPDATE),
    Endpoint("GET", "/v1/members/{member_id}/favourites", P.MEMBERS_READ),
    Endpoint(
        "PUT",
        "/v1/members/{member_id}/favourites/fav",
        P.MEMBERS_UPDATE,
        lambda _w: {"categories": ["fruit"]},
    ),
    Endpoint("GET", "/v1/offers", P.RULES_READ),
    Endpoint("GET", "/v1/offers/rewards", P.REWARDS_READ),
    Endpoint("GET", "/v1/rewards/coupon-return", P.REWARDS_READ),
    Endpoint(
        "PUT",
        "/v1/rewards/coupon-return",
        P.REWARDS_MANAGE,
        lambda _w: {"give_back_on_return": True},
    ),
    Endpoint(
        "POST",
        "/v1/offers/offer-x2/audience",
        P.RULES_PUBLISH,
        lambda w: {"member_ids": [w.member_id]},
    ),
    Endpoint("GET", "/v1/webhooks", P.WEBHOOKS_MANAGE),
    Endpoint("POST", "/v1/webhooks", P.WEBHOOKS_MANAGE, lambda _w: {"url": HOOK}),
    Endpoint("GET", "/v1/webhooks/{subscription_id}", P.WEBHOOKS_MANAGE),
    Endpoint(
        "PATCH",
        "/v1/webhooks/{subscription_id}",
        P.WEBHOOKS_MANAGE,
        lambda _w: {"event_types": ["purchase.committed"]},
    ),
    Endpoint("DELETE", "/v1/webhooks/{subscription_id}", P.WEBHOOKS_MANAGE),
    Endpoint("GET", "/v1/notifications/templates", P.PROGRAM_READ),
    Endpoint("GET", "/v1/notifications/templates/{topic}/{language}", P.PROGRAM_READ),
    Endpoint(
        "PUT", "/v1/notifications/templates/{topic}/{language}", P.NOTIFICATIONS_EDIT, _template
    ),
    Endpoint("POST", "/v1/notifications/templates/{topic}/{language}/reset", P.NOTIFICATIONS_EDIT),
    Endpoint(
        "POST", "/v1/notifications/templates/{topic}/{language}/preview", P.PROGRAM_READ, _template
    ),
    Endpoint("GET", "/v1/notifications/policy", P.PROGRAM_READ),
    Endpoint("PUT", "/v1/notifications/policy", P.NOTIFICATIONS_EDIT, lambda _w: {}),
    Endpoint("GET", "/v1/webhooks/{subscription_id}/deliveries", P.WEBHOOKS_MANAGE),
    Endpoint(
        "POST",
        "/v1/webhooks/{subscription_id}/redeliver",
        P.WEBHOOKS_MANAGE,
        lambda _w: {"since": "2020-01-01T00:00:00Z"},
    ),
]
# the route templates of the endpoints above written with a fixed offer or rule id
TEMPLATES = {
    "/v1/members/{member_id}/offers/offer-x2/activate": (
        "/v1/members/{member_id}/offers/{offer_id}/activate"
    ),
    "/v1/members/{member_id}/favourites/fav": "/v1/members/{member_id}/favourites/{rule_id}",
    "/v1/offers/offer-x2/audience": "/v1/offers/{offer_id}/audience",
}


def _reward(code: str) -> dict[str, Any]:
    """A partner reward of 10 points (a pool, an image; redeemable while its pool lasts)."""
    return {"code": code, "kind": "partner", "name": {"en": "G", "ru": "Г"}, "points": 10}


def _rewards_world(ctx: Any, program: Program, member_id: int) -> tuple[int, int]:
    """A partner reward with an image and two pool codes, one issued to the member."""
    saved = reward_svc.save_reward(
        ctx, program, reward_svc.SaveReward(RewardIn(**_reward("gift")).to_reward("RUB"), "t")
    )
    reward_svc.load_pool(ctx, program, reward_svc.LoadPool(saved["id"], [_fresh(), _fresh()], "t"))
    reward_svc.set_image(ctx, program, reward_svc.SetImage(saved["id"], PNG, "t"))
    issued = reward_svc.redeem_reward(
        ctx, program, reward_svc.RedeemReward(member_id, saved["id"], key=f"rw-{member_id}")
    )
    return saved["id"], issued["issued"]["id"]


# The program and world of the calls that write nothing, per database and role: a GET,
# or a call the role may not make (403, and the test checks that no row count changed).
# They share one; a call that may write gets a world of its own. A world per call was most
# of this module's time (951 calls; a world is 15 units of work).
_SHARED_PROGRAMS: dict[tuple[str, Role], Program] = {}
_SHARED_WORLDS: dict[tuple[str, Role], World] = {}


def _shared(request: pytest.FixtureRequest, backend: str) -> tuple[str, Role] | None:
    """The key of the shared world for this test, or None when it needs its own."""
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    role, endpoint = params.get("role"), params.get("endpoint")
    if not isinstance(role, Role) or not isinstance(endpoint, Endpoint):
        return None
    if endpoint.method != "GET" and endpoint.permission in PERMISSIONS[role]:
        return None  # allowed to write: a world of its own
    return (backend, role)


@pytest.fixture
def program(
    request: pytest.FixtureRequest, make_program: Callable[..., Program], backend: str
) -> Program:
    """The test's program: its own, or the one it shares (see ``_shared``)."""
    key = _shared(request, backend)
    if key is None:
        return make_program()
    if key not in _SHARED_PROGRAMS:
        _SHARED_PROGRAMS[key] = make_program()
    return _SHARED_PROGRAMS[key]


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    kopilka: Kopilka,
    program: Program,
    make_member: Any,
    role: Role,
    backend: str,
) -> World:
    """A member with points, a hold and a purchase, made at the store of the role's key
    (a pos key's S1; the unbound web shop's none): a bound key sees only its own. Shared by
    the calls that write nothing (``_shared``)."""
    key = _shared(request, backend)
    if key is not None and key in _SHARED_WORLDS:
        return _SHARED_WORLDS[key]
    made = _make_world(kopilka, program, make_member, role)
    if key is not None:
        _SHARED_WORLDS[key] = made
    return made


def _make_world(kopilka: Kopilka, program: Program, make_member: Any, role: Role) -> World:
    member_id = make_member(program)
    ctx = kopilka.services
    with ctx.uow(read_only=True) as uow:
        number = uow.members.get(program.id, member_id).identifiers["card"][0]
    points_svc.earn(ctx, program, Earn(member_id, 100, key=f"seed-{member_id}"))
    store = None if role == Role.ECOMMERCE else "S1"
    hold = points_svc.hold(
        ctx, program, PlaceHold(member_id, 20, key=f"hold-{member_id}", store=store)
    )
    version = publish_rules(ctx, program, OFFER_RULES + PAID_PLAN)
    receipt = basket(line("1", "300.00", quantity="3"), member_id=member_id, store=store)
    receipt_id = f"R-{member_id}"
    purchase_svc.commit(
        ctx, program, commands.purchase(ctx, program, {**receipt, "receipt_id": receipt_id})
    )
    proposal = rule_proposals.propose(
        ctx,
        program,
        rule_proposals.ProposeRules(
            RULES, RulesFormat.YAML, None, key=f"propose-{member_id}", actor="test"
        ),
    )
    hook = webhook_svc.add_subscription(ctx, program, webhook_svc.AddSubscription(HOOK))
    reward_id, issued_id = _rewards_world(ctx, program, member_id)
    paid_member = make_member(program)
    sale = memberships.StartMembership(paid_member, "gold_month", f"M-{paid_member}")
    membership = memberships.start_membership(ctx, program, sale, actor="test")["id"]
    return World(
        member_id,
        number,
        hold["hold_id"],
        receipt_id,
        version,
        proposal["id"],
        subscription_id=hook["id"],
        paid_member_id=paid_member,
        membership_id=membership,
        reward_id=reward_id,
        issued_id=issued_id,
    )


def test_matrix_covers_every_route(kopilka: Kopilka) -> None:
    """The table names every documented /v1 operation but /v1/me: no route escapes the test."""
    paths = create_app(kopilka).openapi()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1")
        for method in operations
    }
    tested = {(e.method, TEMPLATES.get(e.path, e.path)) for e in ENDPOINTS}
    assert routes - {("GET", "/v1/me")} == tested


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_role_may_call_endpoint_exactly_as_the_matrix_says(
    client: TestClient,
    kopilka: Kopilka,
    key_for: KeyFactory,
    world: World,
    role: Role,
    endpoint: Endpoint,
) -> None:
    """A role with the endpoint's permission gets 2xx; without it, 403 and no row changes."""
    headers = key_for(role.value)
    if endpoint.method != "GET":
        headers = idem(**headers)
    before = row_counts(kopilka.engine)
    if endpoint.raw is not None:
        response = client.request(
            endpoint.method,
            endpoint.url(world),
            content=endpoint.raw,
            headers={**headers, "Content-Type": "image/png"},
        )
    else:
        response = client.request(
            endpoint.method,
            endpoint.url(world),
            json=endpoint.body(world),
            params=endpoint.params(world),
            headers=headers,
        )
    if endpoint.permission in PERMISSIONS[role]:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
        assert row_counts(kopilka.engine) == before


def test_me_tells_every_role_what_it_may_do(client: TestClient, key_for: KeyFactory) -> None:
    """/v1/me answers any valid key with its role, store and permissions from the matrix."""
    for role in Role:
        me = client.get("/v1/me", headers=key_for(role.value)).json()
        assert me["role"] == role.value
        assert set(me["permissions"]) == {str(p) for p in PERMISSIONS[role]}
        assert (me["store"] == "S1") == (role == Role.POS)
