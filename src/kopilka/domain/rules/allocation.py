"""Exact proportional split of a whole number: the largest-remainder method.

Every purchase-level award (threshold, nth purchase, birthday, first purchase bonus) and every
points discount is attributed to basket lines with :func:`allocate`, so that a partial return can
claw back exactly what the returned lines were given, and the parts always sum to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` over ``weights`` in proportion, summing exactly to ``total``.

    Each part gets the floor of its exact share; the units left over go one each to the parts
    with the largest remainders, ties to the earlier position. So no part ever exceeds the ceiling
    of its exact share (and never exceeds its weight when ``total <= sum(weights)``), a zero
    weight always gets zero, and the result depends only on the inputs.
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if weights and min(weights) < 0:
        raise ValueError("weights must not be negative")
    whole = sum(weights)
    if whole == 0:
        if total == 0:
            return [0] * len(weights)
        raise ValueError("cannot allocate a positive total over zero weights")
    return split(total, weights, whole)


def split(total: int, weights: Sequence[int], whole: int) -> list[int]:
    """:func:`allocate` without the checks, for callers that know ``whole = sum(weights) > 0``
    and that nothing is negative (the rules engine calls it once per awarding rule)."""
    if len(weights) == 2:  # common enough to spare the list building
        first, second = total * weights[0], total * weights[1]
        a, b = first // whole, second // whole
        if a + b == total:
            return [a, b]
        # one unit is left: to the larger remainder, the first on a tie
        return [a + 1, b] if first % whole >= second % whole else [a, b + 1]
    parts = [total * w // whole for w in weights]
    left = total - sum(parts)
    if left:
        remainders = [total * w % whole for w in weights]
        if left == 1:
            # index() finds the first of equal maxima: ties go to the earlier position
            parts[remainders.index(max(remainders))] += 1
        else:
            # a reversed sort is still stable, so equal remainders keep position order
            order = sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)
            for index in order[:left]:
                parts[index] += 1
    return parts
