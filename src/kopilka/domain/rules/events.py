"""Points for actions other than purchases: registration, reviews, shares, custom events.

Rules for the event run in ``(priority, id)`` order. A rule applies when its conditions hold,
every ``match`` attribute equals the event's, the member is in its pilot share, its per-member
``limit`` (count per lifetime/day/week/month/year, counted by the caller in
``UsageCounters.events_in_period``) is not reached and its caps are not exhausted. An
``exclusive`` rule that applies stops the rules after it, so "review with photos" (priority 10,
exclusive, ``match: {with_photos: true}``) replaces the plain "review" rule instead of adding
to it. Conditions on store, channel, partner and payment method read the event attributes of
those names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.domain.rules.conditions import Facts
from kopilka.domain.rules.context import (
    NO_USAGE,
    Award,
    EarnResult,
    MemberContext,
    UsageCounters,
    UsageDelta,
)
from kopilka.domain.rules.earning import check_currency, in_control, passes
from kopilka.domain.rules.limits import capacity
from kopilka.domain.rules.model import RuleSet


def evaluate_event(
    ruleset: RuleSet,
    program: Program,
    event_name: str,
    attributes: Mapping[str, object],
    member: MemberContext,
    *,
    usage: UsageCounters = NO_USAGE,
    at: datetime,
) -> EarnResult:
    """Points the member earns for the event ``event_name`` that happened at ``at``."""
    check_currency(ruleset, program)
    try:
        at = ensure_utc(at)
    except ValueError:
        raise ValidationError("event time must be timezone-aware", field="at") from None

    def text(key: str) -> str | None:
        value = attributes.get(key)
        return value if isinstance(value, str) else None

    facts = Facts.gather(
        member,
        at,
        program.timezone,
        store=text("store"),
        channel=text("channel"),
        partner=text("partner"),
        payment_method=text("payment_method"),
    )
    awards: list[Award] = []
    control: list[str] = []
    points_used: dict[str, int] = {}
    events_used: dict[str, int] = {}
    for rule in ruleset.events.get(event_name, ()):
        if not all(
            attributes.get(key) == value and type(attributes.get(key)) is type(value)
            for key, value in rule.match
        ):
            continue
        if not passes(rule, facts):
            continue
        if rule.limit_count is not None and (
            usage.events_in_period.get(rule.id, 0) >= rule.limit_count
        ):
            continue
        if in_control(rule, member.member_id):
            control.append(rule.id)
            continue
        points = rule.points
        cap = capacity(rule, usage)
        if cap is not None:
            if cap <= 0:
                continue
            points = min(points, cap)
        awards.append(Award(rule.id, ruleset.version, None, points, rule.description, rule.visible))
        points_used[rule.id] = points
        events_used[rule.id] = 1
        if rule.exclusive:
            break
    return EarnResult(
        ruleset_version=ruleset.version,
        awards=tuple(awards),
        usage=UsageDelta(points_by_rule=points_used, events_by_rule=events_used),
        control_group=tuple(control),
    )
