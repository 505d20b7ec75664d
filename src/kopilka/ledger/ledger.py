"""The ledger facade: every point movement of one program, inside one unit of work."""

from __future__ import annotations

from kopilka.ledger.accrual import AccrualOps
from kopilka.ledger.holds import HoldOps
from kopilka.ledger.reversal import ReversalOps
from kopilka.ledger.rewards import RewardOps
from kopilka.ledger.sweeps import SweepOps


class Ledger(AccrualOps, HoldOps, ReversalOps, RewardOps, SweepOps):
    """Earn, activate, redeem, hold/capture/void, reverse, expire, adjust, and spend on a
    reward (and refund it).

    Construct one per transaction: ``Ledger(uow.ledger, program)``. Each method locks the
    member rows it touches, brings the member up to date (timed-out holds, due
    activation and expiry), writes balanced entries and returns a :class:`Result`.
    Errors are :class:`kopilka.domain.errors.KopilkaError` subclasses; on any error the
    caller rolls the unit of work back, so nothing is half-written.
    """
