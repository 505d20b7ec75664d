"""Returns say what they did to the balance (review issue 18, items 14 and 20).

Item 14: spent points come back on a return only while they are still valid (the domain
article's rule), which is now the default restore policy ``expire``; ``reissue`` (a fresh
lot) stays selectable. The return's answer and the member's history say how many points
were restored and how many of them expired at once.

Item 20: what the answer says was clawed back is what left the balance: under the forgive
policy the points no longer there are reported as forgiven, not as clawed back.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopilka.domain.program import RestorePolicy
from kopilka.services import audit, members, points, purchases
from kopilka.services.points import Earn, PlaceHold, Redeem, VoidHold
from tests import commands

from .conftest import basket

DAY = timedelta(days=1)


def total(ctx, program, member_id):
    """Available plus pending, as of now."""
    b = members.get_balance(ctx, program, member_id)
    return b.available + b.pending


def whys(ctx, program, member_id):
    return [x["why"] for x in audit.history(ctx, program, member_id)["items"]]


def test_a_new_program_restores_spent_points_only_while_valid(make_program):
    """The default restore policy is the article's rule; reissue can still be chosen."""
    assert make_program().restore_policy == RestorePolicy.EXPIRE
    assert make_program(restore_policy="reissue").restore_policy == RestorePolicy.REISSUE


def _spend_then_wait(ctx, clock, rules_program, make_member, funded, days, **spec):
    """200 points earned at T0 (valid 30 days), all spent on day 1 on a 1000 RUB basket
    (which earns 8), then ``days`` more days pass."""
    program = rules_program(expiry_kind="days", expiry_n=30, **spec)
    m = make_member(program)
    funded(program, m, 200)
    clock.advance(DAY)
    body = basket(m, ("1", "600", "bread"), ("2", "400", "bread"), redeem_points=200)
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert (receipt["points_redeemed"], receipt["points_earned"]) == (200, 8)
    clock.advance(days * DAY)
    return program, m, body["receipt_id"]


def test_a_return_after_expiry_restores_expired_points_by_default(
    ctx, clock, rules_program, make_member, funded
):
    """Returned 39 days later: the 200 points spent are restored and expire at once (the
    balance gains nothing), and the 8 earned, expired too, cannot be taken: forgiven. The
    answer, the stored return and the history say so."""
    program, m, receipt_id = _spend_then_wait(ctx, clock, rules_program, make_member, funded, 39)
    before = total(ctx, program, m)
    assert before == 0
    back = purchases.process_return(
        ctx, program, commands.return_(receipt_id, {"return_id": "all"})
    )
    assert (back["points_restored"], back["expired_at_once"]) == (200, 200)
    assert (back["points_clawed_back"], back["forgiven"], back["debt"]) == (0, 8, 0)
    assert total(ctx, program, m) == before == 0
    assert sum(x["expired_at_once"] for x in back["lines"]) == 200
    assert sum(x["forgiven"] for x in back["lines"]) == 8
    stored = purchases.get_purchase(ctx, program, receipt_id)["returns"][0]
    assert (stored["points_restored"], stored["expired_at_once"], stored["forgiven"]) == (
        200,
        200,
        8,
    )
    history = whys(ctx, program, m)
    assert any(
        w.startswith("return: 200 points restored") and "of which 200 expired at once" in w
        for w in history
    ), history
    assert any("0 points taken back" in w and "8 more" in w for w in history), history
    assert audit.verify_ledger(ctx, program.id).ok


def test_reissue_is_still_selectable(ctx, clock, rules_program, make_member, funded):
    """With restore_policy reissue the expired spent points come back in a fresh lot."""
    program, m, receipt_id = _spend_then_wait(
        ctx, clock, rules_program, make_member, funded, 39, restore_policy="reissue"
    )
    back = purchases.process_return(
        ctx, program, commands.return_(receipt_id, {"return_id": "all"})
    )
    assert (back["points_restored"], back["expired_at_once"]) == (200, 0)
    assert total(ctx, program, m) == 200
    assert any("200 came back with a new expiry date" in w for w in whys(ctx, program, m))


def test_a_return_while_valid_restores_spendable_points(
    ctx, clock, rules_program, make_member, funded
):
    """Returned 9 days later, within the points' validity: all 200 come back spendable,
    and the 8 earned are taken back."""
    program, m, receipt_id = _spend_then_wait(ctx, clock, rules_program, make_member, funded, 9)
    before = total(ctx, program, m)
    back = purchases.process_return(
        ctx, program, commands.return_(receipt_id, {"return_id": "all"})
    )
    assert (back["points_restored"], back["expired_at_once"]) == (200, 0)
    assert (back["points_clawed_back"], back["forgiven"]) == (8, 0)
    assert total(ctx, program, m) == before + 200 - 8 == 200
    history = whys(ctx, program, m)
    assert "return: 200 points restored" in " | ".join(history)
    assert "return: 8 points taken back" in " | ".join(history)


def _earn_then_spend_some(ctx, rules_program, make_member, **spec):
    """A purchase earning 29 points over two lines, 10 of them then spent elsewhere."""
    program = rules_program(**spec)
    m = make_member(program)
    body = basket(m, ("1", "1500", "bread"), ("2", "1400", "bread"))
    assert (
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))["points_earned"] == 29
    )
    points.redeem(ctx, program, Redeem(m, 10, key="elsewhere"))
    return program, m, body["receipt_id"]


def test_forgiven_points_are_not_reported_as_clawed_back(ctx, rules_program, make_member):
    """Forgive policy: 29 to claw back, 19 left in the balance. The answer says 19 clawed
    back and 10 forgiven, and the balance fell by 19 (it said 29 clawed back)."""
    program, m, receipt_id = _earn_then_spend_some(ctx, rules_program, make_member)
    before = total(ctx, program, m)
    back = purchases.process_return(
        ctx, program, commands.return_(receipt_id, {"return_id": "all"})
    )
    assert (back["points_clawed_back"], back["forgiven"], back["debt"]) == (19, 10, 0)
    assert before - total(ctx, program, m) == back["points_clawed_back"] == 19
    assert sum(x["points_clawed_back"] for x in back["lines"]) == 19
    assert sum(x["forgiven"] for x in back["lines"]) == 10
    stored = purchases.get_purchase(ctx, program, receipt_id)["returns"][0]
    assert (stored["points_clawed_back"], stored["forgiven"]) == (19, 10)
    assert any(
        w.startswith("return: 19 points taken back") and "10 more" in w
        for w in whys(ctx, program, m)
    )


def test_a_debt_is_reported_as_clawed_back(ctx, rules_program, make_member):
    """Debt policy: all 29 are taken, 10 of them below zero; the balance falls by 29."""
    program, m, receipt_id = _earn_then_spend_some(
        ctx, rules_program, make_member, negative_balance="debt"
    )
    before = total(ctx, program, m)
    back = purchases.process_return(
        ctx, program, commands.return_(receipt_id, {"return_id": "all"})
    )
    assert (back["points_clawed_back"], back["forgiven"], back["debt"]) == (29, 0, 10)
    assert before - total(ctx, program, m) == 29
    assert members.get_balance(ctx, program, m).available == -10


def test_a_released_hold_says_which_points_expired_during_it(ctx, clock, make_program, make_member):
    """Held points whose lot expired during the hold come back expired (the same rule), and
    the history line of the cancellation says so."""
    program = make_program(expiry_kind="days", expiry_n=1)
    m = make_member(program)
    points.earn(ctx, program, Earn(m, 100, key="earn"))
    hold = points.hold(ctx, program, PlaceHold(m, 50, ttl_seconds=3 * 86400, key="hold"))
    clock.advance(2 * DAY)
    points.void(ctx, program, VoidHold(hold["hold_id"], key="void"))
    assert total(ctx, program, m) == 0
    assert any(
        "50 points released, of which 50 expired at once" in w for w in whys(ctx, program, m)
    ), whys(ctx, program, m)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    negative_balance=st.sampled_from(["forgive", "debt"]),
    restore_policy=st.sampled_from(["expire", "reissue"]),
    redeem=st.integers(0, 50).map(lambda n: n * 10),
    spent_share=st.integers(0, 100),
    wait_days=st.integers(0, 45),
    full=st.booleans(),
)
def test_a_return_answer_is_what_the_balance_did(
    ctx,
    clock,
    rules_program,
    make_member,
    funded,
    negative_balance,
    restore_policy,
    redeem,
    spent_share,
    wait_days,
    full,
):
    """Property, under both policies: after a purchase paid partly with points, some of
    the points then spent elsewhere and some days (the points valid 30), a return moves
    the balance as of now by exactly points_restored - expired_at_once -
    points_clawed_back, and its lines add up to its totals."""
    program = rules_program(
        expiry_kind="days",
        expiry_n=30,
        negative_balance=negative_balance,
        restore_policy=restore_policy,
    )
    m = make_member(program)
    funded(program, m, 500)
    clock.advance(DAY)
    body = basket(m, ("1", "1500", "bread"), ("2", "1400", "dairy"), redeem_points=redeem)
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    spend = members.get_balance(ctx, program, m).available * spent_share // 100
    if spend:
        points.redeem(ctx, program, Redeem(m, spend, key=f"spend-{m}"))
    clock.advance(wait_days * DAY)
    before = total(ctx, program, m)
    back = purchases.process_return(
        ctx,
        program,
        commands.return_(
            body["receipt_id"],
            {"return_id": "r"} if full else {"return_id": "r", "lines": [{"line_id": "2"}]},
        ),
    )
    moved = total(ctx, program, m) - before
    assert moved == back["points_restored"] - back["expired_at_once"] - back["points_clawed_back"]
    for key in ("points_clawed_back", "points_restored", "forgiven", "expired_at_once"):
        assert sum(x[key] for x in back["lines"]) == back[key], key
    if negative_balance == "debt":
        assert back["forgiven"] == 0
    if restore_policy == "reissue":
        assert back["expired_at_once"] == 0
    assert audit.verify_ledger(ctx, program.id).ok
