"""Exact proportional split of a whole number: the largest-remainder method.

Every purchase-level award (threshold, nth purchase, birthday, first purchase bonus) and every
points discount is attributed to basket lines with :func:`allocate`, so that a partial return can
claw back exactly what the returned lines were given, and the parts always sum to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

# whether this module runs compiled (the optional mypyc build, see setup.py)
COMPILED: Final = not __file__.endswith(".py")
SCANS: Final = 16  # compiled, up to this many units left are placed by scans, more by sorting


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
    return split(total, weights if type(weights) is list else list(weights), whole)


def split(total: int, weights: list[int], whole: int) -> list[int]:
    """:func:`allocate` without the checks, for callers that know ``whole = sum(weights) > 0``
    and that nothing is negative (the rules engine calls it once per awarding rule).

    Plain typed loops, no ``sum``/``max``/``sorted(key=...)`` calls on the common path: the
    optional compiled build (mypyc) turns them into C, and interpreted they cost about the
    same as the calls."""
    if len(weights) == 2:  # common enough to spare the list building
        first, second = total * weights[0], total * weights[1]
        a, b = first // whole, second // whole
        if a + b == total:
            return [a, b]
        # one unit is left: to the larger remainder, the first on a tie
        return [a + 1, b] if first % whole >= second % whole else [a, b + 1]
    parts = [total * weight // whole for weight in weights]
    left = total
    for part in parts:
        left -= part
    if left:
        remainders = [total * weight % whole for weight in weights]
        if COMPILED and left <= SCANS:
            # the ``left`` largest remainders get one unit each, ties to the earlier position:
            # ``left`` scans for the first largest (``left`` < len(weights)), cheaper in C than
            # a call to ``sorted`` and the pass over the ties below for a few lines
            count = len(remainders)
            while left:
                best, at = -1, 0
                for n in range(count):
                    remainder = remainders[n]
                    if remainder > best:
                        best, at = remainder, n
                parts[at] = parts[at] + 1  # not ``+=``: compiled, that is a generic object add
                remainders[at] = -1  # taken (remainders are never negative)
                left -= 1
            return parts
        # interpreted (or many units left): the ``left`` largest remainders get one unit each,
        # ties to the earlier position: every remainder above the left-th largest one, then
        # the first ones equal to it
        cut = sorted(remainders, reverse=True)[left - 1]
        ties = left
        for remainder in remainders:
            if remainder > cut:
                ties -= 1
        for n in range(len(parts)):
            remainder = remainders[n]
            if remainder > cut:
                parts[n] = parts[n] + 1
            elif ties and remainder == cut:
                parts[n] = parts[n] + 1
                ties -= 1
    return parts
