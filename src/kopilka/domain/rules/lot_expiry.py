"""The lots an earning makes when some of its rules carry their own expiry (``expires``).

Points of a rule with ``expires`` go to a lot of that expiry; all other points go to a lot
under the program's expiry. Rules with the same expiry share a lot. An earning whose
rules all follow the program makes one lot, as it always did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.rules.model import RuleSet


@dataclass(frozen=True, slots=True)
class LotSplit:
    """The parts of an earning, one lot each, and which part each rule's points are in."""

    parts: tuple[tuple[int, ExpiryPolicy | None], ...]  # (points, expiry; None: program's)
    part_of_rule: dict[str, int]


def split_by_expiry(ruleset: RuleSet, awards: Iterable[tuple[str, int]]) -> LotSplit | None:
    """Split awarded ``(rule id, points)`` into lots by the rules' expiry; None when every
    awarding rule follows the program's expiry (one lot). Parts are ordered: the program's
    first, then by kind and period, so a retry splits the same way."""
    own = ruleset.expiries
    if not own:
        return None
    by_expiry: dict[ExpiryPolicy | None, int] = {}
    rule_expiry: dict[str, ExpiryPolicy | None] = {}
    for rule_id, points in awards:
        if points <= 0:
            continue
        expiry = own.get(rule_id)
        rule_expiry[rule_id] = expiry
        by_expiry[expiry] = by_expiry.get(expiry, 0) + points
    if all(e is None for e in by_expiry):
        return None
    order = sorted(
        by_expiry,
        key=lambda e: (e is not None, "" if e is None else e.kind, 0 if e is None else e.n),
    )
    index = {e: i for i, e in enumerate(order)}
    return LotSplit(
        parts=tuple((by_expiry[e], e) for e in order),
        part_of_rule={rule_id: index[e] for rule_id, e in rule_expiry.items()},
    )
