"""Points for a purchase: the deterministic evaluation of a rule set over a basket.

The outcome is fully determined by the rule set, the program, the basket, the member and the
usage counters; the order in which basket lines arrive does not matter (lines are processed in
``line_id`` order, so allocation ties always fall the same way). Evaluation runs in three
stages, and inside each stage rules run in ``(priority, id)`` order, lower priority first:

1. **Base points** (``kind: rate``). Each line's earning base is its amount minus the part paid
   with points; lines excluded by the document's ``exclude`` (tobacco, gift cards...) and, with
   ``options.no_points_on_discounted``, discounted lines have no base. A rate rule sums the
   bases of its in-scope lines, computes its points once (whole multiples: ``points`` per FULL
   ``per``; or ``percent`` of the amount at the point value, rounded with the program's mode),
   then spreads them over those lines with :func:`allocate`.
2. **Multipliers** (``kind: multiplier``) add ``(factor - 1) x`` the base points of their lines.
   Multipliers never multiply each other: x2 and x3 on one line give 1 + 1 + 2 = 4 times base.
3. **Purchase bonuses** (``kind: bonus``: threshold, every n-th purchase, first purchase, or a
   plain bonus under conditions such as a birthday) give fixed points spread over their eligible
   lines in proportion to the bases. A bonus with no eligible line (all excluded) gives nothing.

Stacking: a ``stackable`` rule adds to the others. An ``exclusive`` rule that applies to a line
blocks every later rule of the SAME stage on that line, so with ``dairy`` (priority 10,
exclusive) and ``base`` (priority 100), dairy lines earn only the dairy rate. Ties in priority
are broken by rule id; nothing depends on when a rule was edited.

Caps (per purchase, per member day/month, campaign budget) shrink a rule's points before they
are spread; an exhausted rule does not apply. Pilots: a rule limited to some stores simply does
not apply elsewhere; a rule limited to a share of members reports an otherwise eligible member
outside the share in ``EarnResult.control_group`` instead of awarding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import ValidationError
from kopilka.domain.money import round_points
from kopilka.domain.program import Program
from kopilka.domain.rules.allocation import allocate
from kopilka.domain.rules.conditions import Facts
from kopilka.domain.rules.context import (
    NO_USAGE,
    Award,
    EarnResult,
    MemberContext,
    UsageCounters,
    UsageDelta,
)
from kopilka.domain.rules.limits import capacity
from kopilka.domain.rules.model import Rule, RuleSet
from kopilka.domain.rules.pilot import in_share

HUNDRED = Decimal(100)


def check_currency(ruleset: RuleSet, program: Program) -> None:
    """Refuse to evaluate a rule set written for another currency than the program's."""
    if ruleset.currency != program.currency:
        raise ValidationError(
            f"rules are in {ruleset.currency} but the program uses {program.currency}",
            field="currency",
        )


def point_value_minor(ruleset: RuleSet, program: Program) -> int:
    """Money value of one point: the document's redemption value, else the program's."""
    return ruleset.redemption.point_value_minor or program.point_value_minor


def passes(rule: Rule, facts: Facts) -> bool:
    """Whether every condition of the rule holds (pilot stores included)."""
    for check in rule.checks:
        if not check(facts):
            return False
    return rule.pilot_stores is None or facts.store in rule.pilot_stores


def in_control(rule: Rule, member_id: str) -> bool:
    """Whether the member falls outside the rule's pilot share."""
    return rule.pilot_share is not None and not in_share(rule.id, member_id, rule.pilot_share)


def earning_bases(
    ruleset: RuleSet, lines: Sequence[BasketLine], discounts: Mapping[str, int]
) -> list[int]:
    """Each line's amount that can earn points: net of points paid, zero when excluded."""
    known = {line.line_id for line in lines}
    unknown = sorted(set(discounts) - known)
    if unknown:
        raise ValidationError(f"points discount for unknown line {unknown[0]!r}", field="lines")
    bases: list[int] = []
    exclude, no_discounted = ruleset.exclude, ruleset.no_points_on_discounted
    for line in lines:
        paid = discounts.get(line.line_id, 0)
        if not 0 <= paid <= line.amount_minor:
            raise ValidationError(
                "points discount must be between 0 and the line amount",
                field="points_discount",
                line=line.line_id,
            )
        if (no_discounted and line.discounted) or exclude.hits(line):
            bases.append(0)
        else:
            bases.append(line.amount_minor - paid)
    return bases


def evaluate_purchase(
    ruleset: RuleSet,
    program: Program,
    basket: Basket,
    member: MemberContext,
    *,
    usage: UsageCounters = NO_USAGE,
    points_redeemed_discount_by_line: Mapping[str, int] | None = None,
) -> EarnResult:
    """Points the member earns for ``basket``, attributed to lines and rules (see module doc)."""
    check_currency(ruleset, program)
    lines = sorted(basket.lines, key=lambda line: line.line_id)
    bases = earning_bases(ruleset, lines, points_redeemed_discount_by_line or {})
    local_date, weekday, minute = Facts.local_parts(basket.occurred_at, program.timezone)
    facts = Facts(
        store=basket.store,
        channel=basket.channel.value,
        partner=basket.partner,
        payment_method=basket.payment_method,
        tier=member.tier,
        segments=member.segments,
        attributes=member.attributes,
        lifetime_spend_minor=member.lifetime_spend_minor,
        local_date=local_date,
        weekday=weekday,
        minute_of_day=minute,
        birthday=member.birthday,
    )
    run = _Run(ruleset, member, usage, lines)
    value = point_value_minor(ruleset, program)
    rounding = program.rounding
    n = len(lines)
    scoped = scoped_lines(ruleset, lines)
    base_points = [0] * n

    blocked = [False] * n
    for rule in ruleset.rates:
        if not passes(rule, facts):
            continue
        idx = _in_scope(rule, scoped, bases, blocked)
        if not idx:
            continue
        weights = [bases[i] for i in idx]
        amount = sum(weights)
        if rule.percent is not None:
            raw = round_points(Decimal(amount) * rule.percent / (HUNDRED * value), rounding)
        else:
            raw = amount // rule.per_minor * rule.points
        if run.award(rule, idx, weights, raw, base_points):
            _block(rule, idx, blocked)

    blocked = [False] * n
    for rule in ruleset.multipliers:
        if not passes(rule, facts):
            continue
        idx = _in_scope(rule, scoped, base_points, blocked)
        if not idx:
            continue
        weights = [base_points[i] for i in idx]
        assert rule.factor is not None  # a multiplier always has one
        raw = round_points(Decimal(sum(weights)) * (rule.factor - 1), rounding)
        if run.award(rule, idx, weights, raw, None):
            _block(rule, idx, blocked)

    blocked = [False] * n
    next_purchase = member.purchase_count + 1
    for rule in ruleset.bonuses:
        if rule.first_purchase and member.purchase_count != 0:
            continue
        if rule.every_nth_purchase is not None and next_purchase % rule.every_nth_purchase:
            continue
        if not passes(rule, facts):
            continue
        idx = _in_scope(rule, scoped, bases, blocked)
        if not idx:
            continue
        weights = [bases[i] for i in idx]
        if rule.min_amount_minor is not None and sum(weights) < rule.min_amount_minor:
            continue
        if run.award(rule, idx, weights, rule.points, None):
            _block(rule, idx, blocked)

    return run.result()


def scoped_lines(ruleset: RuleSet, lines: Sequence[BasketLine]) -> dict[str, list[int]]:
    """For each scoped rule, the positions of the lines it lists (via the rule set's index)."""
    index = ruleset.scope_index
    found: dict[str, list[int]] = {}
    if not index:
        return found
    for i, line in enumerate(lines):
        keys = [("category", line.category), ("sku", line.sku), ("brand", line.brand)]
        keys.extend(("tag", tag) for tag in line.tags)
        for key in keys:
            for rule_id in index.get(key, ()):
                positions = found.setdefault(rule_id, [])
                if not positions or positions[-1] != i:
                    positions.append(i)
    return found


def _in_scope(
    rule: Rule,
    scoped: Mapping[str, list[int]],
    weights: Sequence[int],
    blocked: Sequence[bool],
) -> list[int]:
    if rule.scope.everything:
        return [i for i, w in enumerate(weights) if w > 0 and not blocked[i]]
    return [i for i in scoped.get(rule.id, ()) if weights[i] > 0 and not blocked[i]]


def _block(rule: Rule, idx: Sequence[int], blocked: list[bool]) -> None:
    if rule.exclusive:
        for i in idx:
            blocked[i] = True


class _Run:
    """Accumulates awards, usage and control-group membership for one evaluation."""

    __slots__ = ("awards", "control", "lines", "member_id", "usage", "used", "version")

    def __init__(
        self,
        ruleset: RuleSet,
        member: MemberContext,
        usage: UsageCounters,
        lines: Sequence[BasketLine],
    ) -> None:
        self.version = ruleset.version
        self.member_id = member.member_id
        self.usage = usage
        self.lines = lines
        self.awards: list[Award] = []
        self.control: list[str] = []
        self.used: dict[str, int] = {}

    def award(
        self,
        rule: Rule,
        idx: Sequence[int],
        weights: Sequence[int],
        raw: int,
        into: list[int] | None,
    ) -> bool:
        """Cap, spread and record ``raw`` points of ``rule``; False when the rule did not apply."""
        if rule.pilot_share is not None and in_control(rule, self.member_id):
            self.control.append(rule.id)
            return False
        cap = capacity(rule, self.usage) if rule.capped else None
        if cap is not None:
            if cap <= 0:
                return False
            raw = min(raw, cap)
        if raw <= 0:
            return True
        parts = allocate(raw, weights) if len(weights) > 1 else [raw]
        lines, version, awards = self.lines, self.version, self.awards
        rule_id, text, visible = rule.id, rule.description, rule.visible
        make = tuple.__new__  # Award(...) without the named tuple's keyword wrapper
        for i, points in zip(idx, parts, strict=True):
            if points:
                awards.append(
                    make(Award, (rule_id, version, lines[i].line_id, points, text, visible))
                )
                if into is not None:
                    into[i] += points
        self.used[rule.id] = self.used.get(rule.id, 0) + raw
        return True

    def result(self) -> EarnResult:
        return EarnResult(
            ruleset_version=self.version,
            awards=tuple(self.awards),
            usage=UsageDelta(points_by_rule=self.used),
            control_group=tuple(self.control),
        )
