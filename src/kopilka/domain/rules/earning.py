"""Points for a purchase: the deterministic evaluation of a rule set over a basket.

The outcome is fully determined by the rule set, the program, the basket, the member and the
usage counters. Neither the order in which basket lines arrive nor their ids matter: lines are
processed in a canonical order of their content (:func:`content_key`: SKU, amount, category,
brand, discount flag, quantity, tags; the line id only between lines alike in all of these,
which earn alike), so allocation ties always fall on the same line whatever the receipt calls
it, and a multiplier that doubles a line's share doubles the same share. Evaluation runs in
three stages, and inside each stage rules run in ``(priority, id)`` order, lower priority first:

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

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from itertools import compress, repeat
from operator import attrgetter
from typing import Final, cast

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
from kopilka.domain.rules.exact import (
    MAX_AMOUNT,
    MAX_BASE,
    MAX_POINT_VALUE,
    extra_points,
    percent_points,
)
from kopilka.domain.rules.limits import capacity
from kopilka.domain.rules.model import Rule, RuleSet
from kopilka.domain.rules.pilot import in_share
from kopilka.domain.rules.plan import Plan, Step

_NO_TAGS: Final[tuple[str, ...]] = ()
_SKU: Final = attrgetter("sku")
# whether this module runs compiled (the optional mypyc build, see setup.py): then Award is a
# native class (context.py), its constructor a direct C call, and a typed loop is the fastest
# way to make the awards of a rule; interpreted, Award is a named tuple, and map() over zip()
# with tuple.__new__ is
COMPILED: Final = not __file__.endswith(".py")
# interpreted only: _new(Award, row) makes a named tuple Award without its Python __new__
_new: Final = cast(Callable[[type[Award], tuple[object, ...]], Award], tuple.__new__)
_AWARD: Final = repeat(Award)  # endless: map(_new, _AWARD, rows) makes each row an Award


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


def content_key(
    line: BasketLine,
) -> tuple[str, int, str, str, bool, Decimal, tuple[str, ...], str]:
    """Where a line stands in the canonical order of a basket's lines: by what it is and
    costs, not by what the receipt calls it (its id only breaks ties between lines alike in
    everything a rule can see, which earn alike). Allocation ties go to the earlier line."""
    tags = line.tags
    return (
        line.sku,
        line.amount_minor,
        line.category,
        line.brand,
        line.discounted,
        line.quantity,
        tuple(sorted(tags)) if tags else _NO_TAGS,
        line.line_id,
    )


def _repeats_sku(lines: list[BasketLine]) -> bool:
    """Whether two of ``lines``, sorted by SKU, have the same SKU."""
    previous = ""
    for line in lines:
        sku = line.sku
        if sku == previous:
            return True
        previous = sku
    return False


def earning_bases(
    ruleset: RuleSet, lines: Sequence[BasketLine], discounts: Mapping[str, int]
) -> list[int]:
    """Each line's amount that can earn points: net of points paid, zero when excluded."""
    return ruleset.plan.bases(list(lines), discounts)


def evaluate_purchase(
    ruleset: RuleSet,
    program: Program,
    basket: Basket,
    member: MemberContext,
    *,
    usage: UsageCounters = NO_USAGE,
    points_redeemed_discount_by_line: Mapping[str, int] | None = None,
) -> EarnResult:
    """Points the member earns for ``basket``, attributed to lines and rules (see module doc).

    Only lines with a positive base take part (the others can get no rule's points), numbered
    0..n-1 in :func:`content_key` order; sets of rules are bits of one ``int`` (see
    :mod:`kopilka.domain.rules.plan`), so the rules that cannot apply to this basket, by scope,
    conditions or trigger, cost nothing.
    """
    check_currency(ruleset, program)
    plan = ruleset.plan
    mode = program.rounding
    if type(mode) is not Rounding:
        mode = Rounding(mode)
    # content_key order; by SKU alone when no SKU repeats (the same order, and a C-level
    # key): the full key is built only for a basket that repeats a SKU
    lines: list[BasketLine] = sorted(basket.lines, key=_SKU)
    if _repeats_sku(lines):
        lines.sort(key=content_key)
    discounts = points_redeemed_discount_by_line or {}
    bases = plan.bases(lines, discounts)
    all_lines, all_bases = lines, bases
    if 0 in bases:
        # positional zip (one base per line by construction): compiled, an indexed C loop;
        # with strict=True it is a generic call of zip
        lines = [line for line, base in zip(lines, bases) if base]  # noqa: B905
        bases = [base for base in bases if base]
        if not bases:
            return EarnResult(ruleset.version, (), UsageDelta(points_by_rule={}), ())
    local = basket.occurred_at.astimezone(plan.zone(program.timezone))
    local_date = local.date()
    live = plan.live(local_date, local.hour * 60 + local.minute, basket, member)
    listed: list[int] = []
    if plan.scoped:
        listed = plan.listed(lines)
        if live & plan.favourite_bits:
            plan.unchosen(lines, listed, live, member.favourites)
        listing = plan.everything
        for bits in listed:
            listing |= bits
        live &= listing
    else:
        live &= plan.everything
    if live & plan.residual_bits:
        live = plan.residual(live, member, local_date)
    if live & plan.trigger_bits:
        live &= plan.triggered(member.purchase_count)
    if live & plan.basket_bits:
        live = plan.basket(live, basket.lines)
    tender_parts = _NOWHERE
    if live & plan.tender_bits:
        tender_parts = _tender_parts(plan, live, basket, all_lines, all_bases, discounts)
    quantities = _NO_UNITS
    if live & plan.unit_bits:
        quantities = [line.quantity for line in lines]
    awards: list[Award] = []
    control: list[str] = []
    used: dict[str, int] = {}
    if live:
        _stages(
            plan,
            live,
            [line.line_id for line in lines],
            bases,
            plan.positions(listed, live & plan.scoped) if live & plan.scoped else _NOWHERE,
            point_value_minor(ruleset, program),
            mode,
            _Guard(member.member_id, usage, control),
            awards,
            used,
            tender_parts,
            quantities,
        )
    return EarnResult(
        ruleset.version, tuple(awards), UsageDelta(points_by_rule=used), tuple(control)
    )


_NOWHERE: Final[dict[int, list[int]]] = {}  # no live scoped rule (never written to)
_NO_UNITS: Final[list[Decimal]] = []  # no live per-unit rate (never written to)


def _tender_parts(
    plan: Plan,
    live: int,
    basket: Basket,
    lines: list[BasketLine],
    bases: list[int],
    discounts: Mapping[str, int],
) -> dict[int, list[int]]:
    """For each live rate limited to tenders, by its place, each earning line's part paid
    with those tenders (aligned with the lines that have a base).

    The money of each line (its amount less the part paid with points) is paid by the
    purchase's money tenders in proportion: a tender's share of a line is the line's share
    of the money, split exactly with :func:`split` (the points tender never earns). A
    purchase with no payments is paid wholly with its ``payment_method`` (unknown: no
    tender)."""
    money = [line.amount_minor - discounts.get(line.line_id, 0) for line in lines]
    whole = 0
    for part in money:
        whole += part
    paid = [(tender, amount) for tender, amount in basket.payments if tender != "points"]
    if not basket.payments:
        paid = [(basket.payment_method or "", whole)]
    found: dict[int, list[int]] = {}
    todo = live & plan.tender_bits
    while todo:
        bit = todo & -todo
        todo ^= bit
        step = plan.steps[bit]
        tenders = step.tenders
        assert tenders is not None  # a tender rate always lists tenders
        eligible = 0
        for tender, amount in paid:
            if (tender in tenders) is not step.not_tenders:
                eligible += amount
        eligible = min(eligible, whole)
        parts = split(eligible, money, whole) if whole else [0] * len(money)
        found[step.place] = [part for part, base in zip(parts, bases) if base]  # noqa: B905
    return found


class _Guard:
    """Pilot shares and caps, for the few rules that have them."""

    __slots__ = ("control", "member_id", "usage")

    def __init__(self, member_id: str, usage: UsageCounters, control: list[str]) -> None:
        self.member_id = member_id
        self.usage = usage
        self.control = control

    def cap(self, step: Step, raw: int) -> int:
        """``raw`` within the rule's caps; -1 when the rule does not apply: the member is in
        its pilot's control group (recorded) or its capacity is exhausted."""
        share = step.pilot_share
        if share is not None and not in_share(step.id, self.member_id, share):
            self.control.append(step.id)
            return -1
        if step.capped:
            cap = capacity(step.rule, self.usage)
            assert cap is not None  # a capped rule always has a capacity
            if cap <= 0:
                return -1
            return min(raw, cap)
        return raw


def unit_points(points: int, quantity: Decimal) -> int:
    """``points`` for each unit of a line: ``points x quantity``, rounded down (a weighed
    line of 0.5 kg earns half, down to a whole point)."""
    return int(quantity * points // 1)


def _award(
    step: Step,
    raw: int,
    on: list[str],
    weights: list[int],
    amount: int,
    awards: list[Award],
) -> list[int] | None:
    """Add the awards of ``raw`` points of ``step`` over the lines ``on``, spread by
    ``weights`` (summing to ``amount``) with :func:`split`; zero parts give no award.
    Returns the parts, or ``None`` when one line takes them all."""
    if len(on) == 1:
        if COMPILED:
            awards.append(Award(step.id, step.version, on[0], raw, step.description, step.visible))
        else:
            awards.append(
                _new(Award, (step.id, step.version, on[0], raw, step.description, step.visible))
            )
        return None
    parts = split(raw, weights, amount)
    if not COMPILED:
        rows = zip(  # the repeats never run out: zip stops with the lines
            step.ids, step.versions, on, parts, step.descriptions, step.visibles, strict=False
        )
        awards += map(_new, _AWARD, compress(rows, parts))
        return parts
    rule_id, version, description, visible = step.id, step.version, step.description, step.visible
    # positional zip (equal lengths): compiled, an indexed C loop
    for line_id, points in zip(on, parts):  # noqa: B905
        if points:
            awards.append(Award(rule_id, version, line_id, points, description, visible))
    return parts


def _lines_of(
    step: Step, every: list[int], where: dict[int, list[int]], blocked: set[int]
) -> list[int]:
    """The positions a stage's rule gives points to: ``every`` (the very list, when the rule
    takes every line and none is blocked) or those its scope lists, less the blocked ones."""
    if step.everything:
        if blocked:
            return [j for j in every if j not in blocked]
        return every
    listed = where[step.place]
    if blocked:
        return [j for j in listed if j not in blocked]
    return listed


def _gather(values: list[int], idx: list[int]) -> tuple[list[int], int]:
    """``values`` at the positions ``idx``, and their sum."""
    chosen = [values[j] for j in idx]
    amount = 0
    for value in chosen:
        amount += value
    return chosen, amount


def _stages(
    plan: Plan,
    live: int,
    ids: list[str],
    bases: list[int],
    where: dict[int, list[int]],
    value: int,
    mode: Rounding,
    guard: _Guard,
    awards: list[Award],
    used: dict[str, int],
    tender_parts: dict[int, list[int]],
    quantities: list[Decimal],
) -> None:
    """The three stages over the earning lines (``ids``, ``bases``; ``where``: the positions
    of the lines each live scoped rule lists, by its place), for the ``live`` rules. Each
    stage walks its rules lowest bit first, that is in ``(priority, id)`` order, and adds to
    ``awards`` and ``used``.

    One loop per stage, written out: this is the engine's hot path (typed locals and plain
    loops, which the optional compiled build turns into C; see ``setup.py``). A rule's lines
    are all the stage's lines (``idx is everywhere``, the common case, with no list built) or
    those its scope lists, less those an exclusive rule took; its raw points are capped by
    ``guard`` when it is guarded, then given to its lines by :func:`_award`. The few lines
    that pick a rule's weights, their sum and ids repeat in the three stages on purpose: one
    shared function for them costs the interpreted engine 2.7 % more instructions per basket
    (callgrind, 810k -> 832k, the bench workload).
    """
    steps, in_order = plan.steps, plan.steps_in_order
    count = len(bases)
    everywhere = list(range(count))
    total = 0
    for base in bases:
        total += base
    down = mode is Rounding.DOWN
    fast = down and value <= MAX_POINT_VALUE  # the integer percent formula holds (exact.py)
    idx: list[int]
    weights: list[int]
    on: list[str]
    amount: int
    raw: int
    fraction: tuple[int, int] | None

    # stage 1: rates give the base points
    base_points = [0] * count
    blocked: set[int] = set()
    todo = live & plan.rate_bits
    while todo:
        bit = todo & -todo
        todo ^= bit
        step = in_order[bit.bit_length() - 1] if COMPILED else steps[bit]
        idx = _lines_of(step, everywhere, where, blocked)
        if not idx:
            continue
        special = step.special
        if special:
            # points per unit, or a rate on the part paid with some tenders
            if special == 1:
                weights = [unit_points(step.points, quantities[j]) for j in idx]
            else:
                weights = [tender_parts[step.place][j] for j in idx]
            amount = 0
            for weight in weights:
                amount += weight
            on = [ids[j] for j in idx]
            if not amount:
                if step.exclusive:
                    blocked.update(idx)
                continue
        elif idx is everywhere:
            weights, amount, on = bases, total, ids
        elif len(idx) == 1:
            amount = bases[idx[0]]
            weights, on = [amount], [ids[idx[0]]]
        else:
            weights, amount = _gather(bases, idx)
            on = [ids[j] for j in idx]
        percent = step.percent
        fraction = step.percent_fraction
        if special == 1:
            raw = amount
        elif percent is None:
            raw = amount // step.per_minor * step.points
        elif fraction is not None and fast and amount < MAX_AMOUNT:
            raw = amount * fraction[0] // (fraction[1] * 100 * value)
        else:
            raw = percent_points(amount, percent, fraction, value, mode)
        if step.guarded:
            raw = guard.cap(step, raw)
            if raw < 0:
                continue
        if raw > 0:
            used[step.id] = raw
            parts = _award(step, raw, on, weights, amount, awards)
            if parts is None:
                base_points[idx[0]] += raw
            else:
                for j, points in zip(idx, parts):  # noqa: B905 - equal lengths
                    base_points[j] += points
        if step.exclusive:
            blocked.update(idx)

    # stage 2: multipliers add to the base points of their lines
    todo = live & plan.multiplier_bits
    pointed = everywhere
    every, every_on, every_amount = base_points, ids, 0
    if todo:
        if 0 in base_points:
            pointed = [j for j in everywhere if base_points[j]]
            every = [base_points[j] for j in pointed]
            every_on = [ids[j] for j in pointed]
            if not pointed:
                todo = 0
        for points in every:
            every_amount += points
        blocked.clear()
    while todo:
        bit = todo & -todo
        todo ^= bit
        step = in_order[bit.bit_length() - 1] if COMPILED else steps[bit]
        if step.everything or pointed is everywhere:
            idx = _lines_of(step, pointed, where, blocked)
        else:
            idx = [j for j in where[step.place] if base_points[j] and j not in blocked]
        if not idx:
            continue
        if idx is pointed:
            weights, amount, on = every, every_amount, every_on
        elif len(idx) == 1:
            amount = base_points[idx[0]]
            weights, on = [amount], [ids[idx[0]]]
        else:
            weights, amount = _gather(base_points, idx)
            on = [ids[j] for j in idx]
        fraction = step.extra_fraction
        if fraction is not None and down and amount < MAX_BASE:
            raw = amount * fraction[0] // fraction[1]
        else:
            extra = step.extra
            assert extra is not None  # a multiplier always has a factor
            raw = extra_points(amount, extra, fraction, mode)
        if step.guarded:
            raw = guard.cap(step, raw)
            if raw < 0:
                continue
        if raw > 0:
            used[step.id] = raw
            _award(step, raw, on, weights, amount, awards)
        if step.exclusive:
            blocked.update(idx)

    # stage 3: purchase bonuses, spread by base
    todo = live & plan.bonus_bits
    blocked.clear()
    while todo:
        bit = todo & -todo
        todo ^= bit
        step = in_order[bit.bit_length() - 1] if COMPILED else steps[bit]
        idx = _lines_of(step, everywhere, where, blocked)
        if not idx:
            continue
        if idx is everywhere:
            weights, amount, on = bases, total, ids
        elif len(idx) == 1:
            amount = bases[idx[0]]
            weights, on = [amount], [ids[idx[0]]]
        else:
            weights, amount = _gather(bases, idx)
            on = [ids[j] for j in idx]
        if step.min_amount_minor is not None and amount < step.min_amount_minor:
            continue
        raw = step.points
        if step.guarded:
            raw = guard.cap(step, raw)
            if raw < 0:
                continue
        if raw > 0:
            used[step.id] = raw
            _award(step, raw, on, weights, amount, awards)
        if step.exclusive:
            blocked.update(idx)
