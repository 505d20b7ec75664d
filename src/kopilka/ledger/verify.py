"""``kopilka verify``: the ledger invariants, recomputed from the journal.

Each check is a named invariant of docs/architecture.md with the rows that break it. The store
runs them as set-based queries over the whole database (or one program), so the
report scales with the database, not with Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

CHECKS: dict[str, str] = {
    "entries_balance": "every entry's postings sum to zero",
    "program_sums_zero": "the sum over all accounts of each program is zero",
    "member_balances_match_postings": "each member balance equals the sum of its postings",
    "lots_match_draws": "each lot's remaining equals its amount less its recorded draws",
    "pending_matches_lots": "pending balance equals the points left in not-yet-active lots",
    "available_matches_lots": (
        "available balance equals the points left in active lots (or is a debt with none left)"
    ),
    "debt_only_under_debt_policy": "a negative balance exists only where the program allows debt",
    "held_matches_holds": "held balance equals the active holds, and each hold its lot draws",
    "holds_end_once": "a hold is active, or ended exactly once by a capture, void or expiry",
    "captures_before_timeout": "no hold was captured at or after its expiry time",
    "reversals_bounded": "no entry was reversed by more points than it moved",
    "expiry_on_time": "a lot expired only at or after its expires_at, and at most once",
    "spend_from_active_lots": "points were spent only from activated lots",
    "references_exist": "every posting names an entry, every draw a lot and an entry",
    "purchase_references_exist": (
        "every purchase line and line award names a purchase"
        " (whole-database runs only: such a row names no program of its own)"
    ),
}


@dataclass(slots=True)
class CheckResult:
    name: str
    description: str
    violations: int
    samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violations == 0


@dataclass(slots=True)
class VerifyReport:
    checks: list[CheckResult]
    totals: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "totals": self.totals,
            "checks": [
                {
                    "name": c.name,
                    "description": c.description,
                    "ok": c.ok,
                    "violations": c.violations,
                    "samples": c.samples,
                }
                for c in self.checks
            ],
        }


class VerifyPort(Protocol):
    def violations(self, check: str, program_id: int | None, sample: int) -> tuple[int, list[str]]:
        """How many rows break ``check``, and a few of them described."""
        ...

    def totals(self, program_id: int | None) -> dict[str, Any]:
        """Account totals: liability (sum of member balances) and each program account."""
        ...


def verify(port: VerifyPort, program_id: int | None = None, sample: int = 5) -> VerifyReport:
    """Run every check; the report is ``ok`` only if none has a violation."""
    results = []
    for name, description in CHECKS.items():
        count, samples = port.violations(name, program_id, sample)
        results.append(CheckResult(name, description, count, samples))
    return VerifyReport(results, port.totals(program_id))
