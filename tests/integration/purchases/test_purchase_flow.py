"""Purchases through the services: quote, commit, return, on both databases."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import (
    IdempotencyConflict,
    KopilkaError,
    MemberBlocked,
    NotFoundError,
    RedemptionNotAllowed,
    ReversalExceeded,
    ValidationError,
)
from kopilka.services import audit, events, members, purchases
from kopilka.services.points import PlaceHold
from tests import commands

from .conftest import basket


def balance(ctx, program, member_id):
    b = members.get_balance(ctx, program, member_id)
    return (b.available, b.pending, b.held)


def test_commit_earns_per_line_with_rules(ctx, rules_program, make_member):
    """Points are earned per line under the published rules and stored with rule and version."""
    program = rules_program()
    m = make_member(program)
    body = basket(m, ("1", "250.00", "dairy"), ("2", "199.99", "bread"), ("3", "500", "tobacco"))
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    # base: 1 per full 100 of the 449.99 eligible (tobacco excluded) = 4, spread 2/2 over the
    # lines; the dairy multiplier doubles the dairy line's 2
    assert receipt["points_earned"] == 6
    by_line = {ln["line_id"]: ln["points_earned"] for ln in receipt["lines"]}
    assert by_line == {"1": 4, "2": 2, "3": 0}
    stored = purchases.get_purchase(ctx, program, body["receipt_id"])
    rules_on_1 = {a["rule_id"]: a["points"] for a in stored["lines"][0]["awards"]}
    assert rules_on_1 == {"base": 2, "dairy-x2": 2}
    assert all(a["rule_version"] == 1 for ln in stored["lines"] for a in ln["awards"])


def test_quote_agrees_with_commit_and_writes_nothing(ctx, rules_program, make_member, funded):
    """A quote predicts the commit exactly and leaves the ledger untouched."""
    program = rules_program()
    m = make_member(program)
    funded(program, m, 500)
    body = basket(m, ("1", "1000", "dairy"), ("2", "2500", "bread"), redeem_points=300)
    before = audit.verify_ledger(ctx, program.id).totals
    q = purchases.quote(ctx, program, commands.quote(ctx, program, body))
    assert audit.verify_ledger(ctx, program.id).totals == before
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert q["points_earned"] == receipt["points_earned"]
    assert q["discount"] == receipt["discount"] == "300.00"
    assert [ln["points_earned"] for ln in q["lines"]] == [
        ln["points_earned"] for ln in receipt["lines"]
    ]


def test_redeemed_points_discount_lines_and_earn_only_on_money(
    ctx, rules_program, make_member, funded
):
    """Paying with points spreads the discount over lines and earns only on the money paid."""
    program = rules_program()
    m = make_member(program)
    funded(program, m, 1000)
    body = basket(m, ("1", "600", "bread"), ("2", "400", "bread"), redeem_points=500)
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    discounts = [ln["discount"] for ln in receipt["lines"]]
    assert discounts == ["300.00", "200.00"]
    assert receipt["to_pay"] == "500.00"
    assert receipt["points_earned"] == 5  # 1 per full 100 RUB on 500 RUB paid
    assert balance(ctx, program, m) == (505, 0, 0)


def test_redemption_over_the_limit_is_refused_and_writes_nothing(
    ctx, rules_program, make_member, funded
):
    """More points than the rules allow is a redemption_not_allowed error with no effect."""
    program = rules_program()
    m = make_member(program)
    funded(program, m, 1000)
    body = basket(m, ("1", "100", "bread"), redeem_points=90)  # max 50%
    with pytest.raises(RedemptionNotAllowed):
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert balance(ctx, program, m) == (1000, 0, 0)
    with pytest.raises(ValidationError):
        purchases.get_purchase(ctx, program, body["receipt_id"]) if False else purchases.commit(
            ctx, program, commands.purchase(ctx, program, {**body, "lines": []})
        )


def test_full_return_restores_every_balance(ctx, rules_program, make_member, funded):
    """A purchase followed by its full return leaves every balance as it was."""
    program = rules_program()
    m = make_member(program)
    funded(program, m, 400)
    start = balance(ctx, program, m)
    body = basket(m, ("1", "1999.90", "dairy"), ("2", "1200", "bread"), redeem_points=200)
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert balance(ctx, program, m) != start
    ret = purchases.process_return(
        ctx, program, commands.return_(body["receipt_id"], {"return_id": "ret-1"})
    )
    assert ret["points_restored"] == 200
    assert balance(ctx, program, m) == start
    assert audit.verify_ledger(ctx, program.id).ok


def test_partial_returns_add_up_to_the_full_return(ctx, rules_program, make_member, funded):
    """Returning a line in parts claws back exactly what the line was awarded, no more."""
    program = rules_program()
    m = make_member(program)
    funded(program, m, 100)
    body = basket(m, ("1", "3333", "dairy"), ("2", "700", "bread"), redeem_points=100)
    body["lines"][0]["quantity"] = "3"
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    line1 = receipt["lines"][0]
    total_claw = total_restore = 0
    for i in range(3):
        r = purchases.process_return(
            ctx,
            program,
            commands.return_(
                body["receipt_id"],
                {"return_id": f"r{i}", "lines": [{"line_id": "1", "quantity": "1"}]},
            ),
        )
        total_claw += r["points_clawed_back"]
        total_restore += r["points_restored"]
    assert total_claw == line1["points_earned"]
    assert total_restore == line1["points_redeemed"]
    with pytest.raises(ReversalExceeded):  # was ValidationError: now the documented 409
        purchases.process_return(
            ctx,
            program,
            commands.return_(
                body["receipt_id"],
                {"return_id": "r9", "lines": [{"line_id": "1", "quantity": "1"}]},
            ),
        )
    assert audit.verify_ledger(ctx, program.id).ok


def test_return_claws_back_what_was_awarded_not_todays_rules(ctx, rules_program, make_member):
    """After new rules are published, a return still claws back the points actually awarded."""
    from kopilka.services import rules

    program = rules_program()
    m = make_member(program)
    body = basket(m, ("1", "1000", "dairy"))
    earned = purchases.commit(ctx, program, commands.purchase(ctx, program, body))["points_earned"]
    rules.publish(ctx, program, "rules:\n  - {id: base, kind: rate, rate: {percent: 50}}\n")
    ret = purchases.process_return(
        ctx, program, commands.return_(body["receipt_id"], {"return_id": "x"})
    )
    assert ret["points_clawed_back"] == earned == 20


def test_receipt_id_is_idempotent(ctx, rules_program, make_member):
    """The same receipt committed twice books once; a different body under it is a conflict."""
    program = rules_program()
    m = make_member(program)
    body = basket(m, ("1", "500", "bread"))
    first = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert purchases.commit(ctx, program, commands.purchase(ctx, program, body)) == first
    assert balance(ctx, program, m) == (5, 0, 0)
    with pytest.raises(IdempotencyConflict):
        purchases.commit(
            ctx,
            program,
            commands.purchase(
                ctx, program, {**body, "lines": [{**body["lines"][0], "amount": "900"}]}
            ),
        )


def test_booked_answer_is_what_commit_answered(ctx, rules_program, make_member):
    """The stored answer of a booked receipt, without its request; None before it is
    booked, and for a receipt whose commit was refused (its refusal is stored, not a
    booking)."""
    program = rules_program()
    m = make_member(program)
    body = basket(m, ("1", "500", "bread"))
    assert purchases.booked_answer(ctx, program, body["receipt_id"]) is None
    first = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert purchases.booked_answer(ctx, program, body["receipt_id"]) == first
    refused = {**basket(m, ("1", "300", "milk")), "receipt_id": "refused-1"}
    with pytest.raises(KopilkaError):  # not enough points
        purchases.commit(
            ctx, program, commands.purchase(ctx, program, {**refused, "redeem_points": 10_000})
        )
    assert purchases.booked_answer(ctx, program, "refused-1") is None


def test_commit_captures_a_till_hold(ctx, rules_program, make_member, funded):
    """A purchase paid with a hold captures part of it and releases the rest."""
    from kopilka.services import points

    program = rules_program()
    m = make_member(program)
    funded(program, m, 300)
    hold = points.hold(ctx, program, PlaceHold(m, 200, key="h1"))
    body = basket(m, ("1", "300", "bread"), hold_id=hold["hold_id"], redeem_points=150)
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    assert receipt["points_redeemed"] == 150
    assert balance(ctx, program, m) == (150 + receipt["points_earned"], 0, 0)
    assert audit.verify_ledger(ctx, program.id).ok


def test_event_rules_award_within_limits(ctx, rules_program, make_member):
    """A review earns its rule's points up to the per-month limit; repeats are idempotent."""
    program = rules_program()
    m = make_member(program)
    got = [
        events.record_event(
            ctx, program, commands.event({"event_id": f"e{i}", "type": "review", "member_id": m})
        )["points_earned"]
        for i in range(3)
    ]
    assert got == [20, 20, 0]
    again = events.record_event(
        ctx, program, commands.event({"event_id": "e0", "type": "review", "member_id": m})
    )
    assert again["points_earned"] == 20
    assert balance(ctx, program, m) == (40, 0, 0)


def test_preview_evaluates_a_draft_without_publishing(ctx, rules_program, make_member):
    """A draft rule set is evaluated on a basket; the published version stays in force."""
    from kopilka.services import rules

    program = rules_program()
    m = make_member(program)
    draft = "rules:\n  - {id: base, kind: rate, rate: {percent: 10}}\n"
    body = basket(m, ("1", "1000", "bread"))
    out = rules.preview(ctx, program, commands.preview(ctx, program, draft, purchase=body))
    assert out["points_earned"] == 100
    assert out["by_rule"] == {"base": 100}
    assert [v["version"] for v in rules.list_versions(ctx, program)] == [1]
    assert purchases.quote(ctx, program, commands.quote(ctx, program, body))["points_earned"] == 10


def test_invalid_rules_document_names_line_and_field(ctx, make_program):
    """Publishing a bad document fails with the line and field, and stores nothing."""
    from kopilka.services import rules

    program = make_program()
    doc = "rules:\n  - id: base\n    kind: rate\n    rate: {points: 0, per: '100'}\n"
    with pytest.raises(ValidationError) as err:
        rules.publish(ctx, program, doc)
    assert "line 4" in str(err.value)
    assert rules.list_versions(ctx, program) == []


def test_caps_count_across_purchases_and_budget_runs_out(ctx, rules_program, make_member):
    """Per-member daily caps and a campaign budget hold across purchases and members."""
    doc = """
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}, limits: {per_member_day: 15}}
  - {id: promo, kind: bonus, points: 10, min_amount: "100", limits: {budget: 25}}
"""
    program = rules_program(doc)
    a, b = make_member(program), make_member(program)
    first = purchases.commit(
        ctx, program, commands.purchase(ctx, program, basket(a, ("1", "1000", "x")))
    )
    second = purchases.commit(
        ctx, program, commands.purchase(ctx, program, basket(a, ("1", "1000", "x")))
    )
    third = purchases.commit(
        ctx, program, commands.purchase(ctx, program, basket(b, ("1", "1000", "x")))
    )
    assert [r["points_earned"] for r in (first, second, third)] == [20, 15, 15]
    by_rule = [
        {aw["rule_id"]: aw["points"] for aw in r["lines"][0]["awards"]}
        for r in (first, second, third)
    ]
    assert by_rule == [
        {"base": 10, "promo": 10},
        {"base": 5, "promo": 10},
        {"base": 10, "promo": 5},
    ]


def test_prepare_commit_checks_the_request_before_opening_a_unit_of_work(
    ctx, rules_program, make_member, monkeypatch
):
    """The API checks and parses a purchase before it takes SQLite's writer lock: a bad
    request fails in the first step, which opens no unit of work; the step it returns
    books the purchase as commit would."""
    program = rules_program()
    m = make_member(program)
    opened: list[bool] = []
    open_uow = ctx.uow

    def counting_uow(*, read_only: bool = False):
        opened.append(read_only)
        return open_uow(read_only=read_only)

    monkeypatch.setattr(ctx, "uow", counting_uow)
    with pytest.raises(ValidationError):
        purchases.prepare_commit(
            ctx, program, commands.purchase(ctx, program, basket(m, ("1", "not money", "dairy")))
        )
    body = basket(m, ("1", "250.00", "dairy"), ("2", "199.99", "bread"))
    book = purchases.prepare_commit(
        ctx, program, commands.purchase(ctx, program, body), caller_key="till-1"
    )
    assert opened == []
    receipt = book()
    assert opened
    assert receipt["points_earned"] == 6
    # the same request again answers the stored outcome under either key
    assert (
        purchases.commit(ctx, program, commands.purchase(ctx, program, body), caller_key="till-1")
        == receipt
    )
    assert (
        purchases.commit(ctx, program, commands.purchase(ctx, program, body), caller_key="till-2")
        == receipt
    )
    with pytest.raises(IdempotencyConflict):
        purchases.commit(
            ctx,
            program,
            commands.purchase(ctx, program, {**body, "store": "OTHER"}),
            caller_key="till-1",
        )


def _card_of(ctx, program, member_id):
    return members.get_member(ctx, program, member_id).identifiers["card"][0]


def test_a_purchase_by_card_finds_and_locks_its_member_in_one_statement(
    ctx, backend, rules_program, make_member, make_program, monkeypatch
):
    """A till names the member by card: the card is looked up in the statement that locks
    the member's balance (on PostgreSQL no statement of its own). An unknown card, a card
    of another program and a bad identifier kind are refused as before, writing nothing;
    a blocked member's card is refused as blocked."""
    program = rules_program()
    m = make_member(program)
    card = _card_of(ctx, program, m)
    sent: list[str] = []
    if backend.startswith("postgresql"):
        import psycopg

        real = psycopg.Cursor.execute

        def counting(self, query, *args, **kwargs):
            sent.append(query if isinstance(query, str) else str(query))
            return real(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    body = basket(m, ("1", "250.00", "dairy"), ("2", "199.99", "bread"))
    del body["member_id"]
    body["member"] = {"card": card.lower()}  # normalised as at enrollment
    receipt = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    monkeypatch.undo()
    assert receipt["member_id"] == m
    assert receipt["points_earned"] == 6
    if backend.startswith("postgresql"):
        looked_up = [q for q in sent if "member_identifiers" in q]
        assert len(looked_up) == 1
        assert "FOR UPDATE OF member_balances" in looked_up[0]

    before = audit.verify_ledger(ctx, program.id).totals
    other = make_program()
    stranger = make_member(other)
    for ref, error in (
        ({"card": "NO-SUCH-CARD"}, NotFoundError),
        ({"card": _card_of(ctx, other, stranger)}, NotFoundError),
        ({"fingerprint": card}, ValidationError),
    ):
        bad = basket(m, ("1", "100", "bread"))
        del bad["member_id"]
        bad["member"] = ref
        with pytest.raises(error):
            purchases.commit(ctx, program, commands.purchase(ctx, program, bad))
    assert audit.verify_ledger(ctx, program.id).totals == before

    members.set_blocked(ctx, program, m, True, reason="fraud check")
    blocked = basket(m, ("1", "100", "bread"))
    del blocked["member_id"]
    blocked["member"] = {"card": card}
    with pytest.raises(MemberBlocked):
        purchases.commit(ctx, program, commands.purchase(ctx, program, blocked))
