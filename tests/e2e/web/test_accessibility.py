"""Every page of the web UI meets WCAG 2.1 AA as axe-core checks it (contrast, labels,
landmarks, headings, names of links and buttons..., and axe's best practices): each console
and portal page, as the roles that see it, at desktop (1280 x 800) and phone (390 x 844)
sizes, in English and Russian, has 0 violations. And no page escapes: every GET route of
the web router under ``/admin`` or ``/portal`` is in ``PAGES`` (or in ``NOT_PAGES``, with
why).

A new page is one line in ``PAGES``: its route as the router spells it, the roles that
see it, and (when the route has parameters or the page needs a query) the URL to visit,
where ``{member}``, ``{receipt}`` and ``{card}`` are the world's member, receipt and card.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from kopilka.domain.clock import FrozenClock
from kopilka.domain.portal import PortalSettings
from kopilka.domain.rewards import CouponKind, CouponTerms, Reward, RewardKind, Text, Validity
from kopilka.services import analytics, ledger_reports, portal_settings, rule_proposals, rules
from kopilka.services import rewards as rewards_svc
from kopilka.services.context import ServiceContext
from kopilka.services.notifications import Notify, UnsubscribeToken, make_token, notify
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from tests.conftest import START
from tests.e2e.web.axe import axe_violations, describe
from tests.e2e.web.test_browser import serving
from tests.e2e.web.test_console_verify import store_heavy_report
from tests.e2e.web.test_console_webhooks import add_failed_delivery
from tests.e2e.web.test_param_bounds import _routes
from tests.e2e.web.world import (
    BAD_RULES,
    RULES,
    World,
    browser_portal_sign_in,
    build_world,
    make_app,
)

# the module's tests one after another on one xdist worker, so that the served world and
# the browser (module fixtures) are made once; a group of its own, beside the other browser
# modules' ("browser"), so that the two can run on both workers at once
pytestmark = pytest.mark.xdist_group("accessibility")

ANON, MEMBER = "anon", "member"  # not signed in; a member signed in to the portal
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class Page:
    route: str  # the router's path, e.g. "/admin/members/{member_id}"
    roles: tuple[str, ...]  # who visits it: console roles, MEMBER or ANON
    url: str = ""  # what to visit when it is not the route itself
    status: int = 200  # what the page answers (error pages are pages too)

    def address(self, world: World) -> str:
        token = UnsubscribeToken(world.program.id, world.member_id, "marketing_email")
        return (self.url or self.route).format(
            member=world.member_id,
            receipt=world.receipt_id,
            card=world.card,
            unsubscribe=make_token(world.ctx.messaging.secret, token),
        )


PAGES = [
    Page("/", (ANON,)),
    Page("/admin/sign-in", (ANON,)),
    Page("/portal/sign-in", (ANON,)),
    Page("/portal/join", (ANON,)),
    Page("/admin", ("admin", "analyst")),
    Page("/admin/verify", ("admin", "analyst")),
    Page("/admin/members", ("support", "marketer")),
    Page("/admin/members", ("support",), url="/admin/members?q=Ann&sort=name"),
    Page("/admin/members/{member_id}", ("support", "marketer"), url="/admin/members/{member}"),
    Page("/admin/members/{member_id}/tier", ("support",), url="/admin/members/{member}/tier"),
    Page("/admin/receipts", ("support", "analyst")),
    Page(
        "/admin/receipts",
        ("support",),
        url="/admin/receipts?store=S1&amount_min=100&sort=amount&order=asc",
    ),
    Page("/admin/receipts", ("support",), url="/admin/receipts?date_from=2026-13-01", status=422),
    # the receipt's page, reached through its former address (a redirect by receipt id)
    Page(
        "/admin/receipts/{purchase_id}",
        ("support", "analyst"),
        url="/admin/purchases?receipt_id={receipt}",
    ),
    Page("/admin/rules", ("marketer", "admin")),
    Page("/admin/rules/diff", ("marketer",), url="/admin/rules/diff?a=1&b=2"),
    Page("/admin/rules/{version}", ("marketer",), url="/admin/rules/1"),
    Page("/admin/rules/form", ("marketer",), url="/admin/rules/form?kind=multiplier"),
    Page("/admin/rules/form", ("marketer",), url="/admin/rules/form?kind=bonus"),
    Page(
        "/admin/rules/proposals/{proposal_id}",
        ("admin", "marketer"),
        url="/admin/rules/proposals/1",
    ),
    Page("/admin/audit", ("admin", "analyst")),
    Page("/admin/jobs", ("admin", "analyst")),
    Page("/admin/notifications", ("admin", "marketer")),
    Page("/admin/notifications/reminders", ("admin", "marketer")),
    Page(
        "/admin/notifications/{topic}/{language}",
        ("admin", "marketer"),
        url="/admin/notifications/winback/ru",
    ),
    Page("/portal/unsubscribe/{token}", (ANON,), url="/portal/unsubscribe/{unsubscribe}"),
    Page("/admin/offers", ("admin", "analyst")),
    Page("/admin/analytics", ("admin", "analyst")),
    Page(
        "/admin/analytics",
        ("analyst",),
        url="/admin/analytics?from=2026-01-01&to=2026-03-31&grain=week&by=store",
    ),
    Page("/admin/analytics", ("analyst",), url="/admin/analytics?from=2026-13-01", status=422),
    Page("/admin/webhooks", ("admin",)),
    # subscription 1 (the served world's), with a failed attempt in its log
    Page("/admin/webhooks/{subscription_id}", ("admin",), url="/admin/webhooks/1"),
    Page("/admin/tiers", ("admin", "analyst")),
    Page("/admin/audit", ("admin",), url="/admin/audit?member=x", status=422),
    Page("/admin/rewards", ("marketer", "support")),
    Page("/admin/rewards/{reward_id:int}", ("marketer",), url="/admin/rewards/1"),
    Page("/admin/rewards/issued", ("support",)),
    Page("/admin/rewards/issued", ("support",), url="/admin/rewards/issued?status=issued&q=A"),
    Page(
        "/admin/rewards/issued/{issued_id}/cancel",
        ("support",),
        url="/admin/rewards/issued/1/cancel",
    ),
    Page("/portal", (MEMBER,)),
    Page("/portal/profile", (MEMBER,)),
    Page("/portal/rewards", (MEMBER,)),
    Page("/portal/rewards/{reward_id}/redeem", (MEMBER,), url="/portal/rewards/1/redeem"),
    Page("/portal/coupons", (MEMBER,)),
    Page(
        "/portal/consents/confirm",
        (MEMBER,),
        url="/portal/consents/confirm?purpose=sms&answer=withdraw",
    ),
    # the error pages: not found, not allowed, a bad query, in the console and the portal
    Page("/admin/members/{member_id}", ("admin",), url="/admin/members/999999999", status=404),
    Page("/admin/verify", ("marketer",), status=403),
    Page("/admin/{rest:path}", ("support",), url="/admin/no-such-page", status=404),
    Page("/portal/{rest:path}", (MEMBER,), url="/portal/no-such-page", status=404),
    Page("/portal", (MEMBER,), url="/portal?before=0", status=422),
]
# GET routes under /admin or /portal that are not pages a person reads
NOT_PAGES = {
    "/admin/": "redirects to /admin",
    "/portal/": "redirects to /portal",
    "/admin/members.csv": "a CSV file",
    "/admin/receipts.csv": "a CSV file",
    "/admin/analytics/{chart}.csv": "a CSV file (a chart's numbers)",
    "/admin/analytics/export": "a CSV or Parquet file (an export for BI)",
    "/admin/purchases": "redirects to the receipt's page (/admin/receipts/{purchase_id})",
    "/portal/manifest.webmanifest": "the web app's manifest (JSON)",
    "/portal/sign-in/code": "needs a code asked for first: checked as the refused portal sign-in",
    "/portal/join/code": "needs a code asked for first, as the sign-in's code page",
    "/portal/rewards/{reward_id}/image": "a reward's image (PNG, JPEG or WebP)",
    "/admin/rewards/{reward_id:int}/image": "a reward's image (PNG, JPEG or WebP)",
}
ROLES = sorted({role for p in PAGES for role in p.roles})
OFFER_RULES = """  - id: coffee-x3
    kind: multiplier
    description: "x3 points on coffee"
    factor: 3
    scope: {categories: [coffee]}
    offer:
      audience: {everyone: true}
      requires_activation: true
      window: {from: 2026-03-01, to: 2026-03-31}
  - id: fav
    kind: favourite_categories
    choose: 2
    from: [dairy, bread, fruit]
    factor: 2
redemption:"""


def add_rewards(world: World) -> None:
    """A coupon (reward 1), a gift and a gift offered as a personal offer to activate in
    the catalog; the member redeems the coupon (issued reward 1), so the portal's coupons
    and the console's cancel page have one, and the offer's Activate button is on the
    portal's rewards page and under My offers, and in the console's offers page."""
    coupon = Reward(
        0,
        0,
        "ten-off",
        RewardKind.COUPON,
        Text("10 % off dairy", "Скидка 10 % на молочное"),
        Text("From 500 RUB", "От 500 ₽"),
        5,
        coupon=CouponTerms(CouponKind.PERCENT, 10, 50_000, ("dairy",)),
        stock=10,
        validity=Validity(valid_days=30),
    )
    gift = Reward(0, 0, "mug", RewardKind.GIFT, Text("Mug", "Кружка"), Text("", ""), 100_000)
    offer = Reward(
        0,
        0,
        "offer-cup",
        RewardKind.GIFT,
        Text("Cup", "Чашка"),
        Text("", ""),
        10,
        requires_activation=True,
    )
    for reward in (coupon, gift, offer):
        rewards_svc.save_reward(world.ctx, world.program, rewards_svc.SaveReward(reward, "t"))
    rewards_svc.redeem_reward(
        world.ctx, world.program, rewards_svc.RedeemReward(world.member_id, 1, key="axe-reward")
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """uvicorn on a free local port serving a world (with two rules versions, for the
    diff) on a fresh SQLite file."""
    url = f"sqlite:///{tmp_path_factory.mktemp('axe') / 'kopilka.db'}"
    upgrade(url)
    engine = make_engine(url)
    world = build_world(ServiceContext(engine, FrozenClock(START)))
    # the version in force has a personal offer and favourite categories, for the offers
    # page and the portal's sections
    in_force = RULES.replace('per: "100"', 'per: "50"').replace("redemption:", OFFER_RULES)
    rules.publish(world.ctx, world.program, in_force, actor="test")
    proposal = rule_proposals.ProposeRules(
        RULES.replace('per: "100"', 'per: "25"'), "yaml", None, key="axe-proposal", actor="test"
    )
    rule_proposals.propose(world.ctx, world.program, proposal)  # proposal 1, for its page
    # the verify report and the overview's snapshot, as the worker's jobs store them
    ledger_reports.check_ledger(world.ctx, world.program, "job")
    ledger_reports.snapshot_totals(world.ctx, world.program)
    analytics.refresh(world.ctx, world.program)  # the dashboard's rollups, as the job keeps them
    store_heavy_report(world)  # "Check now" asks first: its confirmation step is checked
    with world.ctx.uow() as uow:  # a message on the member card
        reminder = {"points": 120, "date": "31.03.2026", "balance": 500}
        notify(
            uow,
            world.program,
            Notify(world.program.id, "expiry_reminder", reminder, member_id=world.member_id),
            world.ctx.now(),
        )
        uow.commit()
    add_rewards(world)  # reward 1 (a coupon) and its issue 1 to the member, for their pages
    joining = portal_settings.SetPortalSettings(PortalSettings(self_enrolment=True), "test")
    portal_settings.set_portal_settings(world.ctx, world.program, joining)  # the join page
    add_failed_delivery(world)  # the webhook's page with a line in its log
    with serving(make_app(world.kopilka)) as base:
        yield base, world
    engine.dispose()


def test_every_page_of_the_console_and_the_portal_is_checked(served: tuple[str, World]) -> None:
    """Each GET route of the web router under /admin or /portal is visited by the axe
    test below (or said not to be a page): a new page cannot skip the check."""
    _, world = served
    app = make_app(world.kopilka)
    routes = {
        route.path
        for route in _routes(app.router.routes)
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and route.path.startswith(("/admin", "/portal"))
    }
    checked = {p.route for p in PAGES}
    missing = sorted(routes - checked - NOT_PAGES.keys())
    assert not missing, f"add these pages to PAGES in {Path(__file__).name}: {missing}"
    assert not (checked | NOT_PAGES.keys()) - routes - {"/"}, "a listed route is gone"


def _sign_in(page: Any, base: str, world: World, role: str) -> None:
    if role == ANON:
        return
    if role == MEMBER:
        browser_portal_sign_in(page, base, world)
        return
    page.goto(f"{base}/admin/sign-in")
    page.locator("input[name=api_key]").fill(world.keys[role])
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(lambda url: not url.endswith("/sign-in"))


@pytest.mark.browser
@pytest.mark.parametrize("role", ROLES)
def test_pages_have_no_accessibility_violations(
    served: tuple[str, World], browser: Any, role: str
) -> None:
    """Every page the role sees, at 1280 x 800 and 390 x 844, in English and Russian:
    axe-core's WCAG 2.0/2.1 A and AA rules find nothing (each violation is printed with
    its rule, impact, help and the elements' selectors)."""
    base, world = served
    # the pages' CSP allows no inline script: axe comes in as one, so the test bypasses it
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    found: list[str] = []
    visited = 0
    try:
        _sign_in(page, base, world, role)
        for lang in LANGUAGES:
            context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
            for width, height in SIZES.values():
                page.set_viewport_size({"width": width, "height": height})
                for p in PAGES:
                    if role not in p.roles:
                        continue
                    address = p.address(world)
                    response = page.goto(f"{base}{address}")
                    assert response is not None, address
                    assert response.status == p.status, (address, response.status)
                    assert page.evaluate("document.documentElement.lang") == lang
                    violations = axe_violations(page)
                    visited += 1
                    if violations:
                        found.append(
                            f"{address} [{lang}, {width}x{height}]:\n{describe(violations)}"
                        )
    finally:
        context.close()
    assert visited
    assert not found, "\n".join(found)


def _refused_sign_in(page: Any, base: str, world: World) -> None:
    page.goto(f"{base}/admin/sign-in")
    page.locator("input[name=api_key]").fill("kp_not_a_key")
    page.locator("main form button[type=submit]").last.click()


def _refused_portal_sign_in(page: Any, base: str, world: World) -> None:
    page.goto(f"{base}/portal/sign-in")
    page.locator("#address").fill(world.phone)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(f"{base}/portal/sign-in/code")
    page.locator("#code").fill("00000")  # five digits: never a code
    page.locator("main form button[type=submit]").last.click()


def _refused_adjustment(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "support")
    page.goto(f"{base}/admin/members/{world.member_id}")
    page.locator("#delta").fill("0")
    page.locator("#adjust-code").select_option("correction")
    page.locator("#adjust-note").fill("a zero adjustment")
    page.locator("form[action$='/adjust'] button[type=submit]").click()


def _refused_rules(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "marketer")
    page.goto(f"{base}/admin/rules")
    page.locator("textarea[name=document]").first.fill(BAD_RULES)
    publish = "form[action='/admin/rules/publish'] button[type=submit]:not([formaction])"
    page.locator(publish).first.click()


def _adjustment_to_confirm(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "support")
    page.goto(f"{base}/admin/members/{world.member_id}")
    page.locator("#delta").fill("25")
    page.locator("#adjust-code").select_option("goodwill")
    page.locator("#adjust-note").fill("a late delivery")
    page.locator("form[action$='/adjust'] button[type=submit]").click()


def _rules_to_confirm(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "marketer")
    page.goto(f"{base}/admin/rules")
    page.locator("textarea[name=document]").first.fill(RULES.replace('per: "100"', 'per: "20"'))
    publish = "form[action='/admin/rules/publish'] button[type=submit]:not([formaction])"
    page.locator(publish).first.click()


def _verify_to_confirm(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "admin")
    page.goto(f"{base}/admin/verify")
    page.locator("form[action='/admin/verify/check'] button[type=submit]").click()


def _refused_profile(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, MEMBER)
    page.goto(f"{base}/portal/profile")
    page.locator("#email").fill("not an e-mail")
    # the browser's own check of type=email would stop the form before the server's
    page.locator("main form").first.evaluate("f => f.noValidate = true")
    page.locator("main form button[type=submit]").first.click()


def _refused_reminders(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "admin")
    page.goto(f"{base}/admin/notifications/reminders")
    page.locator("#expiry_days").fill("7, 7")  # a day given twice
    page.locator("main form button[type=submit]").first.click()


def _refused_reward(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "marketer")
    page.goto(f"{base}/admin/rewards/1")  # reward 1: a coupon of 10 %
    page.locator("#r-camount").fill("150")
    page.locator("form[action='/admin/rewards/1'] button[type=submit]").click()


def _refused_reward_image(page: Any, base: str, world: World) -> None:
    _sign_in(page, base, world, "marketer")
    page.goto(f"{base}/admin/rewards/1")
    gif = {"name": "photo.gif", "mimeType": "image/gif", "buffer": b"GIF89a" + bytes(16)}
    page.locator("#r-image").set_input_files(gif)
    page.locator("form[action='/admin/rewards/1/image'] button[type=submit]").click()


# the pages as a refused form leaves them: an error message, the fields as typed
REFUSED = {
    "reward page, a percent over 100": _refused_reward,
    "reward page, a file that is no image": _refused_reward_image,
    "console sign-in, wrong key": _refused_sign_in,
    "portal sign-in, a wrong code (the code page)": _refused_portal_sign_in,
    "member card, zero adjustment": _refused_adjustment,
    "rules, a document with an error": _refused_rules,
    "portal profile, a bad e-mail": _refused_profile,
    "reminder settings, a day given twice": _refused_reminders,
}
# the confirmation steps of destructive actions (a page answered to a POST)
CONFIRMING = {
    "member card, an adjustment to confirm": _adjustment_to_confirm,
    "rules, a version to confirm": _rules_to_confirm,
    "verify, a heavy check to confirm": _verify_to_confirm,
}


@pytest.mark.browser
@pytest.mark.parametrize("case", sorted(REFUSED) + sorted(CONFIRMING))
def test_pages_showing_a_refusal_have_no_accessibility_violations(
    served: tuple[str, World], browser: Any, case: str
) -> None:
    """After a refused form (its message in an alert, the fields kept), and on the
    confirmation step of a destructive action, the page has no axe violations either, in
    both languages and at both sizes."""
    base, world = served
    found: list[str] = []
    for lang in LANGUAGES:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            if case in REFUSED:
                REFUSED[case](page, base, world)
                page.locator("[role=alert]").first.wait_for()
            else:
                CONFIRMING[case](page, base, world)
                page.locator("#confirm-h").wait_for()
            for width, height in SIZES.values():
                page.set_viewport_size({"width": width, "height": height})
                violations = axe_violations(page)
                if violations:
                    found.append(f"{case} [{lang}, {width}x{height}]:\n{describe(violations)}")
        finally:
            context.close()
    assert not found, "\n".join(found)


@pytest.mark.browser
def test_the_keyboard_skips_to_the_content_and_focus_shows(
    served: tuple[str, World], browser: Any
) -> None:
    """On a phone, the first Tab of a console page lands on the "Skip to content" link,
    shown on the screen with an outline; Enter takes the keyboard past the header; the next
    Tabs reach the page's controls, each drawn with a visible outline."""
    base, world = served
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    outline = "getComputedStyle(document.activeElement).outlineStyle"
    try:
        _sign_in(page, base, world, "support")
        page.goto(f"{base}/admin/members/{world.member_id}")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        box = page.locator("a.skip").bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert page.evaluate(outline) != "none"
        page.keyboard.press("Enter")
        assert page.url.endswith("#main")
        for _ in range(3):
            page.keyboard.press("Tab")
            inside = page.evaluate(
                "document.getElementById('main').contains(document.activeElement)"
            )
            assert inside
            assert page.evaluate(outline) != "none"
    finally:
        context.close()
