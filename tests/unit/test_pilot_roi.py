"""The pilot return's formulas (docs/analytics.md, "Pilots and their return"): group
spending with members who bought nothing, Welch's interval, the incremental revenue and
ROI with their intervals, and the cases with no answer."""

from __future__ import annotations

import math
import statistics

import pytest

from kopilka.domain.pilot_roi import MIN_GROUP, group_spending, pilot_return


def test_group_spending_counts_members_who_bought_nothing_as_zero():
    """Two spenders among five members: mean and sample variance over all five, as the
    statistics module gives them for the padded list."""
    g = group_spending([300, 700], 5)
    padded = [300, 700, 0, 0, 0]
    assert (g.members, g.revenue_minor) == (5, 1000)
    assert g.mean_minor == statistics.fmean(padded)
    assert g.variance == pytest.approx(statistics.variance(padded))


def test_group_spending_refuses_more_spenders_than_members():
    """A group cannot have more spenders than members."""
    with pytest.raises(ValueError, match="more spenders"):
        group_spending([1, 2, 3], 2)


def test_return_by_hand():
    """Pilot mean 120, control mean 100 over 40 members each: uplift 20 per member,
    incremental revenue 800; 200 points at 2 each cost 400, so ROI is (800 - 400) / 400 = 1;
    the interval is uplift ± 1.96 x sqrt(s_t²/n_t + s_c²/n_c), scaled by the pilot's
    members."""
    pilot_values = [100, 140] * 20
    control_values = [90, 110] * 20
    pilot, control = group_spending(pilot_values, 40), group_spending(control_values, 40)
    r = pilot_return(pilot, control, points=200, point_value_minor=2)
    assert r.uplift_minor == pytest.approx(20)
    assert r.incremental_revenue_minor == pytest.approx(800)
    assert r.cost_minor == 400
    assert r.roi == pytest.approx(1.0)
    se = math.sqrt(
        statistics.variance(pilot_values) / 40 + statistics.variance(control_values) / 40
    )
    z = statistics.NormalDist().inv_cdf(0.975)
    low, high = r.uplift_interval
    assert (low, high) == pytest.approx((20 - z * se, 20 + z * se))
    assert r.incremental_interval == pytest.approx((low * 40, high * 40))
    assert r.roi_interval == pytest.approx(((low * 40 - 400) / 400, (high * 40 - 400) / 400))
    assert r.reliable


def test_small_groups_are_marked_not_reliable_and_no_cost_gives_no_roi():
    """Under the minimum group size the figures are still given but not reliable; a
    rule that awarded nothing has no ROI; an empty group has no uplift at all."""
    small = group_spending([5, 9], MIN_GROUP - 1)
    big = group_spending([4] * MIN_GROUP, MIN_GROUP)
    r = pilot_return(small, big, points=0, point_value_minor=100)
    assert not r.reliable
    assert r.uplift_minor is not None
    assert (r.roi, r.roi_interval, r.cost_minor) == (None, None, 0)
    empty = pilot_return(group_spending([], 0), big, points=10, point_value_minor=1)
    assert (empty.uplift_minor, empty.incremental_revenue_minor, empty.roi) == (None,) * 3
    with pytest.raises(ValueError, match="confidence"):
        pilot_return(small, big, 1, 1, confidence=1.0)
