"""A purchase's points do not depend on how its lines are numbered (review issue 18, item 19).

Allocation ties (a rate's rounded points shared over equal lines, a bonus, a points
discount) used to go to the lower line id, and a multiplier then doubled a whole-number
share: the same receipt earned 2 or 1 points as the SKU on offer was line "1" or "2".
Lines are now ranked by what they are (``content_key``), so permuting a basket's lines and
renaming their ids changes neither the total nor any line's points.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.domain.basket import BasketLine
from kopilka.domain.errors import RedemptionNotAllowed
from kopilka.domain.rules import EarnResult, evaluate_purchase, spread_discount
from kopilka.domain.rules.earning import content_key

from .factories import basket, line, member, program, rules

OFFER = """
rules:
  - {id: base, kind: rate, rate: {percent: 10}}
  - {id: x2, kind: multiplier, factor: 2, scope: {skus: [X]}}
"""

# rates, an exclusive category rate, multipliers on a SKU, a brand and a tag, bonuses:
# every stage shares rounded points over lines, so every stage has ties to break
DOCUMENT = """
exclude: {categories: [tobacco]}
redemption: {max_percent: 50}
rules:
  - {id: base, kind: rate, priority: 100, rate: {percent: 10}}
  - {id: per100, kind: rate, priority: 110, rate: {points: 1, per: "100"}}
  - {id: dairy, kind: rate, priority: 10, stacking: exclusive, rate: {percent: 5},
     scope: {categories: [dairy]}}
  - {id: x2, kind: multiplier, factor: 2, scope: {skus: [A, B]}}
  - {id: x15, kind: multiplier, factor: "1.5", scope: {brands: [acme]}}
  - {id: xtag, kind: multiplier, factor: 3, scope: {tags: [eco]}}
  - {id: big, kind: bonus, points: 7, min_amount: "10"}
  - {id: odd, kind: bonus, points: 3, scope: {categories: [dairy, bread]}}
"""
_DOCUMENT = rules(DOCUMENT)

SKUS = ("A", "B", "C", "D", "E", "F")
contents = st.tuples(
    st.sampled_from(SKUS),
    st.integers(0, 5_000),  # minor units: small amounts make rounding ties common
    st.sampled_from(["dairy", "bread", "grocery", "tobacco"]),
    st.sampled_from(["acme", "other"]),
    st.booleans(),
    st.sampled_from([Decimal(1), Decimal(2), Decimal("0.5")]),
    st.frozensets(st.sampled_from(["eco", "new"]), max_size=2),
)


def _line(line_id: str, content: tuple[object, ...]) -> BasketLine:
    sku, amount, category, brand, discounted, quantity, tags = content
    return BasketLine(
        line_id=line_id,
        sku=str(sku),
        quantity=quantity,  # type: ignore[arg-type]
        amount_minor=amount,  # type: ignore[arg-type]
        category=str(category),
        brand=str(brand),
        discounted=bool(discounted),
        tags=tags,  # type: ignore[arg-type]
    )


def _by_line(result: EarnResult) -> dict[str, dict[str, int]]:
    """Points per line and rule."""
    out: dict[str, dict[str, int]] = {}
    for a in result.awards:
        assert a.line_id is not None
        rule_points = out.setdefault(a.line_id, {})
        rule_points[a.rule_id] = rule_points.get(a.rule_id, 0) + a.points
    return out


def test_a_multiplied_sku_earns_the_same_as_line_1_or_line_2() -> None:
    """The issue's receipt: 10 % and x2 on SKU X, two 5.00 lines. X as line "1" and X as
    line "2" earn the same points, on the same line (it used to be 2 against 1)."""
    first = basket(line("1", 5, sku="X"), line("2", 5, sku="Y"))
    second = basket(line("1", 5, sku="Y"), line("2", 5, sku="X"))
    a = evaluate_purchase(rules(OFFER), program(), first, member())
    b = evaluate_purchase(rules(OFFER), program(), second, member())
    assert a.total_points == b.total_points
    assert a.points_by_line().get("1", 0) == b.points_by_line().get("2", 0)  # X's points
    assert a.points_by_line().get("2", 0) == b.points_by_line().get("1", 0)  # Y's points


@settings(max_examples=300, deadline=None)
@given(
    st.lists(contents, min_size=1, max_size=8, unique_by=lambda c: c[0]),
    st.randoms(use_true_random=False),
    st.integers(0, 30),
    st.integers(0, 10),
)
def test_permuting_and_renaming_lines_changes_no_line_s_points(
    lines_: list[tuple[object, ...]], rnd: object, spend: int, purchase_count: int
) -> None:
    """Property: permute a basket's lines and rename their ids (any bijection, so an id's
    order says nothing), and the total, every line's points by rule (relabelled) and the
    spread of a points discount (relabelled) stay the same. Lines differ in SKU here, so
    each is told apart by its content."""
    ids = [f"l{n}" for n in range(len(lines_))]
    renamed = [f"r{n:02d}" for n in range(len(lines_))]
    rnd.shuffle(renamed)  # type: ignore[attr-defined]
    relabel = dict(zip(ids, renamed, strict=True))
    original = [_line(i, c) for i, c in zip(ids, lines_, strict=True)]
    moved = [_line(relabel[i], c) for i, c in zip(ids, lines_, strict=True)]
    rnd.shuffle(moved)  # type: ignore[attr-defined]
    prog, who = program(), member(purchase_count=purchase_count)
    b1, b2 = basket(*original), basket(*moved)
    discounts: dict[str, int] = {}
    if spend:
        try:
            discounts = spread_discount(spend, b1, _DOCUMENT, prog)
        except RedemptionNotAllowed:  # not payable with these points: earn without
            discounts = {}
        else:
            again = spread_discount(spend, b2, _DOCUMENT, prog)
            assert {relabel[i]: v for i, v in discounts.items()} == again
    first = evaluate_purchase(_DOCUMENT, prog, b1, who, points_redeemed_discount_by_line=discounts)
    second = evaluate_purchase(
        _DOCUMENT,
        prog,
        b2,
        who,
        points_redeemed_discount_by_line={relabel[i]: v for i, v in discounts.items()},
    )
    assert first.total_points == second.total_points
    assert first.points_by_rule() == second.points_by_rule()
    assert {relabel[i]: p for i, p in _by_line(first).items()} == _by_line(second)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(contents, min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_alike_lines_share_the_same_points_whatever_their_ids(
    lines_: list[tuple[object, ...]], rnd: object
) -> None:
    """Property, lines alike allowed: under any permutation and renaming the total is the
    same and so is the multiset of (content, points); lines alike in content are
    interchangeable, so which of them takes a tie's point is the only freedom left."""
    ids = [f"l{n}" for n in range(len(lines_))]
    renamed = [f"r{n:02d}" for n in range(len(lines_))]
    rnd.shuffle(renamed)  # type: ignore[attr-defined]
    original = [_line(i, c) for i, c in zip(ids, lines_, strict=True)]
    moved = [_line(i, c) for i, c in zip(renamed, lines_, strict=True)]
    rnd.shuffle(moved)  # type: ignore[attr-defined]

    def signature(lines: list[BasketLine]) -> tuple[int, Counter[object]]:
        result = evaluate_purchase(_DOCUMENT, program(), basket(*lines), member())
        per_line = result.points_by_line()
        return result.total_points, Counter(
            (content_key(ln)[:-1], per_line.get(ln.line_id, 0)) for ln in lines
        )

    assert signature(original) == signature(moved)
