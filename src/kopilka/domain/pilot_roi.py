"""A pilot's return: what the members its rule applied to spent more than its control group,
against what the rule's points cost. Pure: no I/O.

A rule with ``pilot: {share_percent: N}`` applies to a stable N % of the members (their
bucket, :mod:`kopilka.domain.rules.pilot`); the others are its control group, recorded on
their purchases and never awarded by it. Both groups are drawn at random from the same
members, so the difference of their average spending estimates what the rule caused.

Every member enrolled by the end of the period counts in their group, with what they spent
(zero for a member who bought nothing): the comparison is of everyone the pilot was
offered to, not only of those who reacted (intention to treat).

* **uplift per member** = mean spending of the pilot's members - mean of the control group;
  its confidence interval is Welch's: ``uplift ± z * sqrt(s_t² / n_t + s_c² / n_c)``, with
  ``z`` the normal quantile of the confidence level (95 %: 1.96), sound when each group has
  at least :data:`MIN_GROUP` members;
* **incremental revenue** = uplift per member x the pilot's members (its interval scaled
  the same way);
* **cost** = the rule's points in the period x the point's value;
* **ROI** = (incremental revenue - cost) / cost: 0.5 means every rouble of points brought
  1.5 roubles of revenue back; below 0 the pilot cost more than it brought. Its interval
  follows from the incremental revenue's, the cost being known exactly. No cost: no ROI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

# below this many members in either group, the normal approximation behind the interval is
# not trusted: the figures are given, marked as not reliable
MIN_GROUP = 30
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class GroupSpending:
    """One group's size and spending in minor units: total, mean and sample variance
    (zero spenders included)."""

    members: int
    revenue_minor: int
    mean_minor: float
    variance: float


def group_spending(spent_minor: Iterable[int], members: int) -> GroupSpending:
    """The spending of a group of ``members`` members, of whom those who spent anything
    spent ``spent_minor`` (one value each; the rest spent nothing)."""
    total = 0
    squares = 0
    count = 0
    for value in spent_minor:
        total += value
        squares += value * value
        count += 1
    if count > members:
        raise ValueError("more spenders than members")
    if members == 0:
        return GroupSpending(0, 0, 0.0, 0.0)
    mean = total / members
    # sum of squared deviations from integers, exact before the one division
    deviations = squares - total * total / members
    variance = max(deviations, 0.0) / (members - 1) if members > 1 else 0.0
    return GroupSpending(members, total, mean, variance)


@dataclass(frozen=True, slots=True)
class PilotReturn:
    """A pilot's figures (see the module's text); intervals are ``(low, high)`` or None
    when a group is empty."""

    pilot: GroupSpending
    control: GroupSpending
    uplift_minor: float | None
    uplift_interval: tuple[float, float] | None
    incremental_revenue_minor: float | None
    incremental_interval: tuple[float, float] | None
    points: int
    cost_minor: int
    roi: float | None
    roi_interval: tuple[float, float] | None
    reliable: bool
    confidence: float


def pilot_return(
    pilot: GroupSpending,
    control: GroupSpending,
    points: int,
    point_value_minor: int,
    confidence: float = CONFIDENCE,
) -> PilotReturn:
    """The return of a pilot whose members spent ``pilot`` and control group ``control``,
    its rule having awarded ``points`` worth ``point_value_minor`` each."""
    if not 0 < confidence < 1:
        raise ValueError("the confidence level is a share between 0 and 1")
    cost = points * point_value_minor
    reliable = pilot.members >= MIN_GROUP and control.members >= MIN_GROUP
    if pilot.members == 0 or control.members == 0:
        return PilotReturn(
            pilot, control, None, None, None, None, points, cost, None, None, False, confidence
        )
    uplift = pilot.mean_minor - control.mean_minor
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    margin = z * math.sqrt(pilot.variance / pilot.members + control.variance / control.members)
    low, high = uplift - margin, uplift + margin
    n = pilot.members
    incremental = uplift * n
    inc_low, inc_high = low * n, high * n
    roi = roi_interval = None
    if cost > 0:
        roi = (incremental - cost) / cost
        roi_interval = ((inc_low - cost) / cost, (inc_high - cost) / cost)
    return PilotReturn(
        pilot,
        control,
        uplift,
        (low, high),
        incremental,
        (inc_low, inc_high),
        points,
        cost,
        roi,
        roi_interval,
        reliable,
        confidence,
    )
