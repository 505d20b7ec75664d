"""Redeeming rewards through the services on both databases: the ledger entry, the code,
idempotency, each limit and visibility rule (table-driven), each validity rule at the till
and in the expiry job (table-driven), partner pools, cancel and expiry with and without
refunds, and the till's coupon checks."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import (
    CouponInvalid,
    InsufficientPoints,
    IssuedRewardNotActive,
    NotFoundError,
    RewardCodeInvalid,
    RewardUnavailable,
)
from kopilka.domain.rewards import (
    Audience,
    CouponKind,
    CouponTerms,
    EarlyAccess,
    Limits,
    Period,
    RewardKind,
    Validity,
    check_code,
    grouped,
)
from kopilka.services import audit, purchases, rewards
from kopilka.services.balance_view import balance_view
from kopilka.services.rewards import CancelIssued, RedeemReward
from kopilka.store.tables import journal_entries
from tests import commands
from tests.conftest import START

from .conftest import a_coupon, a_reward


def redeem(ctx, program, member_id, reward_id, key=None):
    key = key or f"r-{uuid.uuid4().hex}"
    return rewards.redeem_reward(ctx, program, RedeemReward(member_id, reward_id, key=key))


def entries(ctx, program, kind):
    j = journal_entries.c
    with ctx.uow(read_only=True) as uow:
        return uow.conn.execute(
            select(j.id, j.points, j.reverses_entry_id, j.reference).where(
                j.program_id == program.id, j.kind == kind
            )
        ).all()


def test_redeem_debits_points_and_issues_a_checked_code(ctx, program, add_reward, member):
    """A redemption writes one ``reward`` entry of the price, lowers the balance, takes a
    unit of stock and issues a code whose check character verifies; verify stays clean."""
    reward = add_reward(points=300, stock=5)
    m = member(1000)
    issued = redeem(ctx, program, m, reward["id"])
    assert issued["balance"]["available"] == 700
    assert balance_view(ctx, program, m).available == 700
    code = issued["issued"]["code"]
    assert check_code(code) == code
    assert issued["issued"]["display_code"] == grouped(code)
    assert issued["issued"]["status"] == "issued"
    (entry,) = entries(ctx, program, "reward")
    assert entry.points == 300
    assert entry.id == issued["issued"]["entry_id"]
    assert entry.reference == reward["code"]
    assert rewards.reward(ctx, program, reward["id"])["stock"] == 4
    assert audit.verify_ledger(ctx, program.id).ok


def test_a_replayed_key_issues_once(ctx, program, add_reward, member):
    """The same idempotency key answers the first issue again and debits nothing more."""
    reward = add_reward(points=100)
    m = member(1000)
    first = redeem(ctx, program, m, reward["id"], key="once")
    again = redeem(ctx, program, m, reward["id"], key="once")
    assert again == first
    assert len(entries(ctx, program, "reward")) == 1
    assert balance_view(ctx, program, m).available == 900


def test_not_enough_points_issues_nothing(ctx, program, add_reward, member):
    """A member short of the price is refused; the stock is untouched."""
    reward = add_reward(points=300, stock=1)
    m = member(200)
    with pytest.raises(InsufficientPoints):
        redeem(ctx, program, m, reward["id"])
    assert rewards.reward(ctx, program, reward["id"])["stock"] == 1
    assert rewards.member_rewards(ctx, program, m) == []


def test_price_differs_by_tier(ctx, program, add_reward, member):
    """A gold member pays the gold price; others the base price."""
    reward = add_reward(points=500, tier_points={"gold": 300})
    gold, basic = member(1000, tier="gold"), member(1000, tier="basic")
    assert redeem(ctx, program, gold, reward["id"])["issued"]["points"] == 300
    assert redeem(ctx, program, basic, reward["id"])["issued"]["points"] == 500


H = timedelta(hours=1)
D = timedelta(days=1)

# (case, reward fields, member tier, redemptions before, clock moves, expected reason|None)
LIMIT_CASES = [
    ("member total: under", {"limits": Limits(per_member=2)}, None, 1, None, None),
    ("member total: reached", {"limits": Limits(per_member=2)}, None, 2, None, "member_limit"),
    (
        "per day: reached",
        {"limits": Limits(per_period=1, period=Period.DAY)},
        None,
        1,
        None,
        "period_limit",
    ),
    (
        "per day: next day",
        {"limits": Limits(per_period=1, period=Period.DAY)},
        None,
        1,
        D,
        None,
    ),
    (
        "per month: a week later still",
        {"limits": Limits(per_period=1, period=Period.MONTH)},
        None,
        1,
        7 * D,
        "period_limit",
    ),
    ("total: reached", {"limits": Limits(total=1)}, None, 1, None, "total_limit"),
    ("stock: none left", {"stock": 1}, None, 1, None, "out_of_stock"),
    ("stock: zero", {"stock": 0}, None, 0, None, "out_of_stock"),
    ("window: before start", {"starts_at": START + H}, None, 0, None, "not_yet_available"),
    ("window: at start", {"starts_at": START}, None, 0, None, None),
    ("window: at end", {"ends_at": START}, None, 0, None, "ended"),
    ("window: before end", {"ends_at": START + H}, None, 0, None, None),
    (
        "early: gold before the others",
        {"starts_at": START + D, "early": EarlyAccess("gold", START - H)},
        "gold",
        0,
        None,
        None,
    ),
    (
        "early: silver waits",
        {"starts_at": START + D, "early": EarlyAccess("gold", START - H)},
        "silver",
        0,
        None,
        "not_yet_available",
    ),
    (
        "early: silver from the start",
        {"starts_at": START + D, "early": EarlyAccess("gold", START - H)},
        "silver",
        0,
        D,
        None,
    ),
    ("audience: tier in", {"audience": Audience(tiers=("gold",))}, "gold", 0, None, None),
    (
        "audience: tier out",
        {"audience": Audience(tiers=("gold",))},
        "silver",
        0,
        None,
        "not_visible",
    ),
    ("withdrawn", {"active": False}, None, 0, None, "inactive"),
]


@pytest.mark.parametrize(
    ("fields", "tier", "before", "later", "expected"),
    [c[1:] for c in LIMIT_CASES],
    ids=[c[0] for c in LIMIT_CASES],
)
def test_limits_and_visibility(
    ctx, clock, program, add_reward, member, fields, tier, before, later, expected
):
    """Each limit and visibility rule refuses with its reason exactly when it should; a
    refused member does not see a ``listing`` refusal in the catalog either."""
    reward = add_reward(points=10, **fields)
    m = member(1000, tier=tier)
    other = member(1000)
    for _ in range(before):
        # a "total" or "stock" case spends it through another member
        who = other if (expected == "total_limit" or expected == "out_of_stock") else m
        redeem(ctx, program, who, reward["id"])
    if later:
        clock.advance(later)
    listed = {i["id"]: i for i in rewards.visible_catalog(ctx, program, m)}
    if expected is None:
        assert redeem(ctx, program, m, reward["id"])["issued"]["status"] == "issued"
        assert listed[reward["id"]]["available"] is True
        return
    with pytest.raises(RewardUnavailable) as err:
        redeem(ctx, program, m, reward["id"])
    assert err.value.details["reason"] == expected
    if expected in ("not_visible", "not_yet_available", "ended", "inactive"):
        assert reward["id"] not in listed
    else:
        assert listed[reward["id"]]["available"] is False
        assert listed[reward["id"]]["reason"] == expected


def test_explicit_member_list(ctx, program, add_reward, member):
    """A reward for listed members only: the listed one redeems, another cannot see it."""
    listed, other = member(500), member(500)
    reward = add_reward(audience=Audience(members=(listed,)))
    assert redeem(ctx, program, listed, reward["id"])
    with pytest.raises(RewardUnavailable):
        redeem(ctx, program, other, reward["id"])
    assert all(i["id"] != reward["id"] for i in rewards.visible_catalog(ctx, program, other))


def test_partner_pool(ctx, program, add_reward, member):
    """Codes load once (duplicates counted), each redemption takes the next one, and an
    empty pool refuses without debiting."""
    reward = add_reward(kind=RewardKind.PARTNER, points=50)
    loaded = rewards.load_pool(
        ctx, program, rewards.LoadPool(reward["id"], ["P-1", "P-2", "P-1"], actor="t")
    )
    assert loaded == {"added": 2, "duplicates": 1, "free": 2}
    again = rewards.load_pool(ctx, program, rewards.LoadPool(reward["id"], ["P-2"], actor="t"))
    assert again == {"added": 0, "duplicates": 1, "free": 2}
    m = member(1000)
    codes = [redeem(ctx, program, m, reward["id"])["issued"]["code"] for _ in range(2)]
    assert codes == ["P-1", "P-2"]
    with pytest.raises(RewardUnavailable) as err:
        redeem(ctx, program, m, reward["id"])
    assert err.value.details["reason"] == "pool_empty"
    assert balance_view(ctx, program, m).available == 900


@pytest.mark.parametrize(("refund", "back"), [(True, 300), (False, 0)], ids=["refund", "keep"])
def test_cancel_gives_points_back_by_setting(ctx, program, add_reward, member, refund, back):
    """Cancelling an unused reward refunds it (a ``reward_refund`` entry referencing the
    ``reward`` entry) or not, by the program's setting; the unit returns to stock; a
    second cancel is refused."""
    rewards.set_refund_settings(
        ctx, program, rewards.SetRefundSettings(on_cancel=refund, on_expiry=False, actor="t")
    )
    reward = add_reward(points=300, stock=1)
    m = member(1000)
    issued = redeem(ctx, program, m, reward["id"])["issued"]
    ended = rewards.cancel_issued(
        ctx, program, CancelIssued(issued["id"], key="c1", actor="agent", reason="asked")
    )
    assert ended["issued"]["status"] == "cancelled"
    assert ended["refunded"] == back
    assert balance_view(ctx, program, m).available == 700 + back
    refunds = entries(ctx, program, "reward_refund")
    if refund:
        (entry,) = refunds
        assert entry.reverses_entry_id == issued["entry_id"]
        assert entry.points == 300
        assert ended["refund_entry_id"] == entry.id
    else:
        assert refunds == []
    assert rewards.reward(ctx, program, reward["id"])["stock"] == 1
    with pytest.raises(IssuedRewardNotActive):
        rewards.cancel_issued(
            ctx, program, CancelIssued(issued["id"], key="c2", actor="agent", reason="again")
        )
    history = rewards.issued_detail(ctx, program, issued["id"])["history"]
    assert [h["status"] for h in history] == ["issued", "cancelled"]
    assert audit.verify_ledger(ctx, program.id).ok


@pytest.mark.parametrize(("refund", "back"), [(True, 200), (False, 0)], ids=["refund", "keep"])
def test_expiry_in_the_worker_job(ctx, clock, program, add_reward, member, refund, back):
    """An unused reward past its validity expires in the ``rewards`` job, refunded or not
    by the setting; one still valid is left alone."""
    from kopilka.services.worker.kinds import run_rewards

    rewards.set_refund_settings(
        ctx, program, rewards.SetRefundSettings(on_cancel=True, on_expiry=refund, actor="t")
    )
    short = add_reward(points=200, validity=Validity(timedelta(hours=2), valid_days=1))
    long = add_reward(points=100, validity=Validity(valid_days=30))
    m = member(1000)
    s = redeem(ctx, program, m, short["id"])["issued"]
    redeem(ctx, program, m, long["id"])
    assert s["valid_from"] == (START + 2 * H).isoformat()
    assert s["expires_at"] == (START + 2 * H + D).isoformat()
    clock.advance(2 * H + D)

    class Run:
        scheduled_for = as_of = clock.now()

        def checkpoint(self, done: int = 0) -> None:
            pass

    counts = run_rewards(ctx, program, Run())
    assert counts == {"expired": 1, "points_refunded": back}
    statuses = {i["reward_id"]: i["status"] for i in rewards.member_rewards(ctx, program, m)}
    assert statuses == {short["id"]: "expired", long["id"]: "issued"}
    assert balance_view(ctx, program, m).available == 700 + back
    assert audit.verify_ledger(ctx, program.id).ok


S = timedelta(seconds=1)
# (case, validity, when it becomes usable and when it ends, as offsets from the issue at
#  START; None: never ends). A fixed end earlier than the days wins, and the other way.
VALIDITY_CASES = [
    ("for good", Validity(), timedelta(0), None),
    ("days", Validity(valid_days=3), timedelta(0), 3 * D),
    ("delay, then days", Validity(2 * H, valid_days=1), 2 * H, 2 * H + D),
    ("fixed end", Validity(valid_until=START + 5 * D), timedelta(0), 5 * D),
    (
        "fixed end before the days",
        Validity(valid_days=10, valid_until=START + 2 * D),
        timedelta(0),
        2 * D,
    ),
    (
        "days before the fixed end",
        Validity(valid_days=1, valid_until=START + 5 * D),
        timedelta(0),
        D,
    ),
    ("delay, then fixed end", Validity(H, valid_until=START + D), H, D),
]


@pytest.mark.parametrize(
    ("validity", "starts", "ends"),
    [c[1:] for c in VALIDITY_CASES],
    ids=[c[0] for c in VALIDITY_CASES],
)
def test_validity_at_the_till_and_in_the_job(
    ctx, clock, program, add_reward, member, validity, starts, ends
):
    """Each validity rule sets the issued coupon's window; the till refuses it a second
    before (``not_yet_valid``), takes it from its first instant to its last second, and
    refuses it from its end (``expired``), when the ``rewards`` job ends it too (not a
    second before)."""
    terms = CouponTerms(CouponKind.PERCENT, 10)
    coupon = add_reward(a_reward(kind=RewardKind.COUPON, coupon=terms, validity=validity))
    m = member(1000)
    issued = redeem(ctx, program, m, coupon["id"])["issued"]
    assert issued["valid_from"] == (START + starts).isoformat()
    assert issued["expires_at"] == (None if ends is None else (START + ends).isoformat())
    body = {
        "member_id": m,
        "lines": [{"line_id": "1", "sku": "S1", "amount": "100.00"}],
        "coupons": [issued["code"]],
    }

    def till_at(at):
        clock.set(at)
        try:
            quoted = purchases.quote(ctx, program, commands.quote(ctx, program, body))
        except CouponInvalid as refused:
            return refused.details["reason"]
        return quoted["coupons"][0]["discount"]

    probes = [(START + starts, "10.00")]
    if starts:
        probes.append((START + starts - S, "not_yet_valid"))
    if ends is None:
        probes.append((START + 3650 * D, "10.00"))
    else:
        probes += [(START + ends - S, "10.00"), (START + ends, "expired")]
    assert {at: till_at(at) for at, _ in probes} == dict(probes)
    if ends is not None:
        assert rewards.expire_due(ctx, program, START + ends - S) == (0, 0)
        assert rewards.expire_due(ctx, program, START + ends) == (1, 0)
    else:
        assert rewards.expire_due(ctx, program, START + 3650 * D) == (0, 0)
    statuses = [i["status"] for i in rewards.member_rewards(ctx, program, m)]
    assert statuses == ["issued" if ends is None else "expired"]


def test_coupon_at_the_till(ctx, clock, program, add_reward, member):
    """The till's checks: a mistyped code, another member's coupon, one not valid yet, a
    used one; the right member's coupon is found by its grouped, lower-case code."""
    reward = add_reward(a_coupon(validity=Validity(timedelta(hours=1), valid_days=7)))
    m, other = member(1000), member(1000)
    issued = redeem(ctx, program, m, reward["id"])["issued"]
    code = issued["code"]
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with ctx.uow() as uow:
        with pytest.raises(RewardCodeInvalid):
            rewards.coupon_for_use(uow, program, wrong, m, clock.now())
        with pytest.raises(IssuedRewardNotActive) as err:
            rewards.coupon_for_use(uow, program, code, m, clock.now())
        assert err.value.details["reason"] == "not_yet_valid"
    clock.advance(H)
    with ctx.uow() as uow:
        with pytest.raises(IssuedRewardNotActive) as err:
            rewards.coupon_for_use(uow, program, code, other, clock.now())
        assert err.value.details["reason"] == "other_member"
        found = rewards.coupon_for_use(uow, program, grouped(code).lower(), m, clock.now())
        assert found.coupon is not None
        assert found.coupon.amount == 10
        rewards.mark_used(uow, found, clock.now(), reference="purchase:1")
        uow.commit()
    with ctx.uow() as uow, pytest.raises(IssuedRewardNotActive) as err:
        rewards.coupon_for_use(uow, program, code, m, clock.now())
    assert err.value.details["reason"] == "used"
    with pytest.raises(NotFoundError), ctx.uow() as uow:
        rewards.coupon_for_use(uow, program, "P-NOPE", m, clock.now())


def test_search_by_code_as_typed(ctx, program, add_reward, member):
    """The issued list finds a Kopilka code by its grouped, lower-case beginning, and a
    partner's mixed-case code as it was loaded."""
    own = add_reward(points=10)
    partner = add_reward(kind=RewardKind.PARTNER, points=10)
    rewards.load_pool(ctx, program, rewards.LoadPool(partner["id"], ["Cin-abc"], actor="t"))
    m = member(100)
    code = redeem(ctx, program, m, own["id"])["issued"]["code"]
    redeem(ctx, program, m, partner["id"])
    typed = grouped(code)[:6].lower()  # "abcd-e"
    found = rewards.issued_page(ctx, program, rewards.IssuedQuery(code=typed))
    assert [i["code"] for i in found] == [code]
    found = rewards.issued_page(ctx, program, rewards.IssuedQuery(code="Cin-a"))
    assert [i["code"] for i in found] == ["Cin-abc"]
