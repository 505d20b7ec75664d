"""A recompute's remembered rises (``services/tiers.py: _Rises``) answer as
``upgrade_on_purchase`` does, for any policy, earned tier and metrics."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kopilka.domain.tiers import Combine, Metrics, Threshold, Tier, TierPolicy, upgrade_on_purchase
from kopilka.services.tiers import _Rises

VALUES = st.one_of(st.none(), st.integers(-5, 40))
BARS = st.builds(Threshold, VALUES, VALUES, VALUES)
METRICS = st.builds(Metrics, st.integers(-10, 50), st.integers(-10, 50), st.integers(-2, 50))


@st.composite
def policies(draw: st.DrawFn) -> TierPolicy:
    bars = draw(st.lists(st.tuples(BARS, BARS), min_size=1, max_size=4))
    tiers = tuple(
        Tier(f"t{i}", f"t{i}", f"t{i}", entry, keep) for i, (entry, keep) in enumerate(bars)
    )
    return TierPolicy(tiers, combine=draw(st.sampled_from(Combine)))


@given(policies(), st.lists(st.tuples(st.sampled_from([None, "t0", "t1", "t3", "gone"]), METRICS)))
def test_remembered_rises_equal_the_domain_decision(policy, members) -> None:
    """Every member's answer, whether computed or remembered from an earlier member with
    the same key, is the domain's own: bars of each metric, combined by any or all, with
    earned tiers inside and outside the policy; values right at a bar included."""
    rises = _Rises(policy)
    for earned, metrics in members * 2:
        assert rises(earned, metrics) == upgrade_on_purchase(policy, earned, metrics)
