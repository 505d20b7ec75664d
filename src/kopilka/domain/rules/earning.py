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
from itertools import compress, repeat
from operator import attrgetter

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import ValidationError
from kopilka.domain.money import Rounding
from kopilka.domain.program import Program
from kopilka.domain.rules.allocation import split
from kopilka.domain.rules.conditions import Facts
from kopilka.domain.rules.context import (
    NO_USAGE,
    Award,
    EarnResult,
    MemberContext,
    UsageCounters,
    UsageDelta,
)
from kopilka.domain.rules.exact import extra_points, percent_points
from kopilka.domain.rules.limits import capacity
from kopilka.domain.rules.model import Rule, RuleSet
from kopilka.domain.rules.pilot import in_share
from kopilka.domain.rules.plan import Step

_LINE_ID = attrgetter("line_id")


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
    return ruleset.plan.bases(lines, discounts)


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
    plan = ruleset.plan
    lines = sorted(basket.lines, key=_LINE_ID)
    bases = plan.bases(lines, points_redeemed_discount_by_line or {})
    earning = [i for i, base in enumerate(bases) if base > 0]
    facts = Facts.gather(
        member,
        basket.occurred_at,
        program.timezone,
        store=basket.store,
        channel=basket.channel,
        partner=basket.partner,
        payment_method=basket.payment_method,
    )
    mode = program.rounding
    if type(mode) is not Rounding:
        mode = Rounding(mode)
    run = _Run(ruleset.version, member.member_id, usage, [line.line_id for line in lines])
    scoped = plan.scoped(lines, earning)
    base_points = run.rates(plan.rates, facts, scoped, bases, earning, ruleset, program, mode)
    run.multipliers(plan.multipliers, facts, scoped, base_points, mode)
    run.bonuses(plan.bonuses, facts, scoped, bases, earning, member.purchase_count)
    return run.result()


def _select(
    candidates: list[int], blocked: set[int], weights: Sequence[int]
) -> tuple[list[int], list[int], int]:
    """The candidate positions not blocked, their weights and the weights' sum."""
    if blocked:
        candidates = [i for i in candidates if i not in blocked]
    if len(candidates) < 2:
        if not candidates:
            return candidates, [], 0
        weight = weights[candidates[0]]
        return candidates, [weight], weight
    chosen = [weights[i] for i in candidates]
    return candidates, chosen, sum(chosen)


class _Run:
    """One evaluation: the three stages, and the awards, usage and control group they add."""

    __slots__ = ("awards", "control", "line_ids", "member_id", "usage", "used", "version")

    def __init__(
        self, version: int, member_id: str, usage: UsageCounters, line_ids: list[str]
    ) -> None:
        self.version = version
        self.member_id = member_id
        self.usage = usage
        self.line_ids = line_ids
        self.awards: list[Award] = []
        self.control: list[str] = []
        self.used: dict[str, int] = {}

    def rates(
        self,
        steps: Sequence[Step],
        facts: Facts,
        scoped: Mapping[int, list[int]],
        bases: list[int],
        earning: list[int],
        ruleset: RuleSet,
        program: Program,
        mode: Rounding,
    ) -> list[int]:
        """Stage 1: base points per line from the rate rules."""
        base_points = [0] * len(bases)
        if not earning:
            return base_points
        value = point_value_minor(ruleset, program)
        every = [bases[i] for i in earning]
        every_amount = sum(every)
        blocked: set[int] = set()
        for step in steps:
            if step.everything:
                if step.check is not None and not step.check(facts):
                    continue
                if blocked:
                    idx, weights, amount = _select(earning, blocked, bases)
                else:
                    idx, weights, amount = earning, every, every_amount
            else:
                candidates = scoped.get(step.key)
                if candidates is None or (step.check is not None and not step.check(facts)):
                    continue
                idx, weights, amount = _select(candidates, blocked, bases)
            if not idx:
                continue
            if step.percent is None:
                raw = amount // step.per_minor * step.points
            else:
                raw = percent_points(amount, step.percent, step.percent_fraction, value, mode)
            if self.award(step, idx, weights, amount, raw, base_points) and step.exclusive:
                blocked.update(idx)
        return base_points

    def multipliers(
        self,
        steps: Sequence[Step],
        facts: Facts,
        scoped: Mapping[int, list[int]],
        base_points: list[int],
        mode: Rounding,
    ) -> None:
        """Stage 2: the multipliers' extra points on the base points of their lines."""
        pointed = [i for i, points in enumerate(base_points) if points > 0]
        if not pointed:
            return
        every = [base_points[i] for i in pointed]
        every_amount = sum(every)
        blocked: set[int] = set()
        for step in steps:
            if step.everything:
                if step.check is not None and not step.check(facts):
                    continue
                if blocked:
                    idx, weights, amount = _select(pointed, blocked, base_points)
                else:
                    idx, weights, amount = pointed, every, every_amount
            else:
                found = scoped.get(step.key)
                if found is None or (step.check is not None and not step.check(facts)):
                    continue
                candidates = [i for i in found if base_points[i] > 0]
                idx, weights, amount = _select(candidates, blocked, base_points)
            if not idx:
                continue
            assert step.extra is not None  # a multiplier always has a factor
            raw = extra_points(amount, step.extra, step.extra_fraction, mode)
            if self.award(step, idx, weights, amount, raw, None) and step.exclusive:
                blocked.update(idx)

    def bonuses(
        self,
        steps: Sequence[Step],
        facts: Facts,
        scoped: Mapping[int, list[int]],
        bases: list[int],
        earning: list[int],
        purchase_count: int,
    ) -> None:
        """Stage 3: fixed purchase bonuses spread over their lines by base."""
        if not earning:
            return
        every = [bases[i] for i in earning]
        every_amount = sum(every)
        first, nth = purchase_count == 0, purchase_count + 1
        blocked: set[int] = set()
        for step in steps:
            if step.first_purchase and not first:
                continue
            if step.every_nth_purchase is not None and nth % step.every_nth_purchase:
                continue
            if step.everything:
                if step.check is not None and not step.check(facts):
                    continue
                if blocked:
                    idx, weights, amount = _select(earning, blocked, bases)
                else:
                    idx, weights, amount = earning, every, every_amount
            else:
                candidates = scoped.get(step.key)
                if candidates is None or (step.check is not None and not step.check(facts)):
                    continue
                idx, weights, amount = _select(candidates, blocked, bases)
            if not idx:
                continue
            if step.min_amount_minor is not None and amount < step.min_amount_minor:
                continue
            if self.award(step, idx, weights, amount, step.points, None) and step.exclusive:
                blocked.update(idx)

    def award(
        self,
        step: Step,
        idx: Sequence[int],
        weights: Sequence[int],
        whole: int,
        raw: int,
        into: list[int] | None,
    ) -> bool:
        """Cap, spread and record ``raw`` points of ``step`` over the lines ``idx`` by
        ``weights`` (which sum to ``whole``); False when the rule did not apply."""
        if step.guarded:
            share = step.pilot_share
            if share is not None and not in_share(step.id, self.member_id, share):
                self.control.append(step.id)
                return False
            if step.capped:
                cap = capacity(step.rule, self.usage)
                assert cap is not None  # a capped rule always has a capacity
                if cap <= 0:
                    return False
                raw = min(raw, cap)
        if raw <= 0:
            return True
        rule_id = step.id
        if len(idx) == 1:
            i = idx[0]
            self.awards.append(
                tuple.__new__(
                    Award,
                    (rule_id, step.version, self.line_ids[i], raw, step.description, step.visible),
                )
            )
            if into is not None:
                into[i] += raw
        else:
            parts = split(raw, weights, whole)
            line_ids = map(self.line_ids.__getitem__, idx)
            same = step.same  # endless repeats of the rule's fields: zip stops with the lines
            rows = zip(
                same.id, same.version, line_ids, parts, same.description, same.visible, strict=False
            )
            # tuples built and filtered in C: zero parts give no award
            self.awards += map(tuple.__new__, repeat(Award), compress(rows, parts))
            if into is not None:
                for i, points in zip(idx, parts, strict=True):
                    into[i] += points
        self.used[rule_id] = self.used.get(rule_id, 0) + raw
        return True

    def result(self) -> EarnResult:
        return EarnResult(
            ruleset_version=self.version,
            awards=tuple(self.awards),
            usage=UsageDelta(points_by_rule=self.used),
            control_group=tuple(self.control),
        )
