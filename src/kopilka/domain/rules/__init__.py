"""The constructor of mechanics: declarative earning and redemption rules, evaluated purely.

A program's rules are a versioned YAML or JSON document (see ``examples/grocery.yaml``),
parsed once by :func:`parse_ruleset` into a compiled :class:`RuleSet`, then evaluated with no
I/O by :func:`evaluate_purchase`, :func:`evaluate_event`, :func:`max_redeemable` and
:func:`spread_discount`. The evaluation order and stacking semantics are documented in
:mod:`kopilka.domain.rules.earning` and :mod:`kopilka.domain.rules.events`.

:data:`COMPILED` tells whether the evaluation kernel runs as the optional mypyc build
(``make compile``, see ``setup.py``) or, the reference, as plain Python.
"""

from __future__ import annotations

from kopilka.domain.rules.allocation import allocate
from kopilka.domain.rules.context import (
    NO_USAGE,
    Award,
    EarnResult,
    MemberContext,
    UsageCounters,
    UsageDelta,
)
from kopilka.domain.rules.describe import RuleDescription, describe_rules
from kopilka.domain.rules.document import parse_ruleset
from kopilka.domain.rules.earning import COMPILED, evaluate_purchase
from kopilka.domain.rules.events import evaluate_event
from kopilka.domain.rules.limits import period_start
from kopilka.domain.rules.model import RedemptionPolicy, Rule, RuleSet
from kopilka.domain.rules.pilot import bucket
from kopilka.domain.rules.redemption import (
    check_balance,
    max_redeemable,
    points_for_amount,
    spread_discount,
)

__all__ = [
    "COMPILED",
    "NO_USAGE",
    "Award",
    "EarnResult",
    "MemberContext",
    "RedemptionPolicy",
    "Rule",
    "RuleDescription",
    "RuleSet",
    "UsageCounters",
    "UsageDelta",
    "allocate",
    "bucket",
    "check_balance",
    "describe_rules",
    "evaluate_event",
    "evaluate_purchase",
    "max_redeemable",
    "parse_ruleset",
    "period_start",
    "points_for_amount",
    "spread_discount",
]
